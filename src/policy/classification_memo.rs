//! Classifications already made, by rules, transport and User-Agent.
//!
//! When a Contact carries nothing the rules look at (no `transport=ws`, no `pn-` parameter, see
//! `classify::contact_matters`), its client type and profile follow from the rules, the transport
//! and the User-Agent alone, and a PBX's devices repeat a handful of those at every REGISTER. A
//! remembered answer costs one hash and one shared read lock instead of three expression lookups,
//! the reason's text and three interned copies; the code that makes them stays out of the cache.
//! Bounded: a full shard starts over.
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};

use super::classify::ClientType;
use super::device_book::DeviceProfile;
use super::fast_hash::{FastMap, Hashing};

const SHARDS: usize = 8;

struct Remembered {
    rules: u64,
    client_type: ClientType,
    /// Holds the User-Agent and transport the answer is for.
    profile: Arc<DeviceProfile>,
}

pub struct ClassificationMemo {
    hashing: Hashing,
    /// Keyed by the hash of (rules, transport, User-Agent); each hit is checked against the
    /// texts themselves, so a colliding key is only a miss.
    shards: [RwLock<FastMap<u64, Remembered>>; SHARDS],
    per_shard: usize,
}

impl ClassificationMemo {
    pub fn new(per_shard: usize) -> ClassificationMemo {
        ClassificationMemo {
            hashing: Hashing::default(),
            shards: std::array::from_fn(|_| RwLock::new(FastMap::default())),
            per_shard,
        }
    }

    fn key(&self, rules: u64, transport: &str, user_agent: &str) -> u64 {
        self.hashing.hash_one((rules, transport, user_agent))
    }

    fn shard(&self, key: u64) -> &RwLock<FastMap<u64, Remembered>> {
        &self.shards[(key >> 61) as usize % SHARDS]
    }

    /// What rules `rules` made of this transport and User-Agent before, if remembered.
    pub fn get(&self, rules: u64, transport: &str, user_agent: &str) -> Option<(ClientType, Arc<DeviceProfile>)> {
        let key = self.key(rules, transport, user_agent);
        let shard = self.shard(key).read().ok()?;
        let found = shard.get(&key)?;
        let same = found.rules == rules && *found.profile.transport == *transport && *found.profile.user_agent == *user_agent;
        same.then(|| (found.client_type, found.profile.clone()))
    }

    /// Remembers a classification; `profile` carries the User-Agent and transport it is for.
    pub fn remember(&self, rules: u64, client_type: ClientType, profile: &Arc<DeviceProfile>) {
        let key = self.key(rules, &profile.transport, &profile.user_agent);
        let Ok(mut shard) = self.shard(key).write() else { return };
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.clear();
        }
        shard.insert(key, Remembered { rules, client_type, profile: profile.clone() });
    }

    /// Forgets everything (the profiles it holds can then be released).
    pub fn clear(&self) {
        for shard in &self.shards {
            if let Ok(mut shard) = shard.write() {
                *shard = FastMap::default();
            }
        }
    }

    /// Heap bytes of its tables (the profiles are counted where they are interned).
    pub fn heap_bytes(&self) -> usize {
        self.shards
            .iter()
            .filter_map(|shard| {
                shard.read().ok().map(|shard| super::footprint::hash_table::<(u64, Remembered)>(shard.capacity()))
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(reason: &str, user_agent: &str, transport: &str) -> Arc<DeviceProfile> {
        DeviceProfile::new(reason, user_agent, transport)
    }

    #[test]
    fn an_answer_is_found_only_for_its_rules_transport_and_user_agent() {
        let memo = ClassificationMemo::new(16);
        let zoiper = profile("User-Agent matches /Zoiper/i (built-in rule)", "Zoiper rv2.10", "UDP");
        memo.remember(1, ClientType::Desktop, &zoiper);
        let (client_type, found) = memo.get(1, "UDP", "Zoiper rv2.10").expect("remembered");
        assert_eq!(client_type, ClientType::Desktop);
        assert!(Arc::ptr_eq(&found, &zoiper));
        drop(found);
        assert!(memo.get(2, "UDP", "Zoiper rv2.10").is_none(), "other rules");
        assert!(memo.get(1, "TCP", "Zoiper rv2.10").is_none(), "other transport");
        assert!(memo.get(1, "UDP", "Zoiper rv2.11").is_none(), "other User-Agent");
        memo.clear();
        assert!(memo.get(1, "UDP", "Zoiper rv2.10").is_none());
        assert_eq!(Arc::strong_count(&zoiper), 1, "clearing lets the profile go");
    }

    #[test]
    fn the_memo_stays_bounded() {
        let memo = ClassificationMemo::new(4);
        for n in 0..1000 {
            memo.remember(1, ClientType::IpPhone, &profile("default", &format!("Phone {n}"), "UDP"));
        }
        let held: usize = memo.shards.iter().map(|s| s.read().unwrap().len()).sum();
        assert!(held <= 4 * SHARDS, "{held}");
        assert!(memo.get(1, "UDP", "Phone 999").is_some(), "the latest is kept");
    }
}
