//! One device book per AOR under a policy, each behind its own lock, and the REGISTERs waiting
//! for the registrar's answer. Nothing here is walked whole on the SIP path: each lookup hashes
//! to one shard.
use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use once_cell::sync::Lazy;

use crate::policy::device_book::{DeviceBook, RequestKey, RESERVATION_SECONDS};

const SHARDS: usize = 32;
/// Most REGISTERs awaiting an answer per shard; beyond it the oldest is forgotten (its
/// reservation then ends by itself after RESERVATION_SECONDS).
const MAX_WAITING_PER_SHARD: usize = 4096;

pub type SharedBook = Arc<Mutex<DeviceBook>>;

struct Entry {
    /// The policy's endpoint this AOR belongs to (to drop the book when the policy goes).
    endpoint: String,
    book: SharedBook,
}

struct Waiting {
    aor: String,
    until: u64,
}

struct Shards<T>([Mutex<HashMap<T, Waiting>>; SHARDS]);

static BOOKS: Lazy<[Mutex<HashMap<String, Entry>>; SHARDS]> = Lazy::new(|| std::array::from_fn(|_| Mutex::new(HashMap::new())));
static WAITING: Lazy<Shards<RequestKey>> = Lazy::new(|| Shards(std::array::from_fn(|_| Mutex::new(HashMap::new()))));

fn shard_of(key: &(impl Hash + ?Sized)) -> usize {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() as usize) % SHARDS
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Locks one book; a panic elsewhere never makes it unusable.
pub fn lock_book(book: &SharedBook) -> MutexGuard<'_, DeviceBook> {
    lock(book)
}

/// The book of `aor`, created empty (unknown: read from the store at first use).
pub fn book(aor: &str, endpoint: &str) -> SharedBook {
    let mut shard = lock(&BOOKS[shard_of(aor)]);
    if let Some(entry) = shard.get(aor) {
        return entry.book.clone();
    }
    let book = SharedBook::default();
    shard.insert(aor.to_string(), Entry { endpoint: endpoint.to_string(), book: book.clone() });
    book
}

/// The book of `aor` if the module keeps one.
pub fn existing(aor: &str) -> Option<SharedBook> {
    lock(&BOOKS[shard_of(aor)]).get(aor).map(|entry| entry.book.clone())
}

/// Keeps only the books whose endpoint `keep` accepts (after a reload).
pub fn retain(keep: impl Fn(&str) -> bool) {
    for shard in BOOKS.iter() {
        lock(shard).retain(|_, entry| keep(&entry.endpoint));
    }
}

pub fn clear() {
    retain(|_| false);
    for shard in WAITING.0.iter() {
        lock(shard).clear();
    }
}

/// Remembers that the answer to REGISTER `key` updates the book of `aor`.
pub fn expect_answer(key: RequestKey, aor: &str, now: u64) {
    let mut shard = lock(&WAITING.0[shard_of(&key)]);
    if shard.len() >= MAX_WAITING_PER_SHARD {
        shard.retain(|_, waiting| waiting.until > now);
        if shard.len() >= MAX_WAITING_PER_SHARD {
            if let Some(oldest) = shard.iter().min_by_key(|(_, w)| w.until).map(|(k, _)| k.clone()) {
                shard.remove(&oldest);
            }
        }
    }
    shard.insert(key, Waiting { aor: aor.to_string(), until: now + RESERVATION_SECONDS });
}

/// The AOR whose book waits for the answer to `key`, if any (and it stops waiting).
pub fn answered(key: &RequestKey) -> Option<String> {
    lock(&WAITING.0[shard_of(key)]).remove(key).map(|waiting| waiting.aor)
}
