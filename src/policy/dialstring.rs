//! Dial() strings that ring every contact, in the `PJSIP_DIAL_CONTACTS` form
//! `PJSIP/101/sip:101@10.0.0.5:5060&PJSIP/101/sip:...`.
//!
//! Contact URIs come from devices, so nothing in them may add dial targets (`&`), arguments (`,`),
//! options (`(`, `)`), be re-expanded (`$`, `{`, `}`), or unbalance Asterisk's argument splitting
//! (quotes, `\`, `[`, `]`). In the user part, parameters and headers such characters are
//! percent-escaped (RFC 3261 allows escapes there); in the scheme, host or port the contact is skipped.
use crate::policy::names::validate_extension_name;

/// A contact left out of the dial string, and why (for a log line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedContact {
    pub uri: String,
    pub reason: String,
}

/// Longest contact URI put into a dial string; anything longer is not a real device.
pub const MAX_CONTACT_URI_LEN: usize = 1024;

/// Characters that mean something to Dial() or to Asterisk's argument and variable parsing.
pub fn is_dial_unsafe(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '&' | ',' | '(' | ')' | '|' | '^' | '"' | '\'' | '`' | '$' | '{' | '}' | '[' | ']' | '\\')
}

/// Characters kept as they are in user part, parameters and headers: RFC 3261 unreserved and
/// delimiters, minus everything dial-unsafe. '%' is kept only as the start of a valid escape.
fn keeps_in_escapable_part(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '!' | '~' | '*' | ';' | '=' | '+' | ':' | '/' | '?' | '@')
}

fn percent_escape(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = String::with_capacity(part.len());
    for (index, c) in part.char_indices() {
        let valid_escape =
            c == '%' && bytes.len() > index + 2 && bytes[index + 1].is_ascii_hexdigit() && bytes[index + 2].is_ascii_hexdigit();
        if keeps_in_escapable_part(c) || valid_escape {
            out.push(c);
        } else {
            let mut buffer = [0u8; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                out.push_str(&format!("%{byte:02X}"));
            }
        }
    }
    out
}

/// Host is a name, IPv4 address or bracketed IPv6 reference; port is 1-65535.
fn check_hostport(hostport: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = hostport.strip_prefix('[') {
        let (inside, after) = rest.split_once(']').ok_or("unclosed IPv6 reference")?;
        if inside.is_empty() || !inside.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("invalid IPv6 reference".into());
        }
        match after {
            "" => (inside, None),
            _ => (inside, Some(after.strip_prefix(':').ok_or("junk after IPv6 reference")?)),
        }
    } else {
        match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err("empty host".into());
    }
    if !hostport.starts_with('[') && !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        return Err("host contains characters not allowed in a host name".into());
    }
    if let Some(port) = port {
        if !port.chars().all(|c| c.is_ascii_digit()) || !matches!(port.parse::<u32>(), Ok(1..=65535)) {
            return Err("invalid port".into());
        }
    }
    Ok(())
}

/// The contact URI made safe for a dial string, or why it cannot be.
pub fn sanitize_contact_uri(uri: &str) -> Result<String, String> {
    if uri.len() > MAX_CONTACT_URI_LEN {
        return Err(format!("longer than {MAX_CONTACT_URI_LEN} characters"));
    }
    let (scheme, rest) = uri.split_once(':').ok_or("not a SIP URI")?;
    if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
        return Err("not a sip: or sips: URI".into());
    }
    // The first '@' ends the user part: '@' is not allowed unescaped in it.
    let (user, after_user) = match rest.split_once('@') {
        Some((user, after)) => (Some(user), after),
        None => (None, rest),
    };
    let host_end = after_user.find([';', '?']).unwrap_or(after_user.len());
    let (hostport, tail) = after_user.split_at(host_end);
    check_hostport(hostport)?;
    let mut safe = format!("{}:", scheme.to_ascii_lowercase());
    if let Some(user) = user {
        if user.is_empty() {
            return Err("empty user part".into());
        }
        safe.push_str(&percent_escape(user));
        safe.push('@');
    }
    safe.push_str(hostport);
    safe.push_str(&percent_escape(tail));
    // Escaping may triple the length (found by fuzz target `dialstring`): the limit holds for
    // what goes into the dial string.
    if safe.len() > MAX_CONTACT_URI_LEN {
        return Err(format!("longer than {MAX_CONTACT_URI_LEN} characters once escaped"));
    }
    Ok(safe)
}

