//! Blocking source addresses after repeated failed authentications (mistyped or guessed
//! passwords), with an exempt list that is never blocked.
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::time::{Duration, Instant};

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
/// How many addresses are tracked at most, so a flood from many addresses cannot grow memory.
pub const DEFAULT_MAX_TRACKED: usize = 10_000;

/// Raised when a failure causes a block: log it and send the AMI event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEvent {
    pub ip: IpAddr,
    /// Failures within the window that triggered the block.
    pub failures: u32,
    pub block_time: Duration,
}

#[derive(Debug, Clone)]
struct Tracked {
    /// Times of the failures still inside the window, oldest first.
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    /// Failures counted at the moment of blocking, kept for the CLI listing.
    failures_at_block: u32,
    last_seen: Instant,
}

impl Tracked {
    fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|until| until > now)
    }
}

#[derive(Debug)]
pub struct AuthBlocker {
    limit: u32,
    window: Duration,
    block_time: Duration,
    exempt: Vec<Cidr>,
    max_tracked: usize,
    tracked: HashMap<IpAddr, Tracked>,
}

impl AuthBlocker {
    /// `limit` failures within `window` block an address for `block_time`; a limit of 0
    /// disables blocking.
    pub fn new(limit: u32, window: Duration, block_time: Duration, exempt: Vec<Cidr>) -> AuthBlocker {
        AuthBlocker { limit, window, block_time, exempt, max_tracked: DEFAULT_MAX_TRACKED, tracked: HashMap::new() }
    }

    pub fn with_max_tracked(mut self, max_tracked: usize) -> AuthBlocker {
        self.max_tracked = max_tracked.max(1);
        self
    }

    /// Applies new settings on reload without forgetting current blocks; newly exempt
    /// addresses are released at once.
    pub fn reconfigure(&mut self, limit: u32, window: Duration, block_time: Duration, exempt: Vec<Cidr>) {
        self.limit = limit;
        self.window = window;
        self.block_time = block_time;
        self.exempt = exempt;
        let exempt = self.exempt.clone();
        self.tracked.retain(|ip, _| !exempt.iter().any(|c| c.contains(*ip)));
    }

