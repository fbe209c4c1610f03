//! Calls counted per extension across its primary and secondary devices, and the rule that the
//! two devices of one extension are never members of the same queue.
use std::collections::HashMap;

/// Active calls per extension (the primary's name, whichever device carries the call).
#[derive(Debug, Default, Clone)]
pub struct CallCounter {
    active: HashMap<String, u32>,
}

impl CallCounter {
    pub fn new() -> CallCounter {
        CallCounter::default()
    }

    /// Counts a new call unless the extension is at `limit` (0 = unlimited); false means refuse
    /// it (busy). Every true must be paired with one `end`.
    pub fn try_start(&mut self, extension: &str, limit: u32) -> bool {
        if limit != 0 && self.active(extension) >= limit {
            return false;
        }
        *self.active.entry(extension.to_string()).or_insert(0) += 1;
        true
    }

    /// Ends one call; ending more calls than were started is ignored rather than wrapping.
    pub fn end(&mut self, extension: &str) {
        if let Some(count) = self.active.get_mut(extension) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.active.remove(extension);
            }
        }
    }

    pub fn active(&self, extension: &str) -> u32 {
        self.active.get(extension).copied().unwrap_or(0)
    }

    /// All Busy Mode: an extension with any call in progress is busy.
    pub fn is_busy(&self, extension: &str) -> bool {
        self.active(extension) > 0
    }

    /// Extensions with calls in progress, sorted, for the CLI.
    pub fn snapshot(&self) -> Vec<(String, u32)> {
        let mut list: Vec<_> = self.active.iter().map(|(ext, n)| (ext.clone(), *n)).collect();
        list.sort();
        list
    }
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn endpoint_of_channel_names() {
        assert_eq!(endpoint_of_channel("PJSIP/101r-00000002"), Some("101r"));
        assert_eq!(endpoint_of_channel("PJSIP/tenant-101-0000000a"), Some("tenant-101"));
        assert_eq!(endpoint_of_channel("Local/101@internal-00000001;1"), None);
        assert_eq!(endpoint_of_channel("PJSIP/-00000001"), None);
    }

    use super::*;

    #[test]
    fn unlimited_counts_without_refusing() {
        let mut calls = CallCounter::new();
        for _ in 0..10 {
            assert!(calls.try_start("101", 0));
        }
        assert_eq!(calls.active("101"), 10);
        assert_eq!(calls.active("102"), 0);
    }

    #[test]
    fn limit_counts_both_devices_together() {
        let mut calls = CallCounter::new();
        // A call on 101 and a call on 101r are both counted under the extension "101".
        assert!(calls.try_start("101", 2));
        assert!(calls.try_start("101", 2));
        assert!(!calls.try_start("101", 2));
        assert_eq!(calls.active("101"), 2);
        assert!(calls.try_start("102", 2), "other extensions are independent");
        calls.end("101");
        assert!(calls.try_start("101", 2));
    }

    #[test]
    fn end_never_underflows_and_forgets_idle_extensions() {
        let mut calls = CallCounter::new();
        calls.end("101");
        assert_eq!(calls.active("101"), 0);
        assert!(calls.try_start("101", 1));
        assert!(calls.is_busy("101"));
        calls.end("101");
        calls.end("101");
        assert!(!calls.is_busy("101"));
        assert!(calls.snapshot().is_empty());
        assert!(calls.try_start("101", 1));
    }

    #[test]
    fn refused_start_does_not_count() {
        let mut calls = CallCounter::new();
        assert!(calls.try_start("101", 1));
        assert!(!calls.try_start("101", 1));
        assert_eq!(calls.snapshot(), vec![("101".to_string(), 1)]);
    }

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
