//! Why a device left an extension, for `MultiregDeviceUnregistered`: the module notes its own
//! removals (a device replaced at the limit or moved, a remote logout) just before it deletes the
//! contact; the contact observer later takes that note, or tells expiry from removal by the
//! contact's expiration time. The table is bounded and its notes are short-lived.
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnregisterReason {
    /// Its registration ran out.
    Expired,
    /// The device unregistered (Expires: 0) or someone removed the contact.
    Removed,
    /// The module removed it for another device (`at_limit = replace_oldest`, or the same
    /// device registering from a new address).
    Replaced,
    /// `multireg logout` / `MultiregLogout`.
    LoggedOut,
}

impl UnregisterReason {
    pub fn as_str(self) -> &'static str {
        match self {
            UnregisterReason::Expired => "expired",
            UnregisterReason::Removed => "removed",
            UnregisterReason::Replaced => "replaced",
            UnregisterReason::LoggedOut => "logged_out",
        }
    }
}

/// The reason for a contact that left the store: the module's own note if there is one, else
/// expired when its expiration time has come (the registrar prunes a second or so late), else
/// removed.
pub fn unregister_reason(noted: Option<UnregisterReason>, expiration_time: i64, now: i64) -> UnregisterReason {
    match noted {
        Some(reason) => reason,
        None if expiration_time > 0 && expiration_time <= now + 1 => UnregisterReason::Expired,
        None => UnregisterReason::Removed,
    }
}

/// How long a note waits for the contact observer.
const NOTE_SECONDS: u64 = 60;
/// Most notes kept; beyond it the oldest is dropped.
const MAX_NOTES: usize = 1024;

/// Notes of removals the module is making, by (AOR, Contact URI).
#[derive(Debug, Default)]
pub struct PendingReasons {
    notes: HashMap<(String, String), (UnregisterReason, u64)>,
    order: VecDeque<((String, String), u64)>,
}

impl PendingReasons {
    pub fn note(&mut self, aor: &str, uri: &str, reason: UnregisterReason, now: u64) {
        while let Some((key, at)) = self.order.front() {
            if self.notes.len() < MAX_NOTES && self.order.len() < 2 * MAX_NOTES && at + NOTE_SECONDS > now {
                break;
            }
            // Drop the note only if it is the one this order entry stands for.
            if self.notes.get(key).is_some_and(|(_, noted_at)| noted_at == at) {
                self.notes.remove(key);
            }
            self.order.pop_front();
        }
        let key = (aor.to_string(), uri.to_string());
        self.order.push_back((key.clone(), now));
        self.notes.insert(key, (reason, now));
    }

    pub fn take(&mut self, aor: &str, uri: &str, now: u64) -> Option<UnregisterReason> {
        let (reason, at) = self.notes.remove(&(aor.to_string(), uri.to_string()))?;
        (at + NOTE_SECONDS > now).then_some(reason)
    }

    pub fn len(&self) -> usize {
        self.notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.notes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn note_wins_then_expiry_then_removal() {
        assert_eq!(unregister_reason(Some(UnregisterReason::LoggedOut), 0, 100), UnregisterReason::LoggedOut);
        assert_eq!(unregister_reason(None, 100, 100), UnregisterReason::Expired);
        assert_eq!(unregister_reason(None, 99, 100), UnregisterReason::Expired);
        assert_eq!(unregister_reason(None, 3000, 100), UnregisterReason::Removed);
        assert_eq!(UnregisterReason::LoggedOut.as_str(), "logged_out");
    }

    #[test]
    fn notes_are_taken_once_expire_and_stay_bounded() {
        let mut pending = PendingReasons::default();
        pending.note("101", "sip:a@h", UnregisterReason::Replaced, 1000);
        assert_eq!(pending.take("101", "sip:a@h", 1001), Some(UnregisterReason::Replaced));
        assert_eq!(pending.take("101", "sip:a@h", 1001), None);
        pending.note("101", "sip:b@h", UnregisterReason::LoggedOut, 1000);
        assert_eq!(pending.take("101", "sip:b@h", 1000 + NOTE_SECONDS), None, "too old");
        for n in 0..(MAX_NOTES * 3) {
            pending.note("101", &format!("sip:{n}@h"), UnregisterReason::Replaced, 2000);
        }
        assert!(pending.len() <= MAX_NOTES);
        assert_eq!(pending.take("101", &format!("sip:{}@h", MAX_NOTES * 3 - 1), 2000), Some(UnregisterReason::Replaced));
    }
}