    pub fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt.iter().any(|cidr| cidr.contains(ip))
    }

    /// Counts one failed authentication; Some when this failure starts a block.
    pub fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Option<BlockEvent> {
        let ip = ip.to_canonical();
        if self.limit == 0 || self.is_exempt(ip) {
            return None;
        }
        if !self.tracked.contains_key(&ip) {
            self.make_room(now);
        }
        let entry = self.tracked.entry(ip).or_insert_with(|| Tracked {
            failures: VecDeque::new(),
            blocked_until: None,
            failures_at_block: 0,
            last_seen: now,
        });
        entry.last_seen = now;
        if entry.is_blocked(now) {
            return None;
        }
        entry.blocked_until = None;
        while entry.failures.front().is_some_and(|&t| now.saturating_duration_since(t) >= self.window) {
            entry.failures.pop_front();
        }
        entry.failures.push_back(now);
        let failures = entry.failures.len() as u32;
        if failures < self.limit {
            return None;
        }
        entry.failures.clear();
        entry.blocked_until = Some(now + self.block_time);
        entry.failures_at_block = failures;
        Some(BlockEvent { ip, failures, block_time: self.block_time })
    }

    /// A successful authentication forgives earlier failures (not an active block).
    pub fn record_success(&mut self, ip: IpAddr) {
        let ip = ip.to_canonical();
        if let Some(entry) = self.tracked.get_mut(&ip) {
            entry.failures.clear();
            if entry.blocked_until.is_none() {
                self.tracked.remove(&ip);
            }
        }
    }

    /// Whether requests from `ip` are to be refused now; expired blocks are dropped here.
    pub fn is_blocked(&mut self, ip: IpAddr, now: Instant) -> bool {
        let ip = ip.to_canonical();
        if self.is_exempt(ip) {
            return false;
        }
        let Some(entry) = self.tracked.get_mut(&ip) else { return false };
        if entry.is_blocked(now) {
            return true;
        }
        if entry.blocked_until.take().is_some() && entry.failures.is_empty() {
            self.tracked.remove(&ip);
        }
        false
    }

    /// Addresses blocked now, with the time left and the failures that caused the block,
    /// sorted by address.
    pub fn blocked(&self, now: Instant) -> Vec<(IpAddr, Duration, u32)> {
        let mut list: Vec<_> = self
            .tracked
            .iter()
            .filter(|(_, entry)| entry.is_blocked(now))
            .map(|(ip, entry)| {
                let remaining = entry.blocked_until.map_or(Duration::ZERO, |until| until.saturating_duration_since(now));
                (*ip, remaining, entry.failures_at_block)
            })
            .collect();
        list.sort_by_key(|(ip, _, _)| *ip);
        list
    }

    /// Forgets one address (blocks and failure counts) or all; returns how many addresses
    /// were blocked among those forgotten (expired-but-unswept blocks count too).
    pub fn clear(&mut self, ip: Option<IpAddr>) -> usize {
        match ip {
            Some(ip) => self.tracked.remove(&ip.to_canonical()).map_or(0, |entry| usize::from(entry.blocked_until.is_some())),
            None => {
                let count = self.tracked.values().filter(|e| e.blocked_until.is_some()).count();
                self.tracked.clear();
                count
            }
        }
    }

    /// Number of addresses currently tracked (blocked or counting failures).
    pub fn tracked_count(&self) -> usize {
        self.tracked.len()
    }

    /// Makes room for one more address: first drops what has expired, then evicts the least
    /// recently seen address, preferring ones that are only counting over active blocks.
    fn make_room(&mut self, now: Instant) {
        if self.tracked.len() < self.max_tracked {
            return;
        }
        let window = self.window;
        self.tracked.retain(|_, entry| {
            entry.is_blocked(now) || entry.failures.back().is_some_and(|&t| now.saturating_duration_since(t) < window)
        });
        while self.tracked.len() >= self.max_tracked {
            let victim = self.tracked.iter().min_by_key(|(_, entry)| (entry.is_blocked(now), entry.last_seen)).map(|(ip, _)| *ip);
            match victim {
                Some(ip) => self.tracked.remove(&ip),
                None => break,
            };
        }
    }
}

impl Default for AuthBlocker {
    fn default() -> Self {
        AuthBlocker::new(DEFAULT_LIMIT, DEFAULT_WINDOW, DEFAULT_BLOCK_TIME, Vec::new())
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

    #[test]
    fn blocks_on_the_limit_within_the_window() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(3, secs(60), secs(300), Vec::new());
        let bad = ip("127.0.0.2");
        assert_eq!(blocker.record_failure(bad, start), None);
        assert_eq!(blocker.record_failure(bad, start + secs(10)), None);
        assert!(!blocker.is_blocked(bad, start + secs(11)));
        let event = blocker.record_failure(bad, start + secs(20)).unwrap();
        assert_eq!(event, BlockEvent { ip: bad, failures: 3, block_time: secs(300) });
        assert!(blocker.is_blocked(bad, start + secs(21)));
        // Other addresses are unaffected.
        assert!(!blocker.is_blocked(ip("127.0.0.1"), start + secs(21)));
        // Failures while blocked do not raise a second event.
        assert_eq!(blocker.record_failure(bad, start + secs(30)), None);
    }

