//! A cheap proof that two Contact URIs are different bindings, so the registrar's own comparison
//! (pjsip_uri_cmp, which parses both) runs only when it could say "equal".
//!
//! pjsip compares the scheme, the user (case-sensitive, after unescaping), the host
//! (case-insensitive text) and the port (as a number; none is not 5060) before any parameter.
//! So when neither URI holds an escape (`%`), a difference in one of those is a difference for
//! pjsip too. Anything this cannot read is left to pjsip.

/// The parts pjsip compares first, as text.
struct Head<'a> {
    scheme: &'a str,
    user: Option<&'a str>,
    host: &'a str,
    port: Option<u32>,
}

/// The first index from `from` whose byte `stops` accepts, or the length.
fn stop_at(text: &[u8], from: usize, stops: impl Fn(u8) -> bool) -> usize {
    text[from..].iter().position(|&b| stops(b)).map_or(text.len(), |i| from + i)
}

/// One pass over the bytes finds the scheme's colon, the first '?' after it (headers) and the
/// last '@' before that (end of the user part); this runs once per URI (`UriHead::of`).
fn head(uri: &str) -> Option<Head<'_>> {
    let bytes = uri.as_bytes();
    let (mut colon, mut headers, mut last_at) = (None, bytes.len(), None);
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'%' => return None,
            b':' if colon.is_none() => colon = Some(i),
            b'?' if colon.is_some() && headers == bytes.len() => headers = i,
            b'@' if colon.is_some() && headers == bytes.len() => last_at = Some(i),
            _ => {}
        }
    }
    let colon = colon?;
    let scheme = &uri[..colon];
    if !scheme.eq_ignore_ascii_case("sip") && !scheme.eq_ignore_ascii_case("sips") {
        return None;
    }
    let rest = colon + 1;
    let (user, hostport) = match last_at {
        Some(at) => (Some(&uri[rest..at]), at + 1),
        None => (None, rest),
    };
    let (host, after_host) = if bytes.get(hostport) == Some(&b'[') {
        let close = bytes[hostport + 1..].iter().position(|&b| b == b']')?;
        (&uri[hostport..hostport + close + 2], hostport + close + 2)
    } else {
        let end = stop_at(bytes, hostport, |b| matches!(b, b':' | b';' | b'?' | b'>'));
        (&uri[hostport..end], end)
    };
    if host.is_empty() {
        return None;
    }
    let port = match bytes.get(after_host) {
        Some(b':') => {
            let end = stop_at(bytes, after_host + 1, |b| matches!(b, b';' | b'?' | b'>'));
            Some(uri[after_host + 1..end].parse::<u32>().ok()?)
        }
        None | Some(b';' | b'?' | b'>') => None,
        Some(_) => return None,
    };
    Some(Head { scheme, user, host, port })
}

/// The parts pjsip compares first, reduced to one number when the URI is read: two bindings
/// whose heads differ are different for pjsip, so the books compare numbers instead of reading
/// both URIs again for every pair they weigh. Equal heads (or one unknown) prove nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UriHead(u64);

impl UriHead {
    /// Not readable here (an escape, another scheme, ...): never proves a difference.
    pub const UNKNOWN: UriHead = UriHead(0);

    pub fn of(uri: &str) -> UriHead {
        let Some(head) = head(uri) else { return UriHead::UNKNOWN };
        let mut digest = Fnv1a::new();
        // Each part with its length, so "a"+"bc" never digests like "ab"+"c".
        digest.part(head.scheme.as_bytes(), true);
        match head.user {
            Some(user) => digest.part(user.as_bytes(), false),
            None => digest.byte(0xff),
        }
        digest.part(head.host.as_bytes(), true);
        match head.port {
            Some(port) => digest.part(&port.to_le_bytes(), false),
            None => digest.byte(0xfe),
        }
        // 0 is UNKNOWN: a URI whose digest lands on it is merely never proven different.
        UriHead(digest.0)
    }

    /// True only when pjsip would certainly find the two URIs different; false when unsure.
    pub fn surely_differs(self, other: UriHead) -> bool {
        self != UriHead::UNKNOWN && other != UriHead::UNKNOWN && self != other
    }
}

/// FNV-1a, 64 bits: a few instructions per byte, and a collision only costs pjsip's comparison.
struct Fnv1a(u64);

impl Fnv1a {
    fn new() -> Fnv1a {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }

    fn byte(&mut self, byte: u8) {
        self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }

    fn part(&mut self, bytes: &[u8], ignore_case: bool) {
        for &b in (bytes.len() as u32).to_le_bytes().iter() {
            self.byte(b);
        }
        for &b in bytes {
            self.byte(if ignore_case { b.to_ascii_lowercase() } else { b });
        }
    }
}

