//! Blocking source addresses after repeated failed authentications (mistyped or guessed
//! passwords), with an exempt list that is never blocked.
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use super::fast_hash::{FastMap, Hashing};

/// An address range such as "10.0.0.0/8", "fe80::/10" or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The network address (host bits cleared; IPv4 for IPv4-mapped ranges).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(ip, self.prefix) == net,
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(ip, self.prefix) == net,
            _ => false,
        }
    }
}

fn mask_v4(ip: Ipv4Addr, prefix: u8) -> Ipv4Addr {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    Ipv4Addr::from(u32::from(ip) & mask)
}

fn mask_v6(ip: Ipv6Addr, prefix: u8) -> Ipv6Addr {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    Ipv6Addr::from(u128::from(ip) & mask)
}

impl FromStr for Cidr {
    type Err = String;

    /// Accepts "a.b.c.d", "a.b.c.d/len", "a.b.c.d/netmask" (contiguous, e.g. 255.255.0.0),
    /// IPv6 with or without brackets ("[2001:db8::]/32"). Host bits are cleared ("10.1.2.3/8"
    /// means 10.0.0.0/8); an IPv4-mapped IPv6 range is stored as IPv4 so it matches the
    /// addresses the SIP stack reports.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr.trim(), Some(prefix.trim())),
            None => (text, None),
        };
        let addr = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')).unwrap_or(addr);
        let addr: IpAddr = addr.parse().map_err(|_| format!("'{text}' is not an IP address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match (p.parse::<u8>(), p.parse::<Ipv4Addr>(), addr.is_ipv4()) {
                (Ok(p), _, _) if p <= max => p,
                (_, Ok(mask), true) if u32::from(mask).leading_ones() == u32::from(mask).count_ones() => {
                    u32::from(mask).count_ones() as u8
                }
                (_, _, true) => return Err(format!("'{text}': prefix length must be 0 to 32 or a contiguous netmask")),
                _ => return Err(format!("'{text}': prefix length must be 0 to {max}")),
            },
        };
        let (addr, prefix) = match addr {
            IpAddr::V6(v6) if prefix >= 96 && v6.to_ipv4_mapped().is_some() => {
                (IpAddr::V4(v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED)), prefix - 96)
            }
            other => (other, prefix),
        };
        let network = match addr {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(v4, prefix)),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(v6, prefix)),
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

/// Parses a comma- or space-separated exempt list ("127.0.0.1, 10.0.0.0/8 ::1").
pub fn parse_cidr_list(text: &str) -> Result<Vec<Cidr>, String> {
    text.split([',', ' ', '\t']).filter(|s| !s.trim().is_empty()).map(str::parse).collect()
}

pub const DEFAULT_LIMIT: u32 = 5;
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
pub const DEFAULT_BLOCK_TIME: Duration = Duration::from_secs(300);
/// IPv6 sources are counted and blocked per network of this prefix length (a /64 is what one
/// subscriber or host usually gets, so rotating inside it changes nothing).
pub const DEFAULT_IPV6_PREFIX: u8 = 64;
/// (source, section) pairs the whole module tracks at most; the oldest go first.
pub const MAX_TRACKED: usize = 10_000;
/// Challenges remembered at most (the oldest are forgotten first).
pub const MAX_CHALLENGES: usize = 16_384;
/// How long after Asterisk sent a challenge an answer to it still counts: Asterisk's default
/// `nonce_lifetime` (32 s), after which Asterisk itself treats the nonce as stale.
pub const CHALLENGE_FRESHNESS: Duration = Duration::from_secs(32);

/// The thresholds of one type=multireg section, computed once per reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockSettings {
    /// Failures within `window` that start a block; 0 disables blocking.
    pub limit: u32,
    pub window: Duration,
    pub block_time: Duration,
    /// Never counted, never blocked.
    pub exempt: Vec<Cidr>,
    /// IPv6 sources are grouped into networks of this length (1-128).
    pub ipv6_prefix: u8,
}

impl Default for BlockSettings {
    fn default() -> Self {
        BlockSettings {
            limit: DEFAULT_LIMIT,
            window: DEFAULT_WINDOW,
            block_time: DEFAULT_BLOCK_TIME,
            exempt: Vec::new(),
            ipv6_prefix: DEFAULT_IPV6_PREFIX,
        }
    }
}