    #[test]
    fn the_window_slides() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(3, secs(60), secs(300), Vec::new());
        let bad = ip("192.0.2.1");
        blocker.record_failure(bad, start);
        blocker.record_failure(bad, start + secs(30));
        // The first failure has left the window: only two count.
        assert_eq!(blocker.record_failure(bad, start + secs(60)), None);
        assert!(blocker.record_failure(bad, start + secs(70)).is_some());
    }

    #[test]
    fn blocks_expire_lazily_and_counting_restarts() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(2, secs(60), secs(100), Vec::new());
        let bad = ip("192.0.2.1");
        blocker.record_failure(bad, start);
        assert!(blocker.record_failure(bad, start).is_some());
        assert_eq!(blocker.blocked(start + secs(40)), vec![(bad, secs(60), 2)]);
        assert!(blocker.is_blocked(bad, start + secs(99)));
        assert!(!blocker.is_blocked(bad, start + secs(100)));
        assert!(blocker.blocked(start + secs(100)).is_empty());
        assert_eq!(blocker.tracked_count(), 0, "expired block is swept");
        assert_eq!(blocker.record_failure(bad, start + secs(101)), None, "a fresh count starts");
        assert!(blocker.record_failure(bad, start + secs(102)).is_some());
    }

    #[test]
    fn exempt_addresses_are_never_blocked() {
        let start = Instant::now();
        let exempt = parse_cidr_list("127.0.0.1,10.0.0.0/8").unwrap();
        let mut blocker = AuthBlocker::new(1, secs(60), secs(300), exempt);
        for addr in ["127.0.0.1", "10.9.9.9", "::ffff:10.1.1.1"] {
            assert_eq!(blocker.record_failure(ip(addr), start), None, "{addr}");
            assert!(!blocker.is_blocked(ip(addr), start), "{addr}");
        }
        assert!(blocker.record_failure(ip("127.0.0.2"), start).is_some());
    }

    #[test]
    fn limit_zero_disables_blocking() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(0, secs(60), secs(300), Vec::new());
        for _ in 0..100 {
            assert_eq!(blocker.record_failure(ip("192.0.2.1"), start), None);
        }
        assert!(!blocker.is_blocked(ip("192.0.2.1"), start));
    }

    #[test]
    fn success_resets_the_count_but_not_a_block() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(3, secs(60), secs(300), Vec::new());
        let addr = ip("192.0.2.1");
        blocker.record_failure(addr, start);
        blocker.record_failure(addr, start);
        blocker.record_success(addr);
        assert_eq!(blocker.record_failure(addr, start), None);
        blocker.record_failure(addr, start);
        assert!(blocker.record_failure(addr, start).is_some());
        blocker.record_success(addr);
        assert!(blocker.is_blocked(addr, start + secs(1)));
    }

    #[test]
    fn clear_one_or_all() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(1, secs(60), secs(300), Vec::new());
        for addr in ["192.0.2.1", "192.0.2.2", "2001:db8::1"] {
            assert!(blocker.record_failure(ip(addr), start).is_some());
        }
        assert_eq!(blocker.blocked(start).len(), 3);
        assert_eq!(blocker.clear(Some(ip("192.0.2.9"))), 0);
        assert_eq!(blocker.clear(Some(ip("192.0.2.1"))), 1);
        assert!(!blocker.is_blocked(ip("192.0.2.1"), start));
        assert!(blocker.is_blocked(ip("192.0.2.2"), start));
        assert_eq!(blocker.clear(None), 2);
        assert!(blocker.blocked(start).is_empty());
    }

    #[test]
    fn memory_is_bounded_and_blocks_outlive_counters() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(2, secs(600), secs(600), Vec::new()).with_max_tracked(3);
        let blocked = ip("198.51.100.1");
        blocker.record_failure(blocked, start);
        assert!(blocker.record_failure(blocked, start).is_some());
        for n in 0..50u8 {
            blocker.record_failure(IpAddr::V4(Ipv4Addr::new(203, 0, 113, n)), start + secs(1 + u64::from(n)));
            assert!(blocker.tracked_count() <= 3);
        }
        assert!(blocker.is_blocked(blocked, start + secs(60)), "an active block is evicted last");
        // The most recent counter survives and can still reach the limit.
        assert!(blocker.record_failure(ip("203.0.113.49"), start + secs(70)).is_some());
    }

    #[test]
    fn reconfigure_keeps_blocks_and_releases_new_exemptions() {
        let start = Instant::now();
        let mut blocker = AuthBlocker::new(1, secs(60), secs(300), Vec::new());
        blocker.record_failure(ip("192.0.2.1"), start);
        blocker.record_failure(ip("192.0.2.2"), start);
        blocker.reconfigure(5, secs(60), secs(300), parse_cidr_list("192.0.2.2").unwrap());
        assert!(blocker.is_blocked(ip("192.0.2.1"), start));
        assert!(!blocker.is_blocked(ip("192.0.2.2"), start));
        assert_eq!(blocker.blocked(start).len(), 1);
    }
}
