//! Dial-time call features of one extension: All Reject Mode (one device declining ends the
//! ringing everywhere with BUSY), staggered ring (a delay per device type and for the remote
//! side), and which call MultiregFlip takes over. Options, the split of a call's targets into
//! ring groups, and the table of calls under All Reject Mode; no FFI.
use std::collections::HashMap;

use crate::policy::classify::ClientType;

pub const MAX_RING_DELAY: u32 = 300;

/// The dial-time options of one `type=multireg` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialFeatures {
    /// Default no.
    pub all_reject_mode: bool,
    /// SIP codes that count as declining; default 486, 603.
    pub all_reject_codes: Vec<u16>,
    /// Seconds per device type of the primary, 0-300, default 0.
    pub ring_delay_ip_phone: u32,
    pub ring_delay_web: u32,
    pub ring_delay_desktop: u32,
    pub ring_delay_mobile: u32,
    /// Seconds for the remote side (secondary or remote destination), 0-300, default 0.
    pub ring_delay_remote: u32,
}

impl Default for DialFeatures {
    fn default() -> Self {
        DialFeatures {
            all_reject_mode: false,
            all_reject_codes: vec![486, 603],
            ring_delay_ip_phone: 0,
            ring_delay_web: 0,
            ring_delay_desktop: 0,
            ring_delay_mobile: 0,
            ring_delay_remote: 0,
        }
    }
}

fn parse_delay(value: &str) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(seconds) if seconds <= MAX_RING_DELAY => Ok(seconds),
        _ => Err(format!("'{value}' is not a number of seconds from 0 to {MAX_RING_DELAY}")),
    }
}

fn parse_codes(value: &str) -> Result<Vec<u16>, String> {
    let mut codes = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.parse::<u16>() {
            Ok(code @ 400..=699) => {
                if !codes.contains(&code) {
                    codes.push(code)
                }
            }
            _ => return Err(format!("'{part}' is not a SIP final response code from 400 to 699")),
        }
    }
    if codes.is_empty() {
        return Err("at least one SIP code is needed (turn all_reject_mode off instead)".into());
    }
    Ok(codes)
}

impl DialFeatures {
    /// Applies one option of this file; None when the option is not one of them.
    pub fn apply_option(
        &mut self,
        option: &str,
        value: &str,
        parse_bool: fn(&str) -> Result<bool, String>,
    ) -> Option<Result<(), String>> {
        let result = match option {
            "all_reject_mode" => parse_bool(value).map(|v| self.all_reject_mode = v),
            "all_reject_codes" => parse_codes(value).map(|v| self.all_reject_codes = v),
            "ring_delay_ip_phone" => parse_delay(value).map(|v| self.ring_delay_ip_phone = v),
            "ring_delay_web" => parse_delay(value).map(|v| self.ring_delay_web = v),
            "ring_delay_desktop" => parse_delay(value).map(|v| self.ring_delay_desktop = v),
            "ring_delay_mobile" => parse_delay(value).map(|v| self.ring_delay_mobile = v),
            "ring_delay_remote" => parse_delay(value).map(|v| self.ring_delay_remote = v),
            _ => return None,
        };
        Some(result)
    }

    pub fn delay_of(&self, group: RingGroup) -> u32 {
        match group {
            RingGroup::Type(ClientType::IpPhone) => self.ring_delay_ip_phone,
            RingGroup::Type(ClientType::Web) => self.ring_delay_web,
            RingGroup::Type(ClientType::Desktop) => self.ring_delay_desktop,
            RingGroup::Type(ClientType::Mobile) => self.ring_delay_mobile,
            RingGroup::Remote => self.ring_delay_remote,
        }
    }

    pub fn staggered(&self) -> bool {
        RingGroup::ALL.iter().any(|group| self.delay_of(*group) > 0)
    }

    /// For `multireg show extension`: "486,603".
    pub fn codes_text(&self) -> String {
        self.all_reject_codes.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
    }

