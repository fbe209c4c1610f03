//! Shared copies of the text many devices repeat (User-Agents, transports, classification
//! reasons): a device book then holds a pointer to one copy instead of a string of its own.
//!
//! Bounded: each shard keeps at most `per_shard` strings and, when full, hands out unshared
//! copies, so devices sending ever new User-Agents cost what they did without it.
use std::sync::{Arc, RwLock};

use super::fast_hash::{shard_index, FastSet};
use super::shards;

const SHARDS: usize = 8;
/// Longer text is never kept: a device cycling long User-Agents pins nothing.
const LONGEST: usize = 256;

pub struct Interner {
    shards: [RwLock<FastSet<Arc<str>>>; SHARDS],
    per_shard: usize,
}

impl Interner {
    pub fn new(per_shard: usize) -> Interner {
        Interner { shards: std::array::from_fn(|_| RwLock::new(FastSet::default())), per_shard }
    }

    /// The shared copy of `text`.
    pub fn intern(&self, text: &str) -> Arc<str> {
        if text.len() > LONGEST {
            return text.into();
        }
        let lock = &self.shards[shard_index(text, SHARDS)];
        if let Some(shared) = lock.read().ok().and_then(|shard| shard.get(text).cloned()) {
            return shared;
        }
        let Ok(mut shard) = lock.write() else { return text.into() };
        if let Some(shared) = shard.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = text.into();
        if shard.len() >= self.per_shard {
            // Full: copies no device holds any more make room (departed devices' User-Agents).
            shard.retain(|kept| Arc::strong_count(kept) > 1);
        }
        if shard.len() < self.per_shard {
            shard.insert(shared.clone());
        }
        shared
    }

    /// Drops the copies no device holds any more (after a reload or unload).
    pub fn release_unused(&self) {
        shards::each(&self.shards, |shard| {
            shard.retain(|shared| Arc::strong_count(shared) > 1);
            shard.shrink_to_fit();
        });
    }

    /// Forgets every copy (module unload), returning the tables' memory.
    pub fn clear(&self) {
        shards::each(&self.shards, |shard| *shard = FastSet::default());
    }

    /// Heap bytes of the shared copies and the tables (see `footprint`).
    pub fn heap_bytes(&self) -> usize {
        use super::footprint::{allocation, hash_table};
        let arc_header = 2 * std::mem::size_of::<usize>();
        shards::sum(&self.shards, |shard| {
            hash_table::<Arc<str>>(shard.capacity()) + shard.iter().map(|text| allocation(arc_header + text.len())).sum::<usize>()
        })
    }

    pub fn len(&self) -> usize {
        shards::sum(&self.shards, FastSet::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_text_gets_one_copy() {
        let interner = Interner::new(4);
        let (a, b) = (interner.intern("Yealink SIP-T46U"), interner.intern("Yealink SIP-T46U"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "Yealink SIP-T46U");
        assert!(!Arc::ptr_eq(&a, &interner.intern("Zoiper")));
    }

    #[test]
    fn a_full_shard_hands_out_unshared_copies_and_unused_ones_can_go() {
        let interner = Interner::new(2);
        let kept = interner.intern("kept");
        let held: Vec<Arc<str>> = (0..100).map(|n| interner.intern(&format!("agent {n}"))).collect();
        assert!(interner.len() <= 2 * SHARDS);
        assert_eq!(&*held[99], "agent 99");
        drop(held);
        interner.release_unused();
        assert_eq!(interner.len(), 1, "only what a holder still has stays");
        assert!(Arc::ptr_eq(&kept, &interner.intern("kept")));
        let long = "x".repeat(LONGEST + 1);
        assert!(!Arc::ptr_eq(&interner.intern(&long), &interner.intern(&long)), "long text is not kept");
    }

    #[test]
    fn a_full_shard_makes_room_from_copies_nobody_holds() {
        let interner = Interner::new(1);
        // Enough distinct strings that some shard is full of one no holder keeps.
        for n in 0..64 {
            drop(interner.intern(&format!("gone {n}")));
        }
        let held: Vec<Arc<str>> = (0..64).map(|n| interner.intern(&format!("new {n}"))).collect();
        let shared = (0..64).filter(|n| Arc::ptr_eq(&held[*n], &interner.intern(&format!("new {n}")))).count();
        assert!(shared >= SHARDS - 1, "the departed copies made room: {shared} shared");
    }
}
