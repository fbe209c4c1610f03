//! What a REGISTER says about the device sending it, read from the request's own bytes.
use rsip::headers::{ToTypedHeader, UntypedHeader};
use rsip::Header;

/// One Contact of a REGISTER, as the device wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactBinding {
    /// The Contact URI, without angle brackets ("*" for a wildcard unregister).
    pub uri: String,
    /// Contact header parameters (name lower-cased, value without quotes).
    pub params: Vec<(String, Option<String>)>,
}

impl ContactBinding {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_deref().unwrap_or(""))
    }

    /// Expires from the contact's own parameter, if any.
    pub fn expires(&self) -> Option<u32> {
        self.param("expires").and_then(|v| v.trim().parse().ok())
    }
}

/// The parts of a REGISTER the module decides on and reports.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegisterSummary {
    /// Address of record from the To header, e.g. "sip:101@127.0.0.1".
    pub aor: String,
    pub user_agent: String,
    pub call_id: String,
    /// The Expires header, if present.
    pub expires: Option<u32>,
    pub contacts: Vec<ContactBinding>,
}

impl RegisterSummary {
    /// Whether this REGISTER only removes bindings (Expires: 0 overall, or on each contact, or *).
    pub fn is_unregister(&self) -> bool {
        if self.contacts.is_empty() {
            return false;
        }
        self.contacts.iter().all(|c| c.uri == "*" || c.expires().or(self.expires) == Some(0))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Splits a header value on commas that separate list elements (not those in quotes or <>).
fn split_list(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut in_quotes, mut in_angle, mut escaped) = (0, false, false, false);
    for (index, ch) in value.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '<' if !in_quotes => in_angle = true,
            '>' if !in_quotes => in_angle = false,
            ',' if !in_quotes && !in_angle => {
                parts.push(value[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(value[start..].trim());
    parts.into_iter().filter(|p| !p.is_empty()).collect()
}

/// Parses one Contact element: `"Name" <uri;uri-params>;header-params` or `uri;header-params`.
pub fn parse_contact(element: &str) -> Option<ContactBinding> {
    let element = element.trim();
    if element == "*" {
        return Some(ContactBinding { uri: "*".into(), params: Vec::new() });
    }
    let (uri, rest) = if let Some(open) = find_outside_quotes(element, '<') {
        let close = element[open..].find('>')? + open;
        (element[open + 1..close].trim().to_string(), &element[close + 1..])
    } else {
        // Without brackets, parameters after the first ';' belong to the header.
        match element.find(';') {
            Some(semi) => (element[..semi].trim().to_string(), &element[semi..]),
            None => (element.to_string(), ""),
        }
    };
    if uri.is_empty() {
        return None;
    }
    Some(ContactBinding { uri, params: parse_params(rest) })
}

fn find_outside_quotes(text: &str, wanted: char) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (index, ch) in text.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c == wanted && !in_quotes => return Some(index),
            _ => {}
        }
    }
    None
}

/// Parses `;a=b;c;d="e f"` into pairs, keeping quoted values whole.
pub fn parse_params(text: &str) -> Vec<(String, Option<String>)> {
    let mut params = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut pieces = Vec::new();
    for ch in text.chars() {
        match ch {
            '"' => {
                in_quotes = !in_quotes;
                current.push(ch);
            }
            ';' if !in_quotes => pieces.push(std::mem::take(&mut current)),
            _ => current.push(ch),
        }
    }
    pieces.push(current);
    for piece in pieces {
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        match piece.split_once('=') {
            Some((name, value)) => {
                params.push((name.trim().to_ascii_lowercase(), Some(value.trim().trim_matches('"').to_string())))
            }
            None => params.push((piece.to_ascii_lowercase(), None)),
        }
    }
    params
}

/// Reads a REGISTER from its wire bytes. rsip parses the message; Contact elements are parsed
/// here so every parameter (+sip.instance, pn-*, expires) is kept exactly.
pub fn summarize_register(raw: &[u8]) -> Result<RegisterSummary, ParseError> {
    let request = rsip::Request::try_from(raw).map_err(|e| ParseError(format!("unparsable REGISTER: {e}")))?;
    let mut summary = RegisterSummary::default();
    for header in request.headers.iter() {
        match header {
            Header::To(to) => {
                summary.aor = match to.typed() {
                    Ok(typed) => typed.uri.to_string(),
                    Err(_) => to.value().to_string(),
                }
            }
            Header::UserAgent(agent) => summary.user_agent = agent.value().trim().to_string(),
            Header::CallId(call_id) => summary.call_id = call_id.value().trim().to_string(),
            Header::Expires(expires) => summary.expires = expires.value().trim().parse().ok(),
            Header::Contact(contact) => {
                summary.contacts.extend(split_list(contact.value()).into_iter().filter_map(parse_contact))
            }
            _ => {}
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n\
        From: <sip:101@127.0.0.1>;tag=1\r\n\
        To: <sip:101@127.0.0.1>\r\n\
        Call-ID: abc@host\r\n\
        CSeq: 2 REGISTER\r\n\
        User-Agent: Yealink SIP-T46U 108.86.0.20\r\n\
        Contact: \"Desk, left\" <sip:101@127.0.0.1:5070;transport=udp>;+sip.instance=\"<urn:uuid:1234>\";expires=300, <sip:101@127.0.0.2:5070>;pn-provider=apns\r\n\
        Expires: 600\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn reads_aor_agent_and_every_contact() {
        let summary = summarize_register(REGISTER.as_bytes()).unwrap();
        assert_eq!(summary.aor, "sip:101@127.0.0.1");
        assert_eq!(summary.user_agent, "Yealink SIP-T46U 108.86.0.20");
        assert_eq!(summary.call_id, "abc@host");
        assert_eq!(summary.expires, Some(600));
        assert_eq!(summary.contacts.len(), 2);
        assert_eq!(summary.contacts[0].uri, "sip:101@127.0.0.1:5070;transport=udp");
        assert_eq!(summary.contacts[0].param("+sip.instance"), Some("<urn:uuid:1234>"));
        assert_eq!(summary.contacts[0].expires(), Some(300));
        assert_eq!(summary.contacts[1].param("pn-provider"), Some("apns"));
        assert!(!summary.is_unregister());
    }

    #[test]
    fn expires_zero_and_wildcard_are_unregisters() {
        let zero = REGISTER.replace("Expires: 600", "Expires: 0").replace(";expires=300", "");
        assert!(summarize_register(zero.as_bytes()).unwrap().is_unregister());
        let star = REGISTER.replace(
            "Contact: \"Desk, left\" <sip:101@127.0.0.1:5070;transport=udp>;+sip.instance=\"<urn:uuid:1234>\";expires=300, <sip:101@127.0.0.2:5070>;pn-provider=apns",
            "Contact: *",
        );
        assert!(summarize_register(star.as_bytes()).unwrap().is_unregister());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(summarize_register(b"\x00\xffnot sip").is_err());
        assert!(summarize_register(b"").is_err());
    }

    #[test]
    fn unbracketed_contact_params_belong_to_header() {
        let contact = parse_contact("sip:101@h:5060;expires=0").unwrap();
        assert_eq!(contact.uri, "sip:101@h:5060");
        assert_eq!(contact.expires(), Some(0));
    }
}

/// Whether a request starts a dialog (its To header has no tag). Unparsable requests are treated
/// as in-dialog, so they are never refused on this ground.
pub fn is_initial_request(raw: &[u8]) -> bool {
    let Ok(request) = rsip::Request::try_from(raw) else { return false };
    let initial = request.headers.iter().find_map(|h| match h {
        Header::To(to) => {
            Some(!parse_params(to.value().split_once('>').map(|(_, p)| p).unwrap_or(to.value())).iter().any(|(k, _)| k == "tag"))
        }
        _ => None,
    });
    initial.unwrap_or(false)
}

#[cfg(test)]
mod initial_request_tests {
    use super::*;

    #[test]
    fn to_tag_marks_in_dialog_requests() {
        let invite = "INVITE sip:102@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@h>;tag=a\r\nTo: <sip:102@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
        assert!(is_initial_request(invite.as_bytes()));
        let reinvite = invite.replace("To: <sip:102@h>", "To: <sip:102@h>;tag=b");
        assert!(!is_initial_request(reinvite.as_bytes()));
        assert!(!is_initial_request(b"junk"));
    }
}

#[cfg(test)]
mod mutation_tests {
    use super::*;
    use crate::policy::dialstring::build_dial_string;

    /// Deterministic pseudo-random bytes (no dependency, same run every time).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            self.0 >> 33
        }
    }