    /// For `multireg show extension`: "ip_phone 0, web 0, desktop 0, mobile 10, remote 0".
    pub fn delays_text(&self) -> String {
        RingGroup::ALL.iter().map(|group| format!("{} {}", group.as_str(), self.delay_of(*group))).collect::<Vec<_>>().join(", ")
    }
}

/// Who rings together: the primary's devices of one type, or the remote side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RingGroup {
    Type(ClientType),
    Remote,
}

impl RingGroup {
    pub const ALL: [RingGroup; 5] = [
        RingGroup::Type(ClientType::IpPhone),
        RingGroup::Type(ClientType::Web),
        RingGroup::Type(ClientType::Desktop),
        RingGroup::Type(ClientType::Mobile),
        RingGroup::Remote,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RingGroup::Type(client_type) => client_type.as_str(),
            RingGroup::Remote => "remote",
        }
    }
}

/// Targets that start ringing after `delay` seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelayedGroup {
    pub group: RingGroup,
    pub delay: u32,
    /// Dial targets (`&`-joined when dialled).
    pub targets: Vec<String>,
}

/// A call's targets split by delay: what rings at once, and the groups that start later (each
/// dialled through a Local channel that waits first), shortest delay first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Staggered {
    pub at_once: Vec<String>,
    pub later: Vec<DelayedGroup>,
}

/// One dial target and the group it belongs to (the module classifies contacts).
pub struct GroupedTarget {
    pub target: String,
    pub group: RingGroup,
}

/// Splits targets by their group's delay. Groups with the same delay stay separate (each rings
/// on its own Local channel), so the CLI and logs can name them.
pub fn stagger(targets: Vec<GroupedTarget>, features: &DialFeatures) -> Staggered {
    let mut staggered = Staggered::default();
    for GroupedTarget { target, group } in targets {
        let delay = features.delay_of(group);
        if delay == 0 {
            staggered.at_once.push(target);
        } else if let Some(existing) = staggered.later.iter_mut().find(|g| g.group == group) {
            existing.targets.push(target);
        } else {
            staggered.later.push(DelayedGroup { group, delay, targets: vec![target] });
        }
    }
    staggered.later.sort_by_key(|g| (g.delay, g.group));
    staggered
}

/// The endpoint named by a `PJSIP/<endpoint>/<uri>` dial target.
pub fn target_endpoint(target: &str) -> Option<&str> {
    target.strip_prefix("PJSIP/")?.split('/').next()
}

/// The SIP code a declining device sent, from what Asterisk recorded: the response code when the
/// calling channel holds it, else the hangup cause Asterisk maps it to (17 user busy = 486,
/// 21 call rejected = 603; the mapping of res_pjsip's `ast_sip_hangup_sip2cause`).
pub fn decline_code(recorded_sip_code: u16, hangup_cause: i32) -> Option<u16> {
    if (400..=699).contains(&recorded_sip_code) {
        return Some(recorded_sip_code);
    }
    match hangup_cause {
        17 => Some(486),
        21 => Some(603),
        _ => None,
    }
}

/// Whether a final dial status may be a device declining (not an answer or a cancel).
pub fn is_decline_status(dialstatus: &str) -> bool {
    matches!(dialstatus, "BUSY" | "NOANSWER" | "CHANUNAVAIL" | "CONGESTION")
}

/// The most calls under All Reject Mode at once (each MultiregDial and each delayed group of it
/// counts one dialling channel); beyond it a call rings without All Reject Mode (logged).
pub const MAX_DIALERS: usize = 4096;
/// The most ringing channels one call tracks.
pub const MAX_PEERS_PER_CALL: usize = 64;

/// A call under All Reject Mode.
#[derive(Debug, Clone, Default)]
struct RejectCall {
    codes: Vec<u16>,
    /// Unique ids of the channels ringing for it (devices and Local channels of delayed groups).
    peers: Vec<String>,
    /// The device that declined, and its code.
    declined: Option<(String, u16)>,
    /// Dialling channels of this call (the caller and delayed groups' Local channels).
    dialers: usize,
    /// Names of the caller's own device channels rung (bounded like `peers`), to read their
    /// answers when the call ends.
    names: Vec<String>,
}

