//! What the sharded tables (`interner`, `profiles`) do over all their shards: a shard whose lock
//! is poisoned is skipped (counted as empty), never a panic on the SIP path.
use std::sync::Mutex;

/// The sum of `measure` over the shards.
pub fn sum<T>(shards: &[Mutex<T>], measure: impl Fn(&T) -> usize) -> usize {
    shards.iter().filter_map(|shard| shard.lock().ok()).map(|shard| measure(&shard)).sum()
}

/// Runs `change` on every shard.
pub fn each<T>(shards: &[Mutex<T>], mut change: impl FnMut(&mut T)) {
    for shard in shards {
        if let Ok(mut shard) = shard.lock() {
            change(&mut shard);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_and_changes_every_shard_and_skips_a_poisoned_one() {
        let shards: [Mutex<Vec<u32>>; 3] = [Mutex::new(vec![1]), Mutex::new(vec![2, 3]), Mutex::new(Vec::new())];
        assert_eq!(sum(&shards, Vec::len), 3);
        each(&shards, |shard| shard.push(9));
        assert_eq!(sum(&shards, |shard| shard.iter().sum::<u32>() as usize), 1 + 2 + 3 + 27);
        let poisoned = std::panic::catch_unwind(|| {
            let _held = shards[0].lock().unwrap();
            panic!("poison the first shard");
        });
        assert!(poisoned.is_err());
        assert_eq!(sum(&shards, Vec::len), 3 + 1, "the poisoned shard is left out");
    }
}