    /// Thousands of damaged REGISTERs: parsing never panics, and whatever parses yields contacts
    /// that the dial-string builder either accepts safely or skips.
    #[test]
    fn damaged_registers_never_panic() {
        let seed = "REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:101@h>;tag=1\r\nTo: <sip:101@h>\r\n\
            Call-ID: c\r\nCSeq: 2 REGISTER\r\nUser-Agent: UA\r\nContact: \"A, B\" <sip:101@h:5060;transport=ws>;+sip.instance=\"<urn:x>\";expires=60, <sip:1@h>\r\n\
            Expires: 600\r\nContent-Length: 0\r\n\r\n";
        let specials = b"<>\";,=&()\\%$\r\n\0:@*";
        let mut random = Lcg(7);
        for _ in 0..5000 {
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..(1 + random.next() % 6) {
                if bytes.is_empty() {
                    break;
                }
                let at = (random.next() as usize) % bytes.len();
                match random.next() % 4 {
                    0 => bytes[at] = specials[(random.next() as usize) % specials.len()],
                    1 => bytes.insert(at, (random.next() % 256) as u8),
                    2 => drop(bytes.remove(at)),
                    _ => bytes.truncate(at.max(1)),
                }
            }
            let _ = is_initial_request(&bytes);
            if let Ok(summary) = summarize_register(&bytes) {
                let _ = summary.is_unregister();
                let pairs: Vec<(String, String)> = summary.contacts.iter().map(|c| ("101".to_string(), c.uri.clone())).collect();
                let (dial, _) = build_dial_string(&pairs);
                for target in dial.split('&').filter(|t| !t.is_empty()) {
                    assert!(target.starts_with("PJSIP/101/"), "{target}");
                    assert!(!target.contains([',', '(', ')', '"', '\r', '\n', '\0']), "{target}");
                }
            }
        }
    }
}
