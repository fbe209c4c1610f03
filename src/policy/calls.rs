//! Which extension a channel or queue interface belongs to, and the rule that the two devices of
//! one extension are never members of the same queue. (Calls themselves are counted from live
//! channels, see `module::dialplan::active_calls`.)
/// The endpoint name in a "PJSIP/<name>" interface (tech case-insensitive; anything after a
/// second '/' such as a contact URI is ignored). None for other technologies.
pub fn pjsip_endpoint_of(interface: &str) -> Option<&str> {
    let (tech, rest) = interface.trim().split_once('/')?;
    if !tech.eq_ignore_ascii_case("PJSIP") {
        return None;
    }
    let name = rest.split('/').next().unwrap_or("");
    (!name.is_empty()).then_some(name)
}

/// Refuses adding one device of an extension to a queue that already has its other device
/// (PJSIP/101 vs PJSIP/101r). Returns the message to log and show; None when allowed.
pub fn queue_member_conflict(
    queue_member_interfaces: &[String],
    new_interface: &str,
    primary: &str,
    secondary: &str,
) -> Option<String> {
    let new_endpoint = pjsip_endpoint_of(new_interface)?;
    let other = if new_endpoint == primary {
        secondary
    } else if new_endpoint == secondary {
        primary
    } else {
        return None;
    };
    if other.is_empty() || other == new_endpoint {
        return None;
    }
    let existing = queue_member_interfaces.iter().find(|member| pjsip_endpoint_of(member) == Some(other))?;
    Some(format!(
        "Refusing to add {} to the queue: {} (the other device of extension {primary}) is already a member. \
         Remove it from the queue first.",
        new_interface.trim(),
        existing.trim()
    ))
}

/// The endpoint of a PJSIP channel name: "PJSIP/101r-00000002" → "101r" (the part after the
/// last '-' is Asterisk's channel counter; endpoint names may contain '-' themselves).
pub fn endpoint_of_channel(name: &str) -> Option<&str> {
    let rest = name.strip_prefix("PJSIP/")?;
    Some(rest.rsplit_once('-').map(|(endpoint, _)| endpoint).unwrap_or(rest)).filter(|e| !e.is_empty())
}

