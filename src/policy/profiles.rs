//! Shared device profiles (classification reason, User-Agent, transport): every device of the
//! same kind holds one pointer to one copy instead of three of its own.
//!
//! A profile is found by the identity of its parts, which `Interner` already shares: hashing
//! three pointers costs less than hashing the text again. A kept profile holds its parts, so
//! their addresses cannot be reused by other text while it is in the table. Bounded like
//! `Interner`: a full shard first drops profiles no device holds, then hands out unshared ones.
use std::sync::{Arc, RwLock};

use super::device_book::DeviceProfile;
use super::fast_hash::FastMap;
use super::shards;

const SHARDS: usize = 8;

type Parts = [usize; 3];

pub struct Profiles {
    shards: [RwLock<FastMap<Parts, Arc<DeviceProfile>>>; SHARDS],
    per_shard: usize,
}

fn parts(reason: &Arc<str>, user_agent: &Arc<str>, transport: &Arc<str>) -> Parts {
    [
        Arc::as_ptr(reason).cast::<u8>() as usize,
        Arc::as_ptr(user_agent).cast::<u8>() as usize,
        Arc::as_ptr(transport).cast::<u8>() as usize,
    ]
}

fn shard_of(parts: &Parts) -> usize {
    // Heap addresses differ in their middle bits; a multiply mixes them into the top ones.
    let mixed = (parts[0] ^ parts[1].rotate_left(21) ^ parts[2].rotate_left(42)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    mixed >> (usize::BITS - SHARDS.trailing_zeros())
}

impl Profiles {
    pub fn new(per_shard: usize) -> Profiles {
        Profiles { shards: std::array::from_fn(|_| RwLock::new(FastMap::default())), per_shard }
    }

    /// The shared profile made of these (shared) parts.
    pub fn intern(&self, reason: &Arc<str>, user_agent: &Arc<str>, transport: &Arc<str>) -> Arc<DeviceProfile> {
        let key = parts(reason, user_agent, transport);
        let made =
            || Arc::new(DeviceProfile { reason: reason.clone(), user_agent: user_agent.clone(), transport: transport.clone() });
        let lock = &self.shards[shard_of(&key)];
        if let Some(shared) = lock.read().ok().and_then(|shard| shard.get(&key).cloned()) {
            return shared;
        }
        let Ok(mut shard) = lock.write() else { return made() };
        if let Some(shared) = shard.get(&key) {
            return shared.clone();
        }
        if shard.len() >= self.per_shard {
            shard.retain(|_, kept| Arc::strong_count(kept) > 1);
        }
        let profile = made();
        if shard.len() < self.per_shard {
            shard.insert(key, profile.clone());
        }
        profile
    }

    /// Drops the profiles no device holds any more (before the text they hold is released).
    pub fn release_unused(&self) {
        shards::each(&self.shards, |shard| {
            shard.retain(|_, kept| Arc::strong_count(kept) > 1);
            shard.shrink_to_fit();
        });
    }

    pub fn clear(&self) {
        shards::each(&self.shards, |shard| *shard = FastMap::default());
    }

    /// Heap bytes of the tables and the profiles themselves (their text is the interner's).
    pub fn heap_bytes(&self) -> usize {
        use super::footprint::{allocation, hash_table};
        let profile = allocation(2 * std::mem::size_of::<usize>() + std::mem::size_of::<DeviceProfile>());
        shards::sum(&self.shards, |shard| hash_table::<(Parts, Arc<DeviceProfile>)>(shard.capacity()) + shard.len() * profile)
    }

    pub fn len(&self) -> usize {
        shards::sum(&self.shards, FastMap::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: &str) -> Arc<str> {
        value.into()
    }

    #[test]
    fn the_same_parts_share_one_profile_and_other_parts_do_not() {
        let profiles = Profiles::new(16);
        let (reason, agent, udp, ws) = (text("default"), text("Yealink"), text("UDP"), text("WS"));
        let first = profiles.intern(&reason, &agent, &udp);
        assert!(Arc::ptr_eq(&first, &profiles.intern(&reason, &agent, &udp)));
        assert!(!Arc::ptr_eq(&first, &profiles.intern(&reason, &agent, &ws)));
        assert_eq!((&*first.reason, &*first.user_agent, &*first.transport), ("default", "Yealink", "UDP"));
        // Equal text in another copy is another key: still a correct profile, only not shared.
        let copy = profiles.intern(&text("default"), &agent, &udp);
        assert_eq!(*copy, *first);
    }

    #[test]
    fn bounded_and_unused_profiles_go() {
        let profiles = Profiles::new(2);
        let (reason, udp) = (text("r"), text("UDP"));
        let agents: Vec<Arc<str>> = (0..100).map(|n| text(&format!("agent {n}"))).collect();
        let held: Vec<Arc<DeviceProfile>> = agents.iter().map(|agent| profiles.intern(&reason, agent, &udp)).collect();
        assert!(profiles.len() <= 2 * SHARDS);
        assert_eq!(&*held[99].user_agent, "agent 99");
        let kept = held[0].clone();
        drop(held);
        profiles.release_unused();
        assert!(profiles.len() <= 1, "only a profile someone holds stays: {}", profiles.len());
        assert!(Arc::strong_count(&kept) >= 1);
        profiles.clear();
        assert!(profiles.is_empty());
        assert_eq!(profiles.heap_bytes(), 0);
    }
}