/// How a call under All Reject Mode ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RejectOutcome {
    /// The device that declined and its code, when one did while others still rang.
    pub declined: Option<(String, u16)>,
    /// Device channels the caller rang directly (to check their answers).
    pub rung: Vec<String>,
    pub codes: Vec<u16>,
}

/// What to do about a final dial status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectStep {
    /// Not ours, or nothing to do.
    Ignore,
    /// A device of an All Reject call ended without answering: ask for its SIP code.
    AskCode { call: String, codes: Vec<u16> },
}

/// Calls under All Reject Mode, by dialling channel: every event is one hash lookup.
#[derive(Debug, Default)]
pub struct RejectTable {
    /// Dialling channel's unique id → the call (its caller's unique id).
    dialers: HashMap<String, String>,
    calls: HashMap<String, RejectCall>,
}

impl RejectTable {
    pub fn is_empty(&self) -> bool {
        self.dialers.is_empty()
    }

    /// A new call: `caller` dials with these codes. False when the table is full.
    pub fn start_call(&mut self, caller: &str, codes: &[u16]) -> bool {
        if self.dialers.len() >= MAX_DIALERS || self.dialers.contains_key(caller) {
            return false;
        }
        self.dialers.insert(caller.to_string(), caller.to_string());
        self.calls.insert(caller.to_string(), RejectCall { codes: codes.to_vec(), dialers: 1, ..Default::default() });
        true
    }

    /// A delayed group's Local channel `dialer` starts dialling for `call`. False if the call is
    /// over or the table full.
    pub fn join_call(&mut self, call: &str, dialer: &str) -> bool {
        if self.dialers.len() >= MAX_DIALERS || self.dialers.contains_key(dialer) {
            return false;
        }
        let Some(entry) = self.calls.get_mut(call) else { return false };
        entry.dialers += 1;
        self.dialers.insert(dialer.to_string(), call.to_string());
        true
    }

    /// A dialling channel finished; the call ends with its last dialler. The caller leaving
    /// gets the outcome.
    pub fn leave(&mut self, dialer: &str) -> Option<RejectOutcome> {
        let call = self.dialers.remove(dialer)?;
        let entry = self.calls.get_mut(&call)?;
        entry.dialers = entry.dialers.saturating_sub(1);
        let outcome = (dialer == call).then(|| RejectOutcome {
            declined: entry.declined.clone(),
            rung: std::mem::take(&mut entry.names),
            codes: entry.codes.clone(),
        });
        if entry.dialers == 0 {
            self.calls.remove(&call);
        }
        outcome
    }

    /// A dial message: `dialer` rings `peer` (status empty) or `peer` ended with `status`.
    pub fn on_dial(&mut self, dialer: &str, peer: &str, peer_name: &str, status: &str) -> RejectStep {
        let Some(call) = self.dialers.get(dialer) else { return RejectStep::Ignore };
        let Some(entry) = self.calls.get_mut(call) else { return RejectStep::Ignore };
        if status.is_empty() {
            if entry.peers.len() < MAX_PEERS_PER_CALL && !entry.peers.iter().any(|p| p == peer) {
                entry.peers.push(peer.to_string());
                if dialer == call && !peer_name.starts_with("Local/") {
                    entry.names.push(peer_name.to_string());
                }
            }
            return RejectStep::Ignore;
        }
        if !is_decline_status(status) {
            return RejectStep::Ignore;
        }
        entry.peers.retain(|p| p != peer);
        if entry.declined.is_some() {
            return RejectStep::Ignore;
        }
        RejectStep::AskCode { call: call.clone(), codes: entry.codes.clone() }
    }

    /// `device` of `call` declined with `code` (one of its codes): the channels to stop, once.
    pub fn declined(&mut self, call: &str, device: &str, code: u16) -> Vec<String> {
        let Some(entry) = self.calls.get_mut(call) else { return Vec::new() };
        if entry.declined.is_some() || !entry.codes.contains(&code) {
            return Vec::new();
        }
        entry.declined = Some((device.to_string(), code));
        std::mem::take(&mut entry.peers)
    }