impl BlockSettings {
    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|cidr| cidr.contains(ip))
    }

    /// What `ip` is counted under: the address itself for IPv4 (also written as IPv4-mapped
    /// IPv6), its network of `ipv6_prefix` bits for IPv6.
    pub fn source_of(&self, ip: IpAddr) -> Source {
        match ip.to_canonical() {
            IpAddr::V4(v4) => Source { network: IpAddr::V4(v4), prefix: 32 },
            IpAddr::V6(v6) => {
                let prefix = self.ipv6_prefix.clamp(1, 128);
                Source { network: IpAddr::V6(mask_v6(v6, prefix)), prefix }
            }
        }
    }
}

/// An IPv4 address or an IPv6 network: the unit failures are counted and blocks applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    network: IpAddr,
    prefix: u8,
}

impl Source {
    pub fn contains(&self, ip: IpAddr) -> bool {
        Cidr { network: self.network, prefix: self.prefix }.contains(ip)
    }

    /// Whether this source lies inside `cidr` (a reload that exempts it lifts its block).
    pub fn within(&self, cidr: &Cidr) -> bool {
        cidr.prefix_len() <= self.prefix && cidr.contains(self.network)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.network {
            IpAddr::V4(v4) => write!(f, "{v4}"),
            IpAddr::V6(v6) if self.prefix == 128 => write!(f, "{v6}"),
            IpAddr::V6(v6) => write!(f, "{v6}/{}", self.prefix),
        }
    }
}

/// The address in a security event's RemoteAddress: "IPV4/UDP/127.0.0.2/5060" → 127.0.0.2,
/// "IPV6/UDP/[2001:db8::1]/5060" or "IPV6/UDP/2001:db8::1/5060" → 2001:db8::1.
pub fn security_event_address(value: &str) -> Option<IpAddr> {
    let mut parts = value.splitn(3, '/');
    let (_family, _transport, rest) = (parts.next()?, parts.next()?, parts.next()?);
    let address = rest.rsplit_once('/').map_or(rest, |(address, _port)| address);
    address.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

/// A section's number in the table; the module keeps names and numbers.
pub type SectionId = u32;

/// Raised when a failure starts a block: log it and send the AMI event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    pub source: Source,
    /// Failures within the window that started the block.
    pub failures: u32,
    pub block_time: Duration,
}

/// One active block, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocked {
    pub source: Source,
    pub section: SectionId,
    pub remaining: Duration,
    pub failures: u32,
}

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counting,
    Blocked,
}

#[derive(Debug)]
struct Entry {
    source: Source,
    section: SectionId,
    /// The window runs from the first failure counted in it.
    window_start: Instant,
    failures: u32,
    blocked_until: Instant,
    kind: Kind,
    prev: u32,
    next: u32,
}

impl Entry {
    fn is_blocked(&self, now: Instant) -> bool {
        self.kind == Kind::Blocked && self.blocked_until > now
    }
}

/// A doubly linked list over slot numbers, oldest first.
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    len: usize,
}

impl List {
    const EMPTY: List = List { head: NIL, tail: NIL, len: 0 };
}

/// Failure counts and blocks for the whole module: at most `capacity` (source, section) entries,
/// each failure O(1). When full, the entry counting failures for the longest time is evicted,
/// and only when no entry is merely counting, the oldest block.
#[derive(Debug)]
pub struct BlockTable {
    capacity: usize,
    slots: Vec<Entry>,
    free: Vec<u32>,
    index: HashMap<(Source, SectionId), u32>,
    counting: List,
    blocked: List,
    /// Slots visited by every operation since creation: lets tests prove the work per failure
    /// is constant without timing anything.
    steps: u64,
}

impl Default for BlockTable {
    fn default() -> Self {
        BlockTable::new(MAX_TRACKED)
    }
}

