//! Which registered contact an incoming REGISTER refreshes. The registrar stores contacts with
//! their Contact rewritten to the source address (rewrite_contact), so a device is recognised by
//! its Call-ID, its +sip.instance, its Contact URI as sent, or its source address.

/// What we know about a registered contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredIdentity {
    /// Key the rest of the policy uses for this device.
    pub key: String,
    pub call_id: String,
    pub uri: String,
    pub instance_id: Option<String>,
}

/// What an incoming REGISTER says about its sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingIdentity<'a> {
    pub call_id: &'a str,
    pub uri: &'a str,
    pub instance_id: Option<&'a str>,
    /// "address:port" the packet came from.
    pub source: &'a str,
}

fn normalize_instance(value: &str) -> String {
    value.trim().trim_matches('"').trim_start_matches('<').trim_end_matches('>').trim().to_ascii_lowercase()
}

/// The host:port part of a SIP URI, lower-cased ("sip:101@1.2.3.4:5060;x=y" → "1.2.3.4:5060").
pub fn uri_host_port(uri: &str) -> String {
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    let rest = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    rest.split([';', '?', '>']).next().unwrap_or("").to_ascii_lowercase()
}

/// The key of the stored contact this REGISTER refreshes, if any.
pub fn matching_device<'s>(stored: &'s [StoredIdentity], incoming: &IncomingIdentity<'_>) -> Option<&'s StoredIdentity> {
    let by = |test: &dyn Fn(&StoredIdentity) -> bool| stored.iter().find(|s| test(s));
    by(&|s| !incoming.call_id.is_empty() && s.call_id == incoming.call_id)
        .or_else(|| {
            let wanted = incoming.instance_id.map(normalize_instance).filter(|i| !i.is_empty())?;
            by(&|s| s.instance_id.as_deref().map(normalize_instance).as_deref() == Some(wanted.as_str()))
        })
        .or_else(|| by(&|s| s.uri.eq_ignore_ascii_case(incoming.uri)))
        .or_else(|| {
            let source = incoming.source.to_ascii_lowercase();
            by(&|s| uri_host_port(&s.uri) == source)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: &str, call_id: &str, uri: &str, instance: Option<&str>) -> StoredIdentity {
        StoredIdentity { key: key.into(), call_id: call_id.into(), uri: uri.into(), instance_id: instance.map(str::to_string) }
    }

    fn incoming<'a>(call_id: &'a str, uri: &'a str, instance: Option<&'a str>, source: &'a str) -> IncomingIdentity<'a> {
        IncomingIdentity { call_id, uri, instance_id: instance, source }
    }

    #[test]
    fn matches_by_call_id_first() {
        let list = [stored("a", "c1", "sip:101@1.1.1.1:5060", None), stored("b", "c2", "sip:101@2.2.2.2:5060", None)];
        assert_eq!(matching_device(&list, &incoming("c2", "sip:101@9.9.9.9", None, "9.9.9.9:1")).unwrap().key, "b");
    }

    #[test]
    fn matches_instance_ignoring_quotes_brackets_and_case() {
        let list = [stored("a", "c1", "sip:x@h", Some("\"<urn:uuid:ABC>\""))];
        assert_eq!(matching_device(&list, &incoming("new", "sip:y@z", Some("<urn:uuid:abc>"), "1.1.1.1:1")).unwrap().key, "a");
    }

    #[test]
    fn matches_rewritten_contact_by_source_address() {
        let list = [stored("a", "c1", "sip:101@127.0.0.1:40000", None)];
        let found = matching_device(&list, &incoming("other", "sip:101@10.0.0.5:5060;transport=udp", None, "127.0.0.1:40000"));
        assert_eq!(found.unwrap().key, "a");
        assert!(matching_device(&list, &incoming("other", "sip:101@10.0.0.5:5060", None, "127.0.0.1:40001")).is_none());
    }

    #[test]
    fn empty_call_id_and_instance_never_match_everything() {
        let list = [stored("a", "", "sip:101@h:1", Some(""))];
        assert!(matching_device(&list, &incoming("", "sip:101@h:2", Some(""), "h:3")).is_none());
    }

    #[test]
    fn host_port_of_uri() {
        assert_eq!(uri_host_port("sip:101@127.0.0.1:5060;transport=ws"), "127.0.0.1:5060");
        assert_eq!(uri_host_port("sip:h.example:5061"), "h.example:5061");
    }
}