    pub fn len(&self) -> usize {
        self.dialers.len()
    }
}

/// Which call MultiregFlip takes over: the channels of the extension's devices that are in a
/// call (`bridged`, as Asterisk lists them), minus the dialling channel itself. The most recent
/// one (last listed) wins when there are several.
pub fn flip_candidate<'a>(bridged: &'a [String], own_channel: &str) -> Option<&'a str> {
    bridged.iter().rev().map(String::as_str).find(|name| *name != own_channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_bool(value: &str) -> Result<bool, String> {
        match value {
            "yes" => Ok(true),
            "no" => Ok(false),
            _ => Err("bad".into()),
        }
    }

    #[test]
    fn options_parse_with_ranges() {
        let mut features = DialFeatures::default();
        assert_eq!(features.all_reject_codes, vec![486, 603]);
        assert!(features.apply_option("all_reject_mode", "yes", parse_bool).unwrap().is_ok());
        assert!(features.all_reject_mode);
        assert!(features.apply_option("all_reject_codes", "486, 600,603,486", parse_bool).unwrap().is_ok());
        assert_eq!(features.all_reject_codes, vec![486, 600, 603]);
        assert!(features.apply_option("all_reject_codes", "200", parse_bool).unwrap().is_err());
        assert!(features.apply_option("all_reject_codes", "", parse_bool).unwrap().is_err());
        assert!(features.apply_option("ring_delay_mobile", "10", parse_bool).unwrap().is_ok());
        assert!(features.apply_option("ring_delay_remote", "301", parse_bool).unwrap().unwrap_err().contains("0 to 300"));
        assert!(features.apply_option("ring_delay_web", "-1", parse_bool).unwrap().is_err());
        assert!(features.apply_option("max_ip_phones", "1", parse_bool).is_none());
        assert!(features.staggered());
        assert_eq!(features.delays_text(), "ip_phone 0, web 0, desktop 0, mobile 10, remote 0");
    }

    #[test]
    fn bad_values_name_section_and_option() {
        let options = |pairs: &[(&str, &str)]| pairs.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect::<Vec<_>>();
        let errors = crate::policy::config::parse_section(
            "101",
            &options(&[("ring_delay_mobile", "301"), ("all_reject_codes", "486,abc")]),
        )
        .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(text.iter().any(|e| e.contains("[101], option 'ring_delay_mobile'")), "{text:?}");
        assert!(text.iter().any(|e| e.contains("option 'all_reject_codes': 'abc'")), "{text:?}");
        let config =
            crate::policy::config::parse_section("101", &options(&[("all_reject_mode", "yes"), ("ring_delay_remote", "15")]))
                .unwrap();
        assert!(config.dial.all_reject_mode && config.dial.ring_delay_remote == 15 && config.dial.staggered());
        assert!(!DialFeatures::default().staggered());
    }

    #[test]
    fn targets_split_by_delay() {
        let features = DialFeatures { ring_delay_mobile: 10, ring_delay_remote: 5, ..Default::default() };
        let target = |t: &str, group| GroupedTarget { target: t.into(), group };
        let staggered = stagger(
            vec![
                target("PJSIP/101/sip:phone@h", RingGroup::Type(ClientType::IpPhone)),
                target("PJSIP/101/sip:app@h", RingGroup::Type(ClientType::Mobile)),
                target("PJSIP/101/sip:app2@h", RingGroup::Type(ClientType::Mobile)),
                target("PJSIP/101r/sip:r@h", RingGroup::Remote),
                target("PJSIP/101/sip:web@h", RingGroup::Type(ClientType::Web)),
            ],
            &features,
        );
        assert_eq!(staggered.at_once, vec!["PJSIP/101/sip:phone@h", "PJSIP/101/sip:web@h"]);
        assert_eq!(staggered.later.len(), 2);
        assert_eq!((staggered.later[0].group, staggered.later[0].delay), (RingGroup::Remote, 5));
        assert_eq!(staggered.later[1].targets, vec!["PJSIP/101/sip:app@h", "PJSIP/101/sip:app2@h"]);
        assert_eq!(target_endpoint("PJSIP/101r/sip:r@h"), Some("101r"));
        assert_eq!(target_endpoint("Local/1@x"), None);
    }

    #[test]
    fn decline_codes_from_what_asterisk_recorded() {
        assert_eq!(decline_code(603, 21), Some(603));
        assert_eq!(decline_code(0, 17), Some(486));
        assert_eq!(decline_code(0, 21), Some(603));
        assert_eq!(decline_code(0, 16), None);
        assert!(is_decline_status("BUSY") && !is_decline_status("ANSWER") && !is_decline_status("CANCEL"));
    }

    #[test]
    fn one_decline_stops_every_other_device_once() {
        let mut table = RejectTable::default();
        assert!(table.start_call("caller", &[486, 603]));
        assert!(!table.start_call("caller", &[486]));
        for (peer, name) in [("a", "PJSIP/101-1"), ("b", "PJSIP/101-2"), ("local1", "Local/100@c-1;1")] {
            assert_eq!(table.on_dial("caller", peer, name, ""), RejectStep::Ignore);
        }
        assert!(table.join_call("caller", "local2"));
        assert_eq!(table.on_dial("local2", "d", "PJSIP/101-3", ""), RejectStep::Ignore);
        assert_eq!(table.on_dial("stranger", "x", "PJSIP/9-1", "BUSY"), RejectStep::Ignore);
        assert_eq!(table.on_dial("caller", "a", "PJSIP/101-1", "RINGING"), RejectStep::Ignore);
        let step = table.on_dial("caller", "a", "PJSIP/101-1", "BUSY");
        assert_eq!(step, RejectStep::AskCode { call: "caller".into(), codes: vec![486, 603] });
        assert!(table.declined("caller", "PJSIP/101-1", 480).is_empty(), "480 is not a decline here");
        let mut stopped = table.declined("caller", "PJSIP/101-1", 603);
        stopped.sort();
        assert_eq!(stopped, vec!["b", "d", "local1"]);
        assert!(table.declined("caller", "PJSIP/101-2", 486).is_empty(), "only the first decline acts");
        assert_eq!(table.on_dial("caller", "b", "PJSIP/101-2", "BUSY"), RejectStep::Ignore);
        assert_eq!(table.leave("local2"), None);
        let outcome = table.leave("caller").unwrap();
        assert_eq!(outcome.declined, Some(("PJSIP/101-1".into(), 603)));
        assert_eq!(outcome.rung, vec!["PJSIP/101-1", "PJSIP/101-2"], "Local channels are not devices");
        assert!(table.is_empty());
        assert!(!table.join_call("caller", "late"), "a group starting after the call ended is not tracked");
    }

    #[test]
    fn the_table_is_bounded() {
        let mut table = RejectTable::default();
        for n in 0..MAX_DIALERS {
            assert!(table.start_call(&n.to_string(), &[486]));
        }
        assert!(!table.start_call("one more", &[486]));
        assert!(!table.start_call("0", &[486]), "already in the table");
        table.leave("0");
        assert!(table.start_call("one more", &[486]));
        for n in 0..200 {
            table.on_dial("1", &n.to_string(), "PJSIP/x", "");
        }
        assert_eq!(table.calls["1"].peers.len(), MAX_PEERS_PER_CALL);
    }

    #[test]
    fn flip_takes_another_devices_call() {
        let bridged = vec!["PJSIP/101-0001".to_string(), "PJSIP/101r-0002".to_string()];
        assert_eq!(flip_candidate(&bridged, "PJSIP/101-0003"), Some("PJSIP/101r-0002"));
        assert_eq!(flip_candidate(&bridged, "PJSIP/101r-0002"), Some("PJSIP/101-0001"));
        assert_eq!(flip_candidate(&bridged[..1], "PJSIP/101-0001"), None);
        assert_eq!(flip_candidate(&[], "PJSIP/101-0001"), None);
    }
}
