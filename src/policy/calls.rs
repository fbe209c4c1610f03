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

/// A queue member as app_queue reports it: the interface it rings and the one whose device
/// state it follows (the same unless set, e.g. `Local/101@ctx` following `PJSIP/101`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMember {
    pub interface: String,
    pub state_interface: String,
}

impl QueueMember {
    pub fn new(interface: &str, state_interface: &str) -> QueueMember {
        QueueMember { interface: interface.trim().to_string(), state_interface: state_interface.trim().to_string() }
    }
}

/// The PJSIP endpoint a member stands for: the one its interface rings, else the one whose
/// state it follows. None for members of other technologies.
pub fn member_device(member: &QueueMember) -> Option<&str> {
    pjsip_endpoint_of(&member.interface).or_else(|| pjsip_endpoint_of(&member.state_interface))
}

/// Refuses the member just `added` to a queue whose current `members` (as app_queue lists them,
/// the added one included) hold the other device of the same extension (PJSIP/101 vs
/// PJSIP/101r). Returns the message to log and show; None when allowed, or when the added member
/// is no longer in the queue.
pub fn queue_member_conflict(members: &[QueueMember], added: &QueueMember, primary: &str, secondary: &str) -> Option<String> {
    let new_endpoint = member_device(added)?;
    let other = if new_endpoint == primary {
        secondary
    } else if new_endpoint == secondary {
        primary
    } else {
        return None;
    };
    if other.is_empty() || other == new_endpoint || !members.iter().any(|m| m.interface == added.interface) {
        return None;
    }
    let existing = members.iter().find(|m| m.interface != added.interface && member_device(m) == Some(other))?;
    Some(format!(
        "Refusing to add {} to the queue: {} (the other device of extension {primary}) is already a member. \
         Remove it from the queue first.",
        added.interface, existing.interface
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

/// Which members of a queue came before the one whose addition is being handled: those present
/// when the module loaded, and those whose addition was handled already. app_queue reports
/// additions in the order it made them, so a member present now but not handled yet was added
/// after, and it is the one refused when its own addition is handled.
#[derive(Debug, Default)]
pub struct QueueArrivals {
    known: std::collections::HashSet<(String, String)>,
}

impl QueueArrivals {
    /// Bound on remembered (queue, device) pairs; past it the memory starts over (the live member
    /// list still decides, so the worst case is one conflict left in place until the next addition).
    const MAX: usize = 100_000;

    pub fn record(&mut self, queue: &str, member: &QueueMember) {
        let Some(device) = member_device(member) else { return };
        if self.known.len() >= Self::MAX {
            self.known.clear();
        }
        self.known.insert((queue.to_string(), device.to_string()));
    }

    /// `members` as they are now, keeping `added` and the members that came before it.
    pub fn earlier(&self, queue: &str, members: &[QueueMember], added: &QueueMember) -> Vec<QueueMember> {
        members
            .iter()
            .filter(|m| {
                m.interface == added.interface
                    || member_device(m).is_some_and(|d| self.known.contains(&(queue.to_string(), d.to_string())))
            })
            .cloned()
            .collect()
    }
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

    fn members(list: &[&str]) -> Vec<QueueMember> {
        list.iter().map(|s| QueueMember::new(s, "")).collect()
    }

    fn member(interface: &str) -> QueueMember {
        QueueMember::new(interface, "")
    }

    #[test]
    fn second_device_of_the_same_extension_is_refused() {
        let queue = members(&["PJSIP/101", "PJSIP/102", "PJSIP/101r"]);
        let message = queue_member_conflict(&queue, &member("PJSIP/101r"), "101", "101r").unwrap();
        assert!(message.contains("PJSIP/101r"), "{message}");
        assert!(message.contains("PJSIP/101 (the other device of extension 101)"), "{message}");
        // And the other way round, with a differently cased technology.
        let queue = members(&["pjsip/101r", "PJSIP/101"]);
        assert!(queue_member_conflict(&queue, &member("PJSIP/101"), "101", "101r").is_some());
    }

    #[test]
    fn local_members_count_by_the_device_whose_state_they_follow() {
        let local = QueueMember::new("Local/101@internal/n", "PJSIP/101");
        assert_eq!(member_device(&local), Some("101"));
        let queue = vec![local.clone(), member("PJSIP/101r")];
        assert!(queue_member_conflict(&queue, &member("PJSIP/101r"), "101", "101r").is_some());
        let queue = vec![member("PJSIP/101r"), local.clone()];
        assert!(queue_member_conflict(&queue, &local, "101", "101r").unwrap().contains("Local/101@internal/n"));
        // A Local member without a PJSIP state interface is not a device of ours.
        let plain = QueueMember::new("Local/101r@internal/n", "Local/101r@internal/n");
        assert_eq!(member_device(&plain), None);
        assert_eq!(queue_member_conflict(&[member("PJSIP/101"), plain.clone()], &plain, "101", "101r"), None);
    }

    #[test]
    fn a_member_already_gone_or_alone_is_not_refused() {
        // Removed again before its event was handled: nothing to refuse.
        assert_eq!(queue_member_conflict(&members(&["PJSIP/101"]), &member("PJSIP/101r"), "101", "101r"), None);
        // The other device left the queue: no stale memory of it.
        assert_eq!(queue_member_conflict(&members(&["PJSIP/101r", "PJSIP/102"]), &member("PJSIP/101r"), "101", "101r"), None);
    }

    #[test]
    fn unrelated_or_same_members_are_allowed() {
        let queue = members(&["PJSIP/102", "PJSIP/101rr", "Local/101r@ctx", "PJSIP/1010", "PJSIP/101r", "PJSIP/101"]);
        let only = |list: &[&str], added: &str, primary: &str, secondary: &str| {
            let mut queue = members(list);
            queue.push(member(added));
            queue_member_conflict(&queue, &member(added), primary, secondary)
        };
        assert_eq!(only(&["PJSIP/102", "PJSIP/101rr", "Local/101r@ctx", "PJSIP/1010"], "PJSIP/101r", "101", "101r"), None);
        assert_eq!(only(&["PJSIP/102", "PJSIP/101rr", "Local/101r@ctx", "PJSIP/1010"], "PJSIP/101", "101", "101r"), None);
        // Other extensions and technologies are not ours to judge.
        assert_eq!(queue_member_conflict(&queue, &member("PJSIP/102r"), "101", "101r"), None);
        assert_eq!(queue_member_conflict(&queue, &member("Local/101r@ctx"), "101", "101r"), None);
        // Endpoint names are case-sensitive in Asterisk.
        assert_eq!(only(&["PJSIP/ALICE"], "PJSIP/alicer", "alice", "alicer"), None);
        assert_eq!(only(&["PJSIP/alicer"], "PJSIP/ALICE", "alice", "alicer"), None);
        // Without a secondary there is nothing to conflict with.
        assert_eq!(only(&["PJSIP/101"], "PJSIP/101", "101", ""), None);
    }

    #[test]
    fn the_device_added_second_is_the_one_refused_whatever_the_event_delay() {
        let (home, remote) = (QueueMember::new("PJSIP/101", ""), QueueMember::new("PJSIP/101r", ""));
        let both = [home.clone(), remote.clone()];
        let mut arrivals = QueueArrivals::default();
        // 101 was added, then 101r, before the first event was handled: both are listed.
        assert!(queue_member_conflict(&arrivals.earlier("q", &both, &home), &home, "101", "101r").is_none());
        arrivals.record("q", &home);
        assert!(queue_member_conflict(&arrivals.earlier("q", &both, &remote), &remote, "101", "101r").is_some());
        // A member present when the module loaded counts as earlier.
        let mut loaded = QueueArrivals::default();
        loaded.record("q", &remote);
        assert!(queue_member_conflict(&loaded.earlier("q", &both, &home), &home, "101", "101r").is_some());
        assert!(queue_member_conflict(&loaded.earlier("other", &both, &home), &home, "101", "101r").is_none());
    }
}