impl BlockTable {
    pub fn new(capacity: usize) -> BlockTable {
        BlockTable {
            capacity: capacity.clamp(1, NIL as usize - 1),
            slots: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            counting: List::EMPTY,
            blocked: List::EMPTY,
            steps: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Entries held (counting or blocked).
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Blocks held, including expired ones not yet swept: zero means nothing can be refused.
    pub fn active_blocks(&self) -> usize {
        self.blocked.len
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Bytes the table has allocated (its slots, index and free list), bounded by its capacity.
    pub fn allocated_bytes(&self) -> usize {
        let key_and_value = std::mem::size_of::<((Source, SectionId), u32)>() + 1;
        self.slots.capacity() * std::mem::size_of::<Entry>()
            + self.index.capacity() * key_and_value
            + self.free.capacity() * std::mem::size_of::<u32>()
    }

    /// The most `allocated_bytes` can ever reach for a table of `capacity` entries.
    pub fn allocation_bound(capacity: usize) -> usize {
        let key_and_value = std::mem::size_of::<((Source, SectionId), u32)>() + 1;
        // Slots never grow past the capacity (64 at least). The hash map rounds its buckets up to
        // a power of two and, with entries coming and going, may double once more instead of
        // reusing deleted buckets: at most 4 x the capacity in usable room.
        capacity.max(64) * std::mem::size_of::<Entry>()
            + capacity.max(16) * 4 * key_and_value
            + capacity * 2 * std::mem::size_of::<u32>()
            + 4096
    }

    fn list(&mut self, kind: Kind) -> &mut List {
        match kind {
            Kind::Counting => &mut self.counting,
            Kind::Blocked => &mut self.blocked,
        }
    }

    fn unlink(&mut self, slot: u32) {
        self.steps += 1;
        let (kind, prev, next) = {
            let entry = &self.slots[slot as usize];
            (entry.kind, entry.prev, entry.next)
        };
        if prev != NIL {
            self.slots[prev as usize].next = next;
        }
        if next != NIL {
            self.slots[next as usize].prev = prev;
        }
        let list = self.list(kind);
        if list.head == slot {
            list.head = next;
        }
        if list.tail == slot {
            list.tail = prev;
        }
        list.len -= 1;
    }

    fn push_back(&mut self, slot: u32, kind: Kind) {
        self.steps += 1;
        let tail = self.list(kind).tail;
        {
            let entry = &mut self.slots[slot as usize];
            entry.kind = kind;
            entry.prev = tail;
            entry.next = NIL;
        }
        if tail != NIL {
            self.slots[tail as usize].next = slot;
        }
        let list = self.list(kind);
        if list.head == NIL {
            list.head = slot;
        }
        list.tail = slot;
        list.len += 1;
    }

    fn remove(&mut self, slot: u32) {
        self.unlink(slot);
        let entry = &self.slots[slot as usize];
        self.index.remove(&(entry.source, entry.section));
        self.free.push(slot);
    }

    fn insert(&mut self, source: Source, section: SectionId, now: Instant) -> u32 {
        if self.index.len() >= self.capacity {
            let victim = if self.counting.head != NIL { self.counting.head } else { self.blocked.head };
            if victim != NIL {
                self.remove(victim);
            }
        }
        let entry = Entry {
            source,
            section,
            window_start: now,
            failures: 0,
            blocked_until: now,
            kind: Kind::Counting,
            prev: NIL,
            next: NIL,
        };
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = entry;
                slot
            }
            None => {
                // Grow by doubling, but never past the capacity.
                if self.slots.len() == self.slots.capacity() {
                    let target = (self.slots.len() * 2).clamp(64, self.capacity.max(64));
                    self.slots.reserve_exact(target.saturating_sub(self.slots.len()).max(1));
                }
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert((source, section), slot);
        self.push_back(slot, Kind::Counting);
        slot
    }

    /// Counts one proven failed authentication from `ip` against `section`; Some when this
    /// failure starts a block.
    pub fn record_failure(
        &mut self,
        ip: IpAddr,
        section: SectionId,
        settings: &BlockSettings,
        now: Instant,
    ) -> Option<BlockEvent> {
        if !settings.enabled() || settings.is_exempt(ip) {
            return None;
        }
        self.sweep(now);
        let source = settings.source_of(ip);
        let slot = match self.index.get(&(source, section)) {
            Some(&slot) => slot,
            None => self.insert(source, section, now),
        };
        let entry = &self.slots[slot as usize];
        if entry.is_blocked(now) {
            return None;
        }
        let restart = entry.kind == Kind::Blocked || now.saturating_duration_since(entry.window_start) >= settings.window;
        self.unlink(slot);
        let entry = &mut self.slots[slot as usize];
        if restart {
            entry.window_start = now;
            entry.failures = 0;
        }
        entry.failures += 1;
        if entry.failures < settings.limit {
            self.push_back(slot, Kind::Counting);
            return None;
        }
        entry.blocked_until = now + settings.block_time;
        let failures = entry.failures;
        self.push_back(slot, Kind::Blocked);
        Some(BlockEvent { source, failures, block_time: settings.block_time })
    }

    /// A successful authentication forgives earlier failures (not an active block).
    pub fn record_success(&mut self, ip: IpAddr, section: SectionId, settings: &BlockSettings) {
        let source = settings.source_of(ip);
        if let Some(&slot) = self.index.get(&(source, section)) {
            if self.slots[slot as usize].kind == Kind::Counting {
                self.remove(slot);
            }
        }
    }

    /// Whether `ip` is blocked for `section` now; an expired block is dropped here.
    pub fn is_blocked(&mut self, ip: IpAddr, section: SectionId, settings: &BlockSettings, now: Instant) -> bool {
        let source = settings.source_of(ip);
        let Some(&slot) = self.index.get(&(source, section)) else { return false };
        let entry = &self.slots[slot as usize];
        if entry.is_blocked(now) {
            return true;
        }
        if entry.kind == Kind::Blocked {
            self.remove(slot);
        }
        false
    }

    /// Drops expired blocks from the front of the block list (amortised O(1): each block is
    /// swept once).
    pub fn sweep(&mut self, now: Instant) {
        while self.blocked.head != NIL && !self.slots[self.blocked.head as usize].is_blocked(now) {
            self.remove(self.blocked.head);
        }
    }

    /// Active blocks, oldest first.
    pub fn blocked(&self, now: Instant) -> Vec<Blocked> {
        let mut list = Vec::new();
        let mut slot = self.blocked.head;
        while slot != NIL {
            let entry = &self.slots[slot as usize];
            if entry.is_blocked(now) {
                list.push(Blocked {
                    source: entry.source,
                    section: entry.section,
                    remaining: entry.blocked_until.saturating_duration_since(now),
                    failures: entry.failures,
                });
            }
            slot = entry.next;
        }
        list
    }

    /// Forgets every entry (blocks and counts) whose source covers `ip`, or all entries;
    /// returns how many active blocks were lifted.
    pub fn clear(&mut self, ip: Option<IpAddr>, now: Instant) -> usize {
        self.retain(|source, _, _| !ip.is_none_or(|ip| source.contains(ip)), now)
    }

    /// Keeps only the entries for which `keep(source, section, blocked now)` is true (reload:
    /// removed sections, newly exempt networks, blocking turned off). Returns how many active
    /// blocks were dropped.
    pub fn retain(&mut self, mut keep: impl FnMut(Source, SectionId, bool) -> bool, now: Instant) -> usize {
        let doomed: Vec<(u32, bool)> = self
            .index
            .values()
            .map(|&slot| (slot, &self.slots[slot as usize]))
            .filter(|(_, entry)| !keep(entry.source, entry.section, entry.is_blocked(now)))
            .map(|(slot, entry)| (slot, entry.is_blocked(now)))
            .collect();
        let lifted = doomed.iter().filter(|(_, blocked)| *blocked).count();
        for (slot, _) in doomed {
            self.remove(slot);
        }
        lifted
    }
}

/// The challenges Asterisk sent, by destination address and nonce: proof that a later answer
/// came from someone who received our challenge at that address. Bounded: the oldest are
/// forgotten first (answers to forgotten challenges then simply do not count).
#[derive(Debug)]
pub struct ChallengeLog {
    capacity: usize,
    freshness: Duration,
    sent: FastMap<u64, Instant>,
    order: VecDeque<(u64, Instant)>,
    keys: Hashing,
}

impl Default for ChallengeLog {
    fn default() -> Self {
        ChallengeLog::new(MAX_CHALLENGES, CHALLENGE_FRESHNESS)
    }
}

impl ChallengeLog {
    pub fn new(capacity: usize, freshness: Duration) -> ChallengeLog {
        ChallengeLog {
            capacity: capacity.max(1),
            freshness,
            sent: FastMap::default(),
            order: VecDeque::new(),
            keys: Hashing::default(),
        }
    }

    /// A keyed hash (random per process) of address and nonce: fixed size per entry, and
    /// nobody outside can choose colliding values.
    fn key(&self, ip: IpAddr, nonce: &[u8]) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        let mut hasher = self.keys.build_hasher();
        ip.to_canonical().hash(&mut hasher);
        // The bytes alone (a nonce is sent as bytes and reported as text): both hash the same.
        hasher.write(nonce);
        hasher.finish()
    }

    /// Asterisk sent a challenge carrying `nonce` to `ip`.
    pub fn record(&mut self, ip: IpAddr, nonce: impl AsRef<[u8]>, now: Instant) {
        let nonce = nonce.as_ref();
        if nonce.is_empty() {
            return;
        }
        let key = self.key(ip, nonce);
        while self.order.len() >= self.capacity {
            let Some((old, when)) = self.order.pop_front() else { break };
            if self.sent.get(&old) == Some(&when) {
                self.sent.remove(&old);
            }
        }
        self.sent.insert(key, now);
        self.order.push_back((key, now));
    }

    /// Whether `nonce` was sent to `ip` by us no longer than the freshness time ago.
    pub fn proves(&self, ip: IpAddr, nonce: impl AsRef<[u8]>, now: Instant) -> bool {
        let nonce = nonce.as_ref();
        !nonce.is_empty()
            && self.sent.get(&self.key(ip, nonce)).is_some_and(|&sent| now.saturating_duration_since(sent) <= self.freshness)
    }

    pub fn len(&self) -> usize {
        self.sent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sent.is_empty()
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn cidr_parsing_and_matching() {
        let single: Cidr = "127.0.0.1".parse().unwrap();
        assert!(single.contains(ip("127.0.0.1")));
        assert!(!single.contains(ip("127.0.0.2")));
        let net: Cidr = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.255.1.2")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(!net.contains(ip("::1")));
        let host_bits: Cidr = "192.168.1.77/24".parse().unwrap();
        assert_eq!(host_bits.to_string(), "192.168.1.0/24");
        assert!(host_bits.contains(ip("192.168.1.1")));
        let loop6: Cidr = "::1".parse().unwrap();
        assert!(loop6.contains(ip("::1")));
        assert!(!loop6.contains(ip("::2")));
        let link: Cidr = " fe80::/10 ".parse().unwrap();
        assert!(link.contains(ip("fe80::1234")));
        assert!(link.contains(ip("febf::1")));
        assert!(!link.contains(ip("fec0::1")));
        let everything: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(everything.contains(ip("203.0.113.9")));
        let everything6: Cidr = "::/0".parse().unwrap();
        assert!(everything6.contains(ip("2001:db8::1")));
    }

    #[test]
    fn mapped_addresses_match_ipv4_ranges() {
        let net: Cidr = "127.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("::ffff:127.0.0.9")));
        let mapped: Cidr = "::ffff:10.0.0.0/104".parse().unwrap();
        assert_eq!(mapped.to_string(), "10.0.0.0/8");
        assert!(mapped.contains(ip("10.1.1.1")));
    }

    #[test]
    fn netmask_and_bracketed_notation() {
        let net: Cidr = "192.168.7.1/255.255.0.0".parse().unwrap();
        assert_eq!(net.to_string(), "192.168.0.0/16");
        assert_eq!((net.network(), net.prefix_len()), (ip("192.168.0.0"), 16));
        assert!(net.contains(ip("192.168.44.5")) && !net.contains(ip("192.169.0.1")));
        assert!(net.contains(ip("::ffff:192.168.1.1")));
        assert_eq!("10.0.0.0/0.0.0.0".parse::<Cidr>().unwrap().to_string(), "0.0.0.0/0");
        assert_eq!("1.2.3.4/255.255.255.255".parse::<Cidr>().unwrap().to_string(), "1.2.3.4/32");
        for bad in ["10.0.0.0/255.0.255.0", "10.0.0.0/0.255.255.255", "::1/255.255.0.0", "10.0.0.0/256.0.0.0"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        let v6: Cidr = "[2001:db8::1]/32".parse().unwrap();
        assert_eq!(v6.to_string(), "2001:db8::/32");
        assert!("[::1]".parse::<Cidr>().unwrap().contains(ip("::1")));
        assert!("[::1".parse::<Cidr>().is_err());
    }

    #[test]
    fn cidr_errors() {
        for bad in ["", "10.0.0.0/33", "::/129", "10.0.0/8", "host", "10.0.0.0/x", "1.2.3.4/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad:?}");
        }
        assert_eq!(parse_cidr_list("127.0.0.1, 10.0.0.0/8 ::1").unwrap().len(), 3);
        assert_eq!(parse_cidr_list("").unwrap().len(), 0);
        assert!(parse_cidr_list("127.0.0.1,bogus").unwrap_err().contains("bogus"));
    }

    fn settings(limit: u32) -> BlockSettings {
        BlockSettings { limit, window: secs(60), block_time: secs(300), ..BlockSettings::default() }
    }

    #[test]
    fn blocks_on_the_limit_within_the_window() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(3);
        let bad = ip("127.0.0.2");
        assert_eq!(table.record_failure(bad, 0, &s, start), None);
        assert_eq!(table.record_failure(bad, 0, &s, start + secs(10)), None);
        assert!(!table.is_blocked(bad, 0, &s, start + secs(11)));
        let event = table.record_failure(bad, 0, &s, start + secs(20)).unwrap();
        assert_eq!(event, BlockEvent { source: s.source_of(bad), failures: 3, block_time: secs(300) });
        assert!(table.is_blocked(bad, 0, &s, start + secs(21)));
        assert_eq!(table.active_blocks(), 1);
        // Other addresses, and the same address for another section, are unaffected.
        assert!(!table.is_blocked(ip("127.0.0.1"), 0, &s, start + secs(21)));
        assert!(!table.is_blocked(bad, 1, &s, start + secs(21)));
        // Failures while blocked neither raise a second event nor extend the block.
        assert_eq!(table.record_failure(bad, 0, &s, start + secs(30)), None);
        assert_eq!(table.blocked(start + secs(40))[0].remaining, secs(280));
    }

    #[test]
    fn the_window_starts_at_the_first_failure() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(3);
        let bad = ip("192.0.2.1");
        table.record_failure(bad, 0, &s, start);
        table.record_failure(bad, 0, &s, start + secs(30));
        // 60 s after the first failure a new window starts: this is its first failure.
        assert_eq!(table.record_failure(bad, 0, &s, start + secs(60)), None);
        assert_eq!(table.record_failure(bad, 0, &s, start + secs(70)), None);
        assert!(table.record_failure(bad, 0, &s, start + secs(80)).is_some());
    }

    #[test]
    fn blocks_expire_and_counting_restarts() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = BlockSettings { limit: 2, block_time: secs(100), ..settings(2) };
        let bad = ip("192.0.2.1");
        table.record_failure(bad, 0, &s, start);
        assert!(table.record_failure(bad, 0, &s, start).is_some());
        let listed = table.blocked(start + secs(40));
        assert_eq!((listed.len(), listed[0].remaining, listed[0].failures), (1, secs(60), 2));
        assert_eq!(listed[0].source.to_string(), "192.0.2.1");
        assert!(table.is_blocked(bad, 0, &s, start + secs(99)));
        assert!(!table.is_blocked(bad, 0, &s, start + secs(100)));
        assert!(table.blocked(start + secs(100)).is_empty());
        assert_eq!((table.len(), table.active_blocks()), (0, 0), "expired block is dropped");
        assert_eq!(table.record_failure(bad, 0, &s, start + secs(101)), None, "a fresh count starts");
        assert!(table.record_failure(bad, 0, &s, start + secs(102)).is_some());
    }