/// Builds `PJSIP/<endpoint>/<uri>` joined by `&` from `(endpoint, contact URI)` pairs, escaping
/// or skipping unsafe contacts. Duplicate pairs ring once.
pub fn build_dial_string(targets: &[(String, String)]) -> (String, Vec<SkippedContact>) {
    let mut parts: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    for (endpoint, uri) in targets {
        let checked = validate_extension_name(endpoint).and_then(|_| sanitize_contact_uri(uri.trim()));
        match checked {
            Ok(safe_uri) => {
                let part = format!("PJSIP/{endpoint}/{safe_uri}");
                if !parts.contains(&part) {
                    parts.push(part);
                }
            }
            Err(reason) => skipped.push(SkippedContact { uri: uri.clone(), reason }),
        }
    }
    (parts.join("&"), skipped)
}

/// The targets of one call: device contacts (already dial-safe `PJSIP/...` parts) and the
/// remote destination, if the ring mode includes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DialTargets {
    pub contacts: Vec<String>,
    pub remote: Option<String>,
}

impl DialTargets {
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty() && self.remote.is_none()
    }

    pub fn count(&self) -> usize {
        self.contacts.len() + usize::from(self.remote.is_some())
    }

    /// Every target, `&`-joined (contacts first, then the remote destination).
    pub fn joined(&self) -> String {
        self.contacts.iter().map(String::as_str).chain(self.remote.as_deref()).collect::<Vec<_>>().join("&")
    }

    /// The longest dial string of whole targets that fits in `max_len` bytes, and how many
    /// targets were left out. The remote destination is placed first (it is the one target that
    /// stands for a whole side of the ring mode), then contacts in order; a target that does not
    /// fit is skipped whole, never cut.
    pub fn fit(&self, max_len: usize) -> (String, usize) {
        let mut used = 0;
        let mut take = |target: &str| {
            let needed = target.len() + usize::from(used > 0);
            (used + needed <= max_len).then(|| used += needed).is_some()
        };
        let remote = self.remote.as_deref().filter(|r| take(r));
        let contacts: Vec<&str> = self.contacts.iter().map(String::as_str).filter(|c| take(c)).collect();
        let kept = contacts.len() + usize::from(remote.is_some());
        let dial = contacts.into_iter().chain(remote).collect::<Vec<_>>().join("&");
        debug_assert!(dial.len() <= max_len);
        (dial, self.count() - kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_length_limit_applies_after_escaping() {
        let user = "\u{fffd}".repeat(200);
        let uri = format!("sip:{user}@10.0.0.2");
        assert!(uri.len() <= MAX_CONTACT_URI_LEN);
        assert!(sanitize_contact_uri(&uri).unwrap_err().contains("once escaped"));
        let fits = format!("sip:{}@10.0.0.2", "\u{fffd}".repeat(80));
        let safe = sanitize_contact_uri(&fits).unwrap();
        assert!(safe.len() <= MAX_CONTACT_URI_LEN);
        assert_eq!(sanitize_contact_uri(&safe), Ok(safe.clone()), "a sanitized URI passes unchanged");
    }

    #[test]
    fn fitting_keeps_whole_targets_and_the_remote_destination() {
        let targets = DialTargets {
            contacts: vec!["PJSIP/104/sip:a@h".into(), "PJSIP/104/sip:bbbbbbbb@h".into(), "PJSIP/104/sip:c@h".into()],
            remote: Some("PJSIP/00441@trunk".into()),
        };
        assert_eq!(targets.fit(1000), (targets.joined(), 0));
        assert_eq!(targets.joined().len(), targets.fit(1000).0.len());
        // Room for the remote and one contact, then the short third contact still fits.
        let (dial, omitted) = targets.fit(17 + 1 + 17 + 1 + 17);
        assert_eq!(dial, "PJSIP/104/sip:a@h&PJSIP/104/sip:c@h&PJSIP/00441@trunk");
        assert_eq!(omitted, 1);
        let (dial, omitted) = targets.fit(17);
        assert_eq!((dial.as_str(), omitted), ("PJSIP/00441@trunk", 3));
        assert_eq!(targets.fit(5), (String::new(), 4));
        let none = DialTargets::default();
        assert!(none.is_empty());
        assert_eq!(none.fit(0), (String::new(), 0));
        let contacts_only = DialTargets { contacts: vec!["PJSIP/1/sip:x@h".into(); 3], remote: None };
        for max in 0..60 {
            let (dial, omitted) = contacts_only.fit(max);
            assert!(dial.len() <= max);
            assert_eq!(dial.split('&').filter(|t| !t.is_empty()).count() + omitted, 3, "{max}: {dial}");
            assert!(dial.is_empty() || dial.split('&').all(|t| t == "PJSIP/1/sip:x@h"));
        }
    }

    fn targets(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(e, u)| (e.to_string(), u.to_string())).collect()
    }

    fn assert_no_injection(dial: &str) {
        for part in dial.split('&') {
            assert!(part.starts_with("PJSIP/"), "{part}");
            assert!(!part.chars().any(is_dial_unsafe), "unsafe character left in {part:?}");
        }
    }

    #[test]
    fn joins_contacts_like_pjsip_dial_contacts() {
        let (dial, skipped) = build_dial_string(&targets(&[
            ("101", "sip:101@127.0.0.1:5070"),
            ("101", "sips:101@host.example.com;transport=tls"),
            ("101r", "sip:101r@[2001:db8::1]:5060;ob"),
        ]));
        assert_eq!(
            dial,
            "PJSIP/101/sip:101@127.0.0.1:5070&PJSIP/101/sips:101@host.example.com;transport=tls&PJSIP/101r/sip:101r@[2001:db8::1]:5060;ob"
        );
        assert!(skipped.is_empty());
    }

    #[test]
    fn empty_input_gives_empty_string() {
        assert_eq!(build_dial_string(&[]), (String::new(), vec![]));
    }

    #[test]
    fn hostile_host_parts_are_skipped() {
        let hostile =
            ["sip:a@b&Local/666@evil", "sip:x@h,30,G(foo)", "sip:x@h(1)", "sip:x@h x", "sip:x@[::1]x", "sip:x@h:5060,9"];
        for uri in hostile {
            let (dial, skipped) = build_dial_string(&targets(&[("101", uri)]));
            assert_eq!(dial, "", "{uri}");
            assert_eq!(skipped.len(), 1, "{uri}");
            assert_eq!(skipped[0].uri, uri);
        }
        let (_, skipped) = build_dial_string(&targets(&[("101", "sip:a@b&Local/666@evil")]));
        assert_eq!(skipped[0].reason, "host contains characters not allowed in a host name");
    }

    #[test]
    fn hostile_user_and_params_are_escaped() {
        let (dial, skipped) = build_dial_string(&targets(&[
            ("101", "sip:x@h;${SHELL(rm)}"),
            ("101", "sip:a&Local/666,G(x)@h"),
            ("101", "sip:u@h;p=\"q\"?X-H=a b|c^d\\e"),
            ("101", "sip:u@h;x=%zz%41"),
        ]));
        assert!(skipped.is_empty(), "{skipped:?}");
        assert_no_injection(&dial);
        let parts: Vec<&str> = dial.split('&').collect();
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], "PJSIP/101/sip:x@h;%24%7BSHELL%28rm%29%7D");
        assert_eq!(parts[1], "PJSIP/101/sip:a%26Local/666%2CG%28x%29@h");
        assert_eq!(parts[2], "PJSIP/101/sip:u@h;p=%22q%22?X-H=a%20b%7Cc%5Ed%5Ce");
        assert_eq!(parts[3], "PJSIP/101/sip:u@h;x=%25zz%41");
    }

    #[test]
    fn control_characters_and_non_ascii_are_escaped() {
        let (dial, _) = build_dial_string(&targets(&[("101", "sip:j\u{e9}r\u{f4}me\r\n@h")]));
        assert_eq!(dial, "PJSIP/101/sip:j%C3%A9r%C3%B4me%0D%0A@h");
    }

    #[test]
    fn non_sip_bad_ports_and_oversize_are_skipped() {
        for uri in
            ["tel:+4412345", "http://evil", "nocolon", "sip:", "sip:@h", "sip:x@h:0", "sip:x@h:99999", "sip:x@h:5o60", "sip:x@"]
        {
            let (dial, skipped) = build_dial_string(&targets(&[("101", uri)]));
            assert_eq!((dial.as_str(), skipped.len()), ("", 1), "{uri}");
        }
        let long = format!("sip:{}@h", "a".repeat(MAX_CONTACT_URI_LEN));
        assert_eq!(build_dial_string(&targets(&[("101", &long)])).1.len(), 1);
    }

    #[test]
    fn bad_endpoint_names_are_skipped() {
        for name in ["", "10 1", "101&Local/x", "101/x", "a@b", "x,y", &"9".repeat(81)] {
            assert!(validate_extension_name(name).is_err(), "{name}");
            let (dial, skipped) = build_dial_string(&targets(&[(name, "sip:101@h")]));
            assert_eq!((dial.as_str(), skipped.len()), ("", 1), "{name}");
        }
        for name in ["101", "101r", "12345101r", "alice.smith", "a_b-c+d"] {
            assert_eq!(validate_extension_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn good_contacts_survive_next_to_skipped_ones() {
        let (dial, skipped) = build_dial_string(&targets(&[
            ("101", "sip:x@h,30,G(foo)"),
            ("101", "sip:101@10.0.0.5:5060"),
            ("101", "sip:101@10.0.0.5:5060"),
        ]));
        assert_eq!(dial, "PJSIP/101/sip:101@10.0.0.5:5060");
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn scheme_is_lower_cased_and_userless_uri_kept() {
        let (dial, _) = build_dial_string(&targets(&[("101", "SIP:10.0.0.5:5060;transport=tcp")]));
        assert_eq!(dial, "PJSIP/101/sip:10.0.0.5:5060;transport=tcp");
    }
}
