//! Hashing for the tables the SIP path looks into on every REGISTER (device books, awaited
//! answers, shared text, User-Agent memory, the policy index). SipHash, the standard library's
//! default, took about 3 % of the module's instructions per registration; foldhash's quality
//! variant, seeded at random once per process, costs a fraction of that and keeps keys that
//! remote senders choose (Call-IDs, User-Agents) from being aimed at one bucket. Every such
//! table is bounded as well.
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};

use once_cell::sync::Lazy;

pub type Hashing = foldhash::quality::RandomState;
pub type FastMap<K, V> = HashMap<K, V, Hashing>;
pub type FastSet<K> = HashSet<K, Hashing>;

/// One seed for every shard choice in the process, so a key always lands in the same shard.
static SHARDING: Lazy<Hashing> = Lazy::new(Hashing::default);

/// Which of `shards` shards `key` belongs to.
pub fn shard_index(key: &(impl Hash + ?Sized), shards: usize) -> usize {
    (SHARDING.hash_one(key) % shards as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_always_lands_in_the_same_shard_and_keys_spread() {
        let first = shard_index("sip:101@192.0.2.1", 32);
        assert_eq!(shard_index("sip:101@192.0.2.1", 32), first);
        let used: FastSet<usize> = (0..1000).map(|n| shard_index(&format!("aor-{n}"), 32)).collect();
        assert_eq!(used.len(), 32, "1,000 keys reach every one of 32 shards");
        let mut map: FastMap<String, u32> = FastMap::default();
        map.insert("a".into(), 1);
        assert_eq!(map.get("a"), Some(&1));
    }
}
