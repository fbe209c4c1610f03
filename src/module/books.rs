//! One device book per AOR under a policy, each behind its own lock, and the REGISTERs waiting
//! for the registrar's answer. Nothing here is walked whole on the SIP path: each lookup hashes
//! to one shard.
use std::collections::VecDeque;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use once_cell::sync::Lazy;

use crate::policy::config::MultiregConfig;
use crate::policy::device_book::{DeviceBook, RequestKey, RESERVATION_SECONDS};
use crate::policy::fast_hash::{shard_index, FastMap};

const SHARDS: usize = 32;
/// Most REGISTERs awaiting an answer per shard; beyond it the oldest is forgotten (its
/// reservation then ends by itself after RESERVATION_SECONDS).
const MAX_WAITING_PER_SHARD: usize = 4096;
/// Room a shard keeps when nothing is awaited: enough for everyday traffic without regrowing.
/// Only a table grown to four times this (a burst) is shrunk back.
const WAITING_KEPT_ROOM: usize = 64;

pub type SharedBook = Arc<Mutex<DeviceBook>>;

struct Entry {
    /// The policy's endpoint this AOR belongs to (to drop the book when the policy goes).
    endpoint: String,
    book: SharedBook,
}

struct Waiting {
    awaiting: Awaiting,
    until: u64,
}

/// What an admitted REGISTER's answer is applied to: its AOR, that AOR's book and the policy
/// (whose endpoint is the extension), kept from the decision so the answer looks nothing up.
pub struct Awaiting {
    pub aor: String,
    pub book: SharedBook,
    pub config: Arc<MultiregConfig>,
}

/// REGISTERs awaiting an answer in one shard, and the order they arrived in (answered ones
/// stay in `order` until they reach its front), so the oldest is dropped in O(1).
#[derive(Default)]
struct WaitingShard {
    by_key: FastMap<RequestKey, Waiting>,
    order: VecDeque<RequestKey>,
}

impl WaitingShard {
    fn expect(&mut self, key: RequestKey, awaiting: Awaiting, now: u64) {
        // Drop from the front what is answered, expired, or beyond the cap: amortised O(1).
        while let Some(front) = self.order.front() {
            let live = self.by_key.get(front).is_some_and(|w| w.until > now);
            if live && self.by_key.len() < MAX_WAITING_PER_SHARD && self.order.len() < 2 * MAX_WAITING_PER_SHARD {
                break;
            }
            let front = self.order.pop_front().expect("front exists");
            if !live || self.by_key.len() >= MAX_WAITING_PER_SHARD || self.order.len() >= 2 * MAX_WAITING_PER_SHARD {
                self.by_key.remove(&front);
            }
        }
        self.order.push_back(key.clone());
        self.by_key.insert(key, Waiting { awaiting, until: now + RESERVATION_SECONDS });
    }

    fn take(&mut self, key: &RequestKey) -> Option<Awaiting> {
        let awaiting = self.by_key.remove(key).map(|waiting| waiting.awaiting);
        if self.by_key.is_empty() && self.by_key.capacity() > 4 * WAITING_KEPT_ROOM {
            // The end of a burst (a mass registration after an outage): its high-water room
            // goes. Everything left in `order` was answered.
            self.order = VecDeque::new();
            self.by_key.shrink_to(WAITING_KEPT_ROOM);
        }
        awaiting
    }
}

struct Shards([Mutex<WaitingShard>; SHARDS]);

static BOOKS: Lazy<[Mutex<FastMap<String, Entry>>; SHARDS]> =
    Lazy::new(|| std::array::from_fn(|_| Mutex::new(FastMap::default())));
static WAITING: Lazy<Shards> = Lazy::new(|| Shards(std::array::from_fn(|_| Mutex::new(WaitingShard::default()))));