/// Whether a channel named `name` belongs to endpoint `endpoint` exactly: chan_pjsip names its
/// channels `PJSIP/<endpoint>-<8 hex digits>`, so `PJSIP/101-x-0000000a` is endpoint `101-x`,
/// not `101`, and `PJSIP/101-r-00000001` is the secondary `101-r`.
pub fn is_channel_of_endpoint(name: &str, endpoint: &str) -> bool {
    let Some(rest) = name.strip_prefix("PJSIP/").and_then(|r| r.strip_prefix(endpoint)) else { return false };
    rest.strip_prefix('-').is_some_and(|counter| counter.len() == 8 && counter.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Channel states as Asterisk numbers them (`enum ast_channel_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelState {
    /// Created, nothing heard yet: an outbound call to a device before any 180 (or one that only
    /// ever sends 183).
    Down,
    /// The device is ringing.
    Ringing,
    /// Anything else: inbound calls from the device (Ring), answered calls (Up), dialing, busy.
    Other,
}

/// Whether a channel in `state` is a call for All Busy Mode and max_concurrent_calls: devices
/// that are only being offered a call (Down, Ringing) are not in one.
pub fn counts_as_call(state: ChannelState) -> bool {
    state == ChannelState::Other
}

#[cfg(test)]
mod tests {
    #[test]
    fn channels_match_their_endpoint_exactly() {
        assert!(is_channel_of_endpoint("PJSIP/101-0000000a", "101"));
        assert!(is_channel_of_endpoint("PJSIP/101r-00000001", "101r"));
        assert!(!is_channel_of_endpoint("PJSIP/101r-00000001", "101"));
        assert!(!is_channel_of_endpoint("PJSIP/101-x-0000000a", "101"));
        assert!(is_channel_of_endpoint("PJSIP/101-x-0000000a", "101-x"));
        assert!(!is_channel_of_endpoint("PJSIP/101-r-00000001", "101"), "secondary with suffix -r");
        assert!(is_channel_of_endpoint("PJSIP/101-r-00000001", "101-r"));
        assert!(!is_channel_of_endpoint("PJSIP/101-0000000", "101"), "7 digits");
        assert!(!is_channel_of_endpoint("PJSIP/101-0000000g", "101"));
        assert!(!is_channel_of_endpoint("PJSIP/101-000000001", "101"), "9 digits");
        assert!(!is_channel_of_endpoint("Local/101-00000001", "101"));
        assert!(!is_channel_of_endpoint("PJSIP/1010-00000001", "101"));
    }

    #[test]
    fn only_calls_past_ringing_count() {
        assert!(!counts_as_call(ChannelState::Down));
        assert!(!counts_as_call(ChannelState::Ringing));
        assert!(counts_as_call(ChannelState::Other));
    }

    #[test]
    fn endpoint_of_channel_names() {
        assert_eq!(endpoint_of_channel("PJSIP/101r-00000002"), Some("101r"));
        assert_eq!(endpoint_of_channel("PJSIP/tenant-101-0000000a"), Some("tenant-101"));
        assert_eq!(endpoint_of_channel("Local/101@internal-00000001;1"), None);
        assert_eq!(endpoint_of_channel("PJSIP/-00000001"), None);
    }

    use super::*;

    #[test]
    fn endpoint_of_interface() {
        assert_eq!(pjsip_endpoint_of("PJSIP/101"), Some("101"));
        assert_eq!(pjsip_endpoint_of("pjsip/101r"), Some("101r"));
        assert_eq!(pjsip_endpoint_of(" PJSIP/101/sip:101@192.0.2.1:5060 "), Some("101"));
        assert_eq!(pjsip_endpoint_of("SIP/101"), None);
        assert_eq!(pjsip_endpoint_of("Local/101@from-queue"), None);
        assert_eq!(pjsip_endpoint_of("PJSIP/"), None);
        assert_eq!(pjsip_endpoint_of("101"), None);
    }

    fn members(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn second_device_of_the_same_extension_is_refused() {
        let queue = members(&["PJSIP/101", "PJSIP/102"]);
        let message = queue_member_conflict(&queue, "PJSIP/101r", "101", "101r").unwrap();
        assert!(message.contains("PJSIP/101r"), "{message}");
        assert!(message.contains("PJSIP/101 (the other device of extension 101)"), "{message}");
        // And the other way round, with a differently cased technology.
        let queue = members(&["pjsip/101r"]);
        assert!(queue_member_conflict(&queue, "PJSIP/101", "101", "101r").is_some());
    }

    #[test]
    fn unrelated_or_same_members_are_allowed() {
        let queue = members(&["PJSIP/102", "PJSIP/101rr", "Local/101r@ctx", "PJSIP/1010"]);
        assert_eq!(queue_member_conflict(&queue, "PJSIP/101r", "101", "101r"), None);
        assert_eq!(queue_member_conflict(&queue, "PJSIP/101", "101", "101r"), None);
        // Re-adding the same device is the queue's own business.
        let queue = members(&["PJSIP/101"]);
        assert_eq!(queue_member_conflict(&queue, "PJSIP/101", "101", "101r"), None);
        // Other extensions and technologies are not ours to judge.
        assert_eq!(queue_member_conflict(&queue, "PJSIP/102r", "101", "101r"), None);
        assert_eq!(queue_member_conflict(&queue, "Local/101r@ctx", "101", "101r"), None);
        // Endpoint names are case-sensitive in Asterisk.
        assert_eq!(queue_member_conflict(&members(&["PJSIP/ALICE"]), "PJSIP/alicer", "alice", "alicer"), None);
        assert_eq!(queue_member_conflict(&members(&["PJSIP/alicer"]), "PJSIP/ALICE", "alice", "alicer"), None);
        // Without a secondary there is nothing to conflict with.
        assert_eq!(queue_member_conflict(&queue, "PJSIP/101", "101", ""), None);
    }
}