/// True only when pjsip would certainly find `a` and `b` different; false when unsure.
pub fn surely_different(a: &str, b: &str) -> bool {
    UriHead::of(a).surely_differs(UriHead::of(b))
}

/// Whether `needle` occurs anywhere in a Contact URI, ASCII case ignored: a quick look before
/// reading its parameters (the classification and the push check ask it of every REGISTER).
pub fn mentions(uri: &str, needle: &str) -> bool {
    let (haystack, needle) = (uri.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = needle.split_first() else { return true };
    let Some(last_start) = haystack.len().checked_sub(needle.len()) else { return false };
    let first = first.to_ascii_lowercase();
    // One compare per byte until the first byte matches: most URIs never get further.
    haystack[..=last_start]
        .iter()
        .enumerate()
        .any(|(at, byte)| byte.to_ascii_lowercase() == first && haystack[at + 1..at + needle.len()].eq_ignore_ascii_case(rest))
}

#[cfg(test)]
mod tests {
    use super::{mentions, surely_different};

    #[test]
    fn mentions_ignores_ascii_case_only() {
        assert!(mentions("sip:a@h;PN-Provider=apns", "pn-provider"));
        assert!(mentions("sip:a@h;transport=WSS", "ws"));
        assert!(!mentions("sip:a@h;pn-prid=x", "pn-provider"));
        assert!(!mentions("sip:a@h", "sip:a@h;x"), "longer than the URI");
        assert!(mentions("sip:a@h;x", "sip:a@h;x"), "the whole URI");
        assert!(mentions("sip:a@h;transport=ws", "WS"), "at the very end");
        assert!(!mentions("sip:a@h;transport=w", "ws"), "cut at the end");
        assert!(mentions("sip:a@h", ""), "an empty needle is everywhere");
    }

    #[test]
    fn other_ports_hosts_users_and_schemes_are_different() {
        assert!(surely_different("sip:101@127.0.0.1:5060", "sip:101@127.0.0.1:5062"));
        assert!(surely_different("sip:101@127.0.0.1:5060;transport=udp", "sip:101@127.0.0.2:5060;transport=udp"));
        assert!(surely_different("sip:101@127.0.0.1", "sip:101@127.0.0.1:5060"), "no port is not port 5060");
        assert!(surely_different("sip:a@h", "sip:b@h"));
        assert!(surely_different("sip:A@h", "sip:a@h"), "the user is case-sensitive");
        assert!(surely_different("sip:a@h", "sips:a@h"));
        assert!(surely_different("sip:h", "sip:a@h"), "with and without a user");
        assert!(surely_different("sip:a@[::1]:5060", "sip:a@[::2]:5060"));
    }

    #[test]
    fn what_pjsip_may_find_equal_is_left_to_it() {
        assert!(!surely_different("sip:101@Example.COM:5060", "sip:101@example.com:05060"), "host case, port as a number");
        assert!(!surely_different("SIP:101@h", "sip:101@h"));
        assert!(!surely_different("sip:101@h;transport=tcp", "sip:101@h;transport=udp"), "parameters are pjsip's to compare");
        assert!(!surely_different("sip:101@h;a=1;b=2", "sip:101@h;b=2;a=1"));
        assert!(!surely_different("sip:%31%30%31@h", "sip:101@h"), "escapes");
        assert!(!surely_different("sip:101;phone-context=x@h", "sip:101;phone-context=x@h"));
        assert!(!surely_different("sip:101@h?X=a@b", "sip:101@h?X=a@b"));
        assert!(!surely_different("tel:+123", "tel:+124"), "not a SIP URI");
        assert!(!surely_different("sip:101@h:port", "sip:101@h:5060"), "unreadable port");
        assert!(!surely_different("sip:101@", "sip:101@h"));
        assert!(!surely_different("sip:a@[::1]:5060", "sip:a@[::1]:5060"));
    }

    #[test]
    fn heads_keep_each_part_apart_and_equal_heads_digest_equal() {
        use super::UriHead;
        assert!(surely_different("sip:a@bc", "sip:ab@c"), "where the user ends is part of the head");
        assert!(surely_different("sip:h:5060", "sip:h"), "a port and none");
        assert_eq!(UriHead::of("sip:101@Host:5060;transport=udp"), UriHead::of("SIP:101@host:05060;ob"));
        assert_eq!(UriHead::of("sip:%31@h"), UriHead::UNKNOWN);
        assert!(!UriHead::UNKNOWN.surely_differs(UriHead::of("sip:a@h")));
    }

    #[test]
    fn a_user_holding_separators_is_read_up_to_the_last_at_before_headers() {
        assert!(surely_different("sip:101;x=y@h1", "sip:101;x=y@h2"));
        assert!(surely_different("sip:a@h?H=1", "sip:b@h?H=1"));
    }
}