fn shard_of(key: &(impl Hash + ?Sized)) -> usize {
    shard_index(key, SHARDS)
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

/// What the books hold, for `multireg show stats`.
pub struct Footprint {
    pub books: usize,
    pub devices: usize,
    /// Heap bytes of the books, their tables and the awaited answers (estimated, see `footprint`).
    pub bytes: usize,
}

/// Walks every book (a CLI or AMI request, never the SIP path): each shard's lock is held only to
/// copy its handles, and each book's only to measure it.
pub fn footprint() -> Footprint {
    use crate::policy::footprint::{allocation, hash_table, shared_str, string};
    let mut total = Footprint { books: 0, devices: 0, bytes: 0 };
    for shard in BOOKS.iter() {
        let handles: Vec<SharedBook> = {
            let shard = lock(shard);
            total.bytes += hash_table::<(String, Entry)>(shard.capacity());
            total.bytes += shard.iter().map(|(aor, entry)| string(aor) + string(&entry.endpoint)).sum::<usize>();
            shard.values().map(|entry| entry.book.clone()).collect()
        };
        for handle in handles {
            let book = lock_book(&handle);
            total.books += 1;
            total.devices += book.device_count();
            total.bytes +=
                allocation(2 * std::mem::size_of::<usize>() + std::mem::size_of::<Mutex<DeviceBook>>()) + book.heap_bytes();
        }
    }
    for shard in WAITING.0.iter() {
        let shard = lock(shard);
        total.bytes += hash_table::<(RequestKey, Waiting)>(shard.by_key.capacity())
            + shard.by_key.iter().map(|(key, waiting)| shared_str(&key.call_id) + string(&waiting.awaiting.aor)).sum::<usize>()
            + allocation(shard.order.capacity() * std::mem::size_of::<RequestKey>())
            // A key still waiting shares its Call-ID with `by_key` (counted above); an answered
            // one left in `order` holds the last reference.
            + shard.order.iter().filter(|key| !shard.by_key.contains_key(*key)).map(|key| shared_str(&key.call_id)).sum::<usize>();
    }
    total
}

/// Forgets every book and awaited answer, and returns their memory.
pub fn clear() {
    for shard in BOOKS.iter() {
        *lock(shard) = FastMap::default();
    }
    for shard in WAITING.0.iter() {
        *lock(shard) = WaitingShard::default();
    }
}

/// Remembers that the answer to REGISTER `key` updates the book of `aor`.
pub fn expect_answer(key: RequestKey, awaiting: Awaiting, now: u64) {
    lock(&WAITING.0[shard_of(&key)]).expect(key, awaiting, now);
}

/// What waits for the answer to `key`, if anything (and it stops waiting).
pub fn answered(key: &RequestKey) -> Option<Awaiting> {
    lock(&WAITING.0[shard_of(key)]).take(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn awaiting(aor: &str) -> Awaiting {
        Awaiting {
            aor: aor.to_string(),
            book: SharedBook::default(),
            config: Arc::new(MultiregConfig::with_defaults("books-test")),
        }
    }

    #[test]
    fn one_book_per_aor_and_reload_drops_books_of_removed_policies() {
        let a = book("books-test-101", "books-test-101");
        let again = book("books-test-101", "books-test-101");
        assert!(Arc::ptr_eq(&a, &again));
        let secondary = book("books-test-101r", "books-test-101r");
        assert!(!Arc::ptr_eq(&a, &secondary));
        retain(|endpoint| endpoint != "books-test-101r");
        assert!(existing("books-test-101").is_some());
        assert!(existing("books-test-101r").is_none());
    }

    #[test]
    fn the_footprint_counts_each_book_its_devices_and_their_text() {
        use crate::policy::classify::ClientType;
        use crate::policy::device_book::{Device, DeviceProfile};
        let shared = book("footprint-test-101", "footprint-test-101");
        let device = |n: u32| Device {
            uri: format!("sip:phone{n}@192.0.2.1:5060").into(),
            uri_head: crate::policy::contact_uri::UriHead::UNKNOWN,
            call_id: format!("call-{n}").into(),
            instance: None,
            source: "192.0.2.1:5060".parse().ok(),
            profile: DeviceProfile::new("default", "Yealink SIP-T46U", "UDP"),
            cseq: 1,
            client_type: ClientType::IpPhone,
            registered_at: 1000,
            expires_at: 5000,
        };
        let read_at = lock_book(&shared).generation();
        assert!(lock_book(&shared).load_from_store(vec![device(1), device(2)], 1000, read_at));
        // Other tests keep books in the same tables: what this one holds is there at least.
        let seen = footprint();
        assert!(seen.books >= 1 && seen.devices >= 2, "{} books, {} devices", seen.books, seen.devices);
        // Two devices' structs and three strings each (URI, source, Call-ID), at least.
        let least = 2 * (std::mem::size_of::<Device>() + 3 * 32);
        assert!(seen.bytes >= least, "{} bytes", seen.bytes);
    }

    #[test]
    fn an_answer_is_expected_once_and_the_table_stays_bounded() {
        let key = |n: usize| RequestKey { call_id: format!("books-test-{n}").into(), cseq: 1 };
        expect_answer(key(0), awaiting("101"), 1000);
        assert_eq!(answered(&key(0)).map(|a| a.aor).as_deref(), Some("101"));
        assert_eq!(answered(&key(0)).map(|a| a.aor), None, "a second answer to the same REGISTER finds nothing");
        // Far more REGISTERs than the table holds, none answered: each shard stays at its cap.
        for n in 1..=(SHARDS * MAX_WAITING_PER_SHARD * 2) {
            expect_answer(key(n), awaiting("101"), 1000);
        }
        for shard in WAITING.0.iter() {
            let shard = lock(shard);
            assert!(shard.by_key.len() <= MAX_WAITING_PER_SHARD);
            assert!(shard.order.len() <= 2 * MAX_WAITING_PER_SHARD);
        }
        // Expired entries make room before anything live is dropped.
        let late = key(usize::MAX);
        expect_answer(late.clone(), awaiting("102"), 1000 + RESERVATION_SECONDS + 1);
        assert_eq!(answered(&late).map(|a| a.aor).as_deref(), Some("102"));
    }

    #[test]
    fn a_burst_of_answers_gives_its_room_back() {
        let key = |n: usize| RequestKey { call_id: format!("burst-{n}").into(), cseq: 1 };
        let mut shard = WaitingShard::default();
        for n in 0..3000 {
            shard.expect(key(n), awaiting("101"), 1000);
        }
        for n in 0..2999 {
            assert_eq!(shard.take(&key(n)).map(|a| a.aor).as_deref(), Some("101"));
        }
        // Still one awaited: the room stays (removals leave some slots unusable until a rehash,
        // so the capacity reported is lower than the peak, but far above what is kept).
        assert!(shard.by_key.capacity() > 8 * WAITING_KEPT_ROOM, "{}", shard.by_key.capacity());
        assert_eq!(shard.take(&key(2999)).map(|a| a.aor).as_deref(), Some("101"));
        assert!(shard.by_key.capacity() <= 2 * WAITING_KEPT_ROOM, "{}", shard.by_key.capacity());
        assert!(shard.order.is_empty() && shard.order.capacity() == 0);
        // Everyday traffic (a few in flight per shard) never shrinks or regrows the shard.
        for n in 0..100 {
            shard.expect(key(n), awaiting("101"), 1000);
            shard.take(&key(n));
        }
        assert!(shard.order.capacity() > 0, "the order keeps its room between everyday answers");
        shard.expect(key(1), awaiting("102"), 1000);
        assert_eq!(shard.take(&key(1)).map(|a| a.aor).as_deref(), Some("102"), "the shard still works");
    }
}