    #[test]
    fn expired_blocks_are_swept_by_later_failures() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = BlockSettings { block_time: secs(10), ..settings(1) };
        assert!(table.record_failure(ip("192.0.2.1"), 0, &s, start).is_some());
        assert_eq!(table.active_blocks(), 1);
        table.record_failure(ip("192.0.2.2"), 0, &BlockSettings { limit: 5, ..s.clone() }, start + secs(11));
        assert_eq!(table.active_blocks(), 0, "the guard's fast path sees no block again");
    }

    #[test]
    fn exempt_addresses_are_never_counted() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = BlockSettings { exempt: parse_cidr_list("127.0.0.1,10.0.0.0/8").unwrap(), ..settings(1) };
        for addr in ["127.0.0.1", "10.9.9.9", "::ffff:10.1.1.1"] {
            assert_eq!(table.record_failure(ip(addr), 0, &s, start), None, "{addr}");
            assert!(!table.is_blocked(ip(addr), 0, &s, start), "{addr}");
        }
        assert!(table.is_empty());
        assert!(table.record_failure(ip("127.0.0.2"), 0, &s, start).is_some());
    }

    #[test]
    fn limit_zero_disables_blocking() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        for _ in 0..100 {
            assert_eq!(table.record_failure(ip("192.0.2.1"), 0, &settings(0), start), None);
        }
        assert!(table.is_empty());
    }

    #[test]
    fn success_resets_the_count_but_not_a_block() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(3);
        let addr = ip("192.0.2.1");
        table.record_failure(addr, 0, &s, start);
        table.record_failure(addr, 0, &s, start);
        table.record_success(addr, 0, &s);
        assert!(table.is_empty());
        assert_eq!(table.record_failure(addr, 0, &s, start), None);
        table.record_failure(addr, 0, &s, start);
        assert!(table.record_failure(addr, 0, &s, start).is_some());
        table.record_success(addr, 0, &s);
        assert!(table.is_blocked(addr, 0, &s, start + secs(1)));
    }

    #[test]
    fn ipv6_is_counted_per_network() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(3);
        // Rotating through one /64 is one source.
        assert_eq!(table.record_failure(ip("2001:db8:1:2::1"), 0, &s, start), None);
        assert_eq!(table.record_failure(ip("2001:db8:1:2::ffff"), 0, &s, start), None);
        let event = table.record_failure(ip("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), 0, &s, start).unwrap();
        assert_eq!(event.source.to_string(), "2001:db8:1:2::/64");
        assert!(table.is_blocked(ip("2001:db8:1:2::99"), 0, &s, start));
        assert!(!table.is_blocked(ip("2001:db8:1:3::1"), 0, &s, start), "the next /64 is another source");
        // A configurable prefix: /128 counts each address, /48 a whole site.
        let exact = BlockSettings { ipv6_prefix: 128, ..settings(3) };
        assert_eq!(exact.source_of(ip("2001:db8::5")).to_string(), "2001:db8::5");
        let site = BlockSettings { ipv6_prefix: 48, ..settings(3) };
        assert_eq!(site.source_of(ip("2001:db8:1:ffff::5")).to_string(), "2001:db8:1::/48");
        // IPv4, also IPv4-mapped, is per address.
        assert_eq!(s.source_of(ip("::ffff:192.0.2.7")).to_string(), "192.0.2.7");
        assert!(s.source_of(ip("2001:db8:1:2::1")).within(&"2001:db8::/32".parse().unwrap()));
        assert!(!s.source_of(ip("2001:db8:1:2::1")).within(&"2001:db8:1:2::1/128".parse().unwrap()));
    }

    #[test]
    fn clear_one_or_all() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(1);
        for addr in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] {
            assert!(table.record_failure(ip(addr), 0, &s, start).is_some());
        }
        assert_eq!(table.blocked(start).len(), 3);
        assert_eq!(table.clear(Some(ip("192.0.2.9")), start), 0);
        assert_eq!(table.clear(Some(ip("192.0.2.1")), start), 1);
        assert!(!table.is_blocked(ip("192.0.2.1"), 0, &s, start));
        assert!(table.is_blocked(ip("192.0.2.2"), 0, &s, start));
        assert_eq!(table.clear(Some(ip("2001:db8::abcd")), start), 1, "any address of the blocked /64");
        assert_eq!(table.clear(None, start), 1);
        assert!(table.blocked(start).is_empty() && table.is_empty());
    }

    #[test]
    fn reload_lifts_what_it_no_longer_covers() {
        let start = Instant::now();
        let mut table = BlockTable::new(100);
        let s = settings(1);
        table.record_failure(ip("192.0.2.1"), 0, &s, start);
        table.record_failure(ip("192.0.2.2"), 0, &s, start);
        table.record_failure(ip("192.0.2.3"), 1, &s, start);
        let exempt: Cidr = "192.0.2.2/32".parse().unwrap();
        // Section 1 was removed; 192.0.2.2 became exempt in section 0.
        let lifted = table.retain(|source, section, _| section == 0 && !source.within(&exempt), start);
        assert_eq!(lifted, 2);
        assert!(table.is_blocked(ip("192.0.2.1"), 0, &s, start));
        assert!(!table.is_blocked(ip("192.0.2.2"), 0, &s, start));
        assert!(!table.is_blocked(ip("192.0.2.3"), 1, &s, start));
        assert_eq!(table.active_blocks(), 1);
    }

    #[test]
    fn when_full_the_oldest_counter_goes_first_then_the_oldest_block() {
        let start = Instant::now();
        let mut table = BlockTable::new(3);
        let s = BlockSettings { window: secs(600), block_time: secs(600), ..settings(2) };
        let blocked = ip("198.51.100.1");
        table.record_failure(blocked, 0, &s, start);
        assert!(table.record_failure(blocked, 0, &s, start).is_some());
        for n in 0..50u8 {
            table.record_failure(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), 0, &s, start + secs(1 + u64::from(n)));
            assert!(table.len() <= 3);
        }
        assert!(table.is_blocked(blocked, 0, &s, start + secs(60)), "an active block is evicted last");
        // The two most recent counters survive and can still reach the limit.
        assert!(table.record_failure(ip("203.0.113.49"), 0, &s, start + secs(70)).is_some());
        assert!(table.record_failure(ip("203.0.113.48"), 0, &s, start + secs(70)).is_some());
        // Now only blocks are held: a new source evicts the oldest block.
        table.record_failure(ip("203.0.113.200"), 0, &s, start + secs(71));
        assert!(!table.is_blocked(blocked, 0, &s, start + secs(71)));
        assert!(table.is_blocked(ip("203.0.113.49"), 0, &s, start + secs(71)));
        assert_eq!(table.len(), 3);
    }

    /// 100,000 failures from distinct addresses: the table never holds more than its capacity,
    /// its memory stays under the bound computed from that capacity, and the work per failure
    /// (slots visited) is the same for the last failures as for the first.
    #[test]
    fn a_hundred_thousand_sources_stay_bounded_with_constant_work() {
        let start = Instant::now();
        let capacity = 10_000;
        let mut table = BlockTable::new(capacity);
        let s = settings(5);
        let mut worst_steps = 0;
        let mut steps_first = 0;
        let mut steps_last = 0;
        for n in 0..100_000u32 {
            let address = if n % 2 == 0 {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
            } else {
                IpAddr::V6(Ipv6Addr::from((0x2001_0db8_u128 << 96) | (u128::from(n) << 64) | 1))
            };
            let before = table.steps();
            table.record_failure(address, n % 7, &s, start + Duration::from_millis(u64::from(n)));
            let used = table.steps() - before;
            worst_steps = worst_steps.max(used);
            if n < 10_000 {
                steps_first += used;
            }
            if n >= 90_000 {
                steps_last += used;
            }
            assert!(table.len() <= capacity);
        }
        assert_eq!(table.len(), capacity);
        assert!(worst_steps <= 6, "slots visited by one failure: {worst_steps}");
        // Once full, each new source also evicts one: at most one unlink more per failure.
        assert!(steps_last <= steps_first + 10_000, "first 10,000: {steps_first} steps, last 10,000: {steps_last}");
        assert!(
            table.allocated_bytes() <= BlockTable::allocation_bound(capacity),
            "{} bytes allocated, bound {}",
            table.allocated_bytes(),
            BlockTable::allocation_bound(capacity)
        );
        assert!(BlockTable::allocation_bound(capacity) < 4 << 20, "under 4 MB for 10,000 entries");

        // The challenges behind those failures are bounded the same way.
        let mut log = ChallengeLog::default();
        for n in 0..100_000u32 {
            log.record(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n)), "1700000000/abc", start);
            assert!(log.len() <= MAX_CHALLENGES && log.order.len() <= MAX_CHALLENGES);
        }
        assert!(log.proves(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + 99_999)), "1700000000/abc", start));
        assert!(!log.proves(IpAddr::V4(Ipv4Addr::from(0x0a00_0000)), "1700000000/abc", start), "oldest forgotten");
    }

    #[test]
    fn security_event_addresses() {
        assert_eq!(security_event_address("IPV4/UDP/127.0.0.2/5060"), Some(ip("127.0.0.2")));
        assert_eq!(security_event_address("IPV6/TCP/[2001:db8::1]/5061"), Some(ip("2001:db8::1")));
        assert_eq!(security_event_address("IPV6/UDP/2001:db8::1/5060"), Some(ip("2001:db8::1")));
        assert_eq!(security_event_address("IPV4/UDP/127.0.0.2"), Some(ip("127.0.0.2")));
        assert_eq!(security_event_address(""), None);
        assert_eq!(security_event_address("IPV4/UDP/host/5060"), None);
    }

    #[test]
    fn only_challenges_we_sent_to_that_address_prove_anything() {
        let start = Instant::now();
        let mut log = ChallengeLog::new(100, secs(32));
        log.record(ip("192.0.2.1"), "1732000000/0123abcd", start);
        assert!(log.proves(ip("192.0.2.1"), "1732000000/0123abcd", start + secs(1)));
        assert!(log.proves(ip("::ffff:192.0.2.1"), "1732000000/0123abcd", start + secs(32)));
        assert!(!log.proves(ip("192.0.2.1"), "1732000000/0123abcd", start + secs(33)), "stale");
        assert!(!log.proves(ip("192.0.2.2"), "1732000000/0123abcd", start), "sent to someone else");
        assert!(!log.proves(ip("192.0.2.1"), "1732000000/made-up", start), "never sent");
        assert!(!log.proves(ip("192.0.2.1"), "", start));
        log.record(ip("192.0.2.1"), "", start);
        assert_eq!(log.len(), 1);
        // Recorded from the 401's header bytes, proved by the security event's text.
        log.record(ip("192.0.2.3"), b"1732000000/feedbeef".as_slice(), start);
        assert!(log.proves(ip("192.0.2.3"), "1732000000/feedbeef", start + secs(1)));
    }

    #[test]
    fn the_challenge_log_is_bounded_oldest_first() {
        let start = Instant::now();
        let mut log = ChallengeLog::new(3, secs(32));
        for n in 0..10u8 {
            log.record(IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)), "nonce", start + Duration::from_millis(u64::from(n)));
            assert!(log.len() <= 3);
        }
        assert!(log.proves(ip("192.0.2.9"), "nonce", start + secs(1)));
        assert!(log.proves(ip("192.0.2.7"), "nonce", start + secs(1)));
        assert!(!log.proves(ip("192.0.2.6"), "nonce", start + secs(1)), "forgotten: the oldest go first");
        // Re-sending the same challenge refreshes it without growing the log beyond its bound.
        for _ in 0..10 {
            log.record(ip("192.0.2.9"), "nonce", start + secs(2));
        }
        assert!(log.len() <= 3 && log.proves(ip("192.0.2.9"), "nonce", start + secs(30)));
    }
}
