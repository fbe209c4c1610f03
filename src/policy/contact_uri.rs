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
/// last '@' before that (end of the user part); this runs for every pair of bindings a REGISTER
/// is compared with.
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

/// True only when pjsip would certainly find `a` and `b` different; false when unsure.
pub fn surely_different(a: &str, b: &str) -> bool {
    let (Some(a), Some(b)) = (head(a), head(b)) else { return false };
    !a.scheme.eq_ignore_ascii_case(b.scheme) || a.user != b.user || !a.host.eq_ignore_ascii_case(b.host) || a.port != b.port
}

#[cfg(test)]
mod tests {
    use super::surely_different;

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
    fn a_user_holding_separators_is_read_up_to_the_last_at_before_headers() {
        assert!(surely_different("sip:101;x=y@h1", "sip:101;x=y@h2"));
        assert!(surely_different("sip:a@h?H=1", "sip:b@h?H=1"));
    }
}
