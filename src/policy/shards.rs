//! What the sharded tables (`interner`, `profiles`) do over all their shards: a shard whose lock
//! is poisoned is skipped (counted as empty), never a panic on the SIP path. The shards are
//! read-write locks: the SIP path almost always finds what it looks for, and readers never wait
//! for each other (a reader preempted inside holds up no other reader).
use std::sync::RwLock;

/// The sum of `measure` over the shards.
pub fn sum<T>(shards: &[RwLock<T>], measure: impl Fn(&T) -> usize) -> usize {
    shards.iter().filter_map(|shard| shard.read().ok()).map(|shard| measure(&shard)).sum()
}

/// Runs `change` on every shard.
pub fn each<T>(shards: &[RwLock<T>], mut change: impl FnMut(&mut T)) {
    for shard in shards {
        if let Ok(mut shard) = shard.write() {
            change(&mut shard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_changes_every_shard_and_skips_a_poisoned_one() {
        let shards: [RwLock<Vec<u32>>; 3] = [RwLock::new(vec![1]), RwLock::new(vec![2, 3]), RwLock::new(Vec::new())];
        assert_eq!(sum(&shards, Vec::len), 3);
        each(&shards, |shard| shard.push(9));
        assert_eq!(sum(&shards, |shard| shard.iter().sum::<u32>() as usize), 1 + 2 + 3 + 27);
        let poisoned = std::panic::catch_unwind(|| {
            let _held = shards[0].write().unwrap();
            panic!("poison the first shard");
        });
        assert!(poisoned.is_err());
        assert_eq!(sum(&shards, Vec::len), 3 + 1, "the poisoned shard is left out");
    }
}
