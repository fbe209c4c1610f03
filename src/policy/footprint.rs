//! What the module's tables take on the heap, estimated from their capacities: for
//! `multireg show stats`, so an administrator (and the benchmark) can see the module's own bytes
//! per registered device without reading them out of Asterisk's whole RSS.

/// Bytes glibc's malloc takes for a request of `size` on x86-64: 8 bytes of header, in steps of
/// 16, at least 32.
pub fn allocation(size: usize) -> usize {
    if size == 0 {
        0
    } else {
        ((size + 8).div_ceil(16) * 16).max(32)
    }
}

pub fn string(text: &String) -> usize {
    allocation(text.capacity())
}

/// A shared text (two counters before the bytes), counted at each holder: an upper bound.
pub fn shared_str(text: &std::sync::Arc<str>) -> usize {
    allocation(16 + text.len())
}

pub fn option_string(text: &Option<String>) -> usize {
    text.as_ref().map_or(0, string)
}

/// The vector's own buffer (not what its elements own).
pub fn vec<T>(items: &Vec<T>) -> usize {
    allocation(items.capacity() * std::mem::size_of::<T>())
}

/// A hash table's buffer: one slot and one control byte per bucket (hashbrown's layout), with
/// `capacity` the entries it holds without growing (7/8 of its buckets).
pub fn hash_table<Entry>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity * 8 / 7).next_power_of_two().max(4);
    allocation(buckets * (std::mem::size_of::<Entry>() + 1) + 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocations_round_as_glibc_does() {
        assert_eq!(allocation(0), 0);
        assert_eq!(allocation(1), 32);
        assert_eq!(allocation(24), 32);
        assert_eq!(allocation(25), 48);
        assert_eq!(allocation(100), 112);
        assert_eq!(string(&String::new()), 0);
        assert_eq!(string(&String::with_capacity(40)), 48);
        assert_eq!(vec(&Vec::<u64>::with_capacity(4)), 48);
        assert_eq!(shared_str(&std::sync::Arc::from("0123456789abcdef")), 48);
        assert!(hash_table::<(u64, u64)>(7) >= 8 * 17);
    }
}
