//! Whether a REGISTER may add devices to an AOR, given per-type (or total) device limits.
//!
//! Rules:
//! - An unregister is always admitted.
//! - A refresh (same Contact URI, or same `+sip.instance`) of a registered device of the same type
//!   never counts twice and is always admitted, even when a lowered limit leaves the type over its
//!   limit: devices already registered stay until they unregister or expire; only new devices are
//!   refused (or replace the oldest) until the count is below the limit again.
//! - A device that re-registers as a different type counts as a new device of the new type.
//! - A device that comes back with the same `+sip.instance` but a new Contact URI (new address)
//!   is a refresh; its stale binding is listed in `replace` so it does not linger as a second device.
//!
//! `decide` is pure: to hold limits exactly under concurrency, call it and apply its result while
//! holding one lock per AOR, with `current` read inside that lock.
use crate::policy::classify::ClientType;

/// Concurrent registrations allowed per client type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeLimits {
    pub ip_phone: u32,
    pub web: u32,
    pub desktop: u32,
    pub mobile: u32,
}

/// One device of each type: an extension without explicit limits behaves sensibly.
pub const DEFAULT_LIMITS: TypeLimits = TypeLimits { ip_phone: 1, web: 1, desktop: 1, mobile: 1 };

impl TypeLimits {
    pub fn get(&self, client_type: ClientType) -> u32 {
        match client_type {
            ClientType::IpPhone => self.ip_phone,
            ClientType::Web => self.web,
            ClientType::Desktop => self.desktop,
            ClientType::Mobile => self.mobile,
        }
    }

    /// Most devices the AOR can hold at once (compare with the AOR's `max_contacts`).
    pub fn total(&self) -> u32 {
        ClientType::ALL.iter().map(|t| self.get(*t)).sum()
    }
}

/// What a new device meets when its type is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AtLimit {
    /// 403 for the newcomer; registered devices stay (default: an unknown device never kicks the desk phone).
    #[default]
    Reject,
    /// The longest-registered device(s) of that type are removed to make room.
    ReplaceOldest,
}

impl AtLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            AtLimit::Reject => "reject",
            AtLimit::ReplaceOldest => "replace_oldest",
        }
    }

    pub fn parse(value: &str) -> Option<AtLimit> {
        match value.trim().to_ascii_lowercase().as_str() {
            "reject" => Some(AtLimit::Reject),
            "replace_oldest" => Some(AtLimit::ReplaceOldest),
            _ => None,
        }
    }
}

/// How an AOR is limited: per client type (primary), or all devices together (the secondary "r" AOR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitScheme {
    PerType(TypeLimits),
    Total(u32),
}

impl LimitScheme {
    fn bucket(&self, client_type: ClientType) -> Option<ClientType> {
        match self {
            LimitScheme::PerType(_) => Some(client_type),
            LimitScheme::Total(_) => None,
        }
    }

    fn limit(&self, bucket: Option<ClientType>) -> u32 {
        match (self, bucket) {
            (LimitScheme::PerType(limits), Some(t)) => limits.get(t),
            (LimitScheme::PerType(limits), None) => limits.total(),
            (LimitScheme::Total(max), _) => *max,
        }
    }

    fn describe(bucket: Option<ClientType>) -> &'static str {
        bucket.map_or("device", ClientType::display_name)
    }
}

/// A device registered on the AOR now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub contact_uri: String,
    pub instance_id: Option<String>,
    pub client_type: ClientType,
    /// When the device first registered (seconds); refreshes do not change it.
    pub registered_at: u64,
    pub expires_at: u64,
}

/// One Contact of the incoming REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingBinding {
    /// "*" for a wildcard unregister.
    pub contact_uri: String,
    pub instance_id: Option<String>,
    pub client_type: ClientType,
    pub is_unregister: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Let the registrar proceed, after removing these contact URIs from the AOR.
    Admit {
        replace: Vec<String>,
    },
    Reject {
        status: u16,
        reason: String,
    },
}

/// `+sip.instance` values compare without quotes and angle brackets, case-insensitively.
fn normalized_instance(instance: &Option<String>) -> Option<String> {
    let value = instance.as_deref()?.trim().trim_matches('"').trim_start_matches('<').trim_end_matches('>').trim();
    (!value.is_empty()).then(|| value.to_ascii_lowercase())
}

fn same_device(record: &DeviceRecord, binding: &IncomingBinding) -> bool {
    record.contact_uri == binding.contact_uri
        || matches!((normalized_instance(&record.instance_id), normalized_instance(&binding.instance_id)), (Some(a), Some(b)) if a == b)
}

/// Decides one REGISTER. Devices whose `expires_at <= now` are treated as gone.
pub fn decide(
    current: &[DeviceRecord],
    incoming: &[IncomingBinding],
    scheme: &LimitScheme,
    at_limit: AtLimit,
    now: u64,
) -> Decision {
    let mut live: Vec<&DeviceRecord> = current.iter().filter(|d| d.expires_at > now).collect();
    // Unregisters first: a REGISTER that removes one device and adds another frees the slot it uses.
    for binding in incoming.iter().filter(|b| b.is_unregister) {
        live.retain(|d| binding.contact_uri != "*" && !same_device(d, binding));
    }
    let mut replace: Vec<String> = Vec::new();
    // Devices refreshed by this request: still registered, and never chosen for replacement.
    let mut refreshed: Vec<(Option<ClientType>, &str)> = Vec::new();
    let mut newcomers: Vec<&IncomingBinding> = Vec::new();
    for binding in incoming.iter().filter(|b| !b.is_unregister) {
        let existing: Vec<&DeviceRecord> = live.iter().copied().filter(|d| same_device(d, binding)).collect();
        let is_refresh = existing.iter().any(|d| d.client_type == binding.client_type);
        for stale in existing.iter().filter(|d| d.contact_uri != binding.contact_uri) {
            replace.push(stale.contact_uri.clone());
        }
        // The binding's old entries no longer count: it is either refreshed below or counted as new.
        live.retain(|d| !same_device(d, binding));
        if is_refresh {
            if !refreshed.iter().any(|(_, uri)| *uri == binding.contact_uri) {
                refreshed.push((scheme.bucket(binding.client_type), &binding.contact_uri));
            }
        } else if !newcomers.iter().any(|n| n.contact_uri == binding.contact_uri) {
            newcomers.push(binding);
        }
    }
    let mut admitted: Vec<Option<ClientType>> = Vec::new();
    for binding in newcomers {
        let bucket = scheme.bucket(binding.client_type);
        let limit = scheme.limit(bucket);
        let in_bucket = |d: &&DeviceRecord| scheme.bucket(d.client_type) == bucket;
        let count = live.iter().copied().filter(in_bucket).count()
            + refreshed.iter().filter(|(b, _)| *b == bucket).count()
            + admitted.iter().filter(|b| **b == bucket).count();
        if (count as u64) < u64::from(limit) {
            admitted.push(bucket);
            continue;
        }
        let mut candidates: Vec<&DeviceRecord> = live.iter().copied().filter(in_bucket).collect();
        candidates.sort_by(|a, b| (a.registered_at, &a.contact_uri).cmp(&(b.registered_at, &b.contact_uri)));
        let must_free = count + 1 - limit as usize;
        if at_limit == AtLimit::Reject || limit == 0 || candidates.len() < must_free {
            return reject(bucket, limit);
        }
        for victim in candidates.into_iter().take(must_free) {
            replace.push(victim.contact_uri.clone());
            live.retain(|d| d.contact_uri != victim.contact_uri);
        }
        admitted.push(bucket);
    }
    replace.sort();
    replace.dedup();
    Decision::Admit { replace }
}

fn reject(bucket: Option<ClientType>, limit: u32) -> Decision {
    let reason = if limit == 0 {
        format!("Forbidden - {} not allowed (limit 0)", LimitScheme::describe(bucket))
    } else {
        format!("Forbidden - {} limit {limit} reached", LimitScheme::describe(bucket))
    };
    Decision::Reject { status: 403, reason }
}

/// `decide` with the per-type limits, under an overall device cap as well (the secondary's AOR).
/// The cap is checked first; devices it replaces no longer count against the per-type limit.
pub fn decide_capped(
    current: &[DeviceRecord],
    incoming: IncomingBinding,
    limits: &TypeLimits,
    cap: Option<u32>,
    at_limit: AtLimit,
    now: u64,
) -> Decision {
    let per_type = LimitScheme::PerType(*limits);
    let Some(cap) = cap else {
        return decide(current, &[incoming], &per_type, at_limit, now);
    };
    match decide(current, std::slice::from_ref(&incoming), &LimitScheme::Total(cap), at_limit, now) {
        Decision::Admit { mut replace } => {
            let remaining: Vec<DeviceRecord> = current.iter().filter(|r| !replace.contains(&r.contact_uri)).cloned().collect();
            match decide(&remaining, &[incoming], &per_type, at_limit, now) {
                Decision::Admit { replace: more } => {
                    replace.extend(more);
                    Decision::Admit { replace }
                }
                reject => reject,
            }
        }
        reject => reject,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn capped_decision_applies_cap_then_per_type_limits() {
        let phone = |uri: &str, at: u64| DeviceRecord {
            contact_uri: uri.into(),
            instance_id: None,
            client_type: ClientType::IpPhone,
            registered_at: at,
            expires_at: 1000,
        };
        let new = |t: ClientType| IncomingBinding {
            contact_uri: "new".into(),
            instance_id: None,
            client_type: t,
            is_unregister: false,
        };
        let limits = TypeLimits { ip_phone: 1, web: 1, desktop: 1, mobile: 1 };
        // Cap 1 reached: refused, naming the device limit.
        match decide_capped(&[phone("a", 1)], new(ClientType::Web), &limits, Some(1), AtLimit::Reject, 10) {
            Decision::Reject { reason, .. } => assert!(reason.contains("limit 1"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // Cap 3 leaves room, but the per-type limit of 1 IP phone still applies.
        assert!(matches!(
            decide_capped(&[phone("a", 1)], new(ClientType::IpPhone), &limits, Some(3), AtLimit::Reject, 10),
            Decision::Reject { .. }
        ));
        assert_eq!(
            decide_capped(&[phone("a", 1)], new(ClientType::Web), &limits, Some(3), AtLimit::Reject, 10),
            Decision::Admit { replace: vec![] }
        );
        // replace_oldest under the cap replaces once, and the per-type check sees the freed slot.
        assert_eq!(
            decide_capped(&[phone("a", 1)], new(ClientType::IpPhone), &limits, Some(1), AtLimit::ReplaceOldest, 10),
            Decision::Admit { replace: vec!["a".to_string()] }
        );
        // No cap: plain per-type decision.
        assert!(matches!(
            decide_capped(&[phone("a", 1)], new(ClientType::IpPhone), &limits, None, AtLimit::Reject, 10),
            Decision::Reject { .. }
        ));
    }

    use super::*;
    use ClientType::*;

    const NOW: u64 = 1_000;

    fn device(uri: &str, client_type: ClientType, registered_at: u64) -> DeviceRecord {
        DeviceRecord { contact_uri: uri.into(), instance_id: None, client_type, registered_at, expires_at: NOW + 300 }
    }

    fn new(uri: &str, client_type: ClientType) -> IncomingBinding {
        IncomingBinding { contact_uri: uri.into(), instance_id: None, client_type, is_unregister: false }
    }

    fn gone(uri: &str) -> IncomingBinding {
        IncomingBinding { is_unregister: true, ..new(uri, IpPhone) }
    }

    fn per_type(ip_phone: u32, web: u32, desktop: u32, mobile: u32) -> LimitScheme {
        LimitScheme::PerType(TypeLimits { ip_phone, web, desktop, mobile })
    }

    fn admit(replace: &[&str]) -> Decision {
        Decision::Admit { replace: replace.iter().map(|s| s.to_string()).collect() }
    }

    fn rejected(reason: &str) -> Decision {
        Decision::Reject { status: 403, reason: reason.into() }
    }

    fn three_web() -> Vec<DeviceRecord> {
        vec![device("sip:w1@h", Web, 30), device("sip:w2@h", Web, 10), device("sip:w3@h", Web, 20)]
    }

    #[test]
    fn admits_below_limit_and_rejects_at_it() {
        let scheme = per_type(5, 3, 3, 3);
        assert_eq!(decide(&three_web()[..2], &[new("sip:w4@h", Web)], &scheme, AtLimit::Reject, NOW), admit(&[]));
        assert_eq!(
            decide(&three_web(), &[new("sip:w4@h", Web)], &scheme, AtLimit::Reject, NOW),
            rejected("Forbidden - web client limit 3 reached")
        );
        // Other types are unaffected by a full web bucket.
        assert_eq!(decide(&three_web(), &[new("sip:m@h", Mobile)], &scheme, AtLimit::Reject, NOW), admit(&[]));
    }

    #[test]
    fn zero_limit_refuses_even_with_replace_oldest() {
        let d = decide(&[], &[new("sip:p@h", IpPhone)], &per_type(0, 3, 3, 3), AtLimit::ReplaceOldest, NOW);
        assert_eq!(d, rejected("Forbidden - IP phone not allowed (limit 0)"));
    }

    #[test]
    fn replace_oldest_removes_longest_registered() {
        let d = decide(&three_web(), &[new("sip:w4@h", Web)], &per_type(5, 3, 3, 3), AtLimit::ReplaceOldest, NOW);
        assert_eq!(d, admit(&["sip:w2@h"]));
    }

    #[test]
    fn refresh_by_uri_or_instance_never_counts_twice() {
        let scheme = per_type(5, 3, 3, 3);
        assert_eq!(decide(&three_web(), &[new("sip:w1@h", Web)], &scheme, AtLimit::Reject, NOW), admit(&[]));
        let mut devices = three_web();
        devices[0].instance_id = Some("\"<urn:uuid:AB>\"".into());
        let moved = IncomingBinding { instance_id: Some("<urn:uuid:ab>".into()), ..new("sip:w1@newaddr", Web) };
        // Same device from a new address: admitted, stale binding removed.
        assert_eq!(decide(&devices, &[moved], &scheme, AtLimit::Reject, NOW), admit(&["sip:w1@h"]));
    }

    #[test]
    fn unregister_always_admitted_and_frees_a_slot() {
        let scheme = per_type(5, 3, 3, 3);
        assert_eq!(decide(&three_web(), &[gone("sip:nobody@h")], &scheme, AtLimit::Reject, NOW), admit(&[]));
        let d = decide(&three_web(), &[gone("sip:w1@h"), new("sip:w4@h", Web)], &scheme, AtLimit::Reject, NOW);
        assert_eq!(d, admit(&[]));
        let d = decide(&three_web(), &[gone("*"), new("sip:w4@h", Web)], &scheme, AtLimit::Reject, NOW);
        assert_eq!(d, admit(&[]));
    }

    #[test]
    fn expired_devices_do_not_count() {
        let mut devices = three_web();
        devices[2].expires_at = NOW;
        assert_eq!(decide(&devices, &[new("sip:w4@h", Web)], &per_type(5, 3, 3, 3), AtLimit::Reject, NOW), admit(&[]));
    }

    #[test]
    fn several_new_contacts_in_one_register_count_together() {
        let scheme = per_type(5, 3, 3, 3);
        let batch = [new("sip:a@h", Web), new("sip:b@h", Web)];
        assert_eq!(decide(&three_web()[..1], &batch, &scheme, AtLimit::Reject, NOW), admit(&[]));
        assert_eq!(
            decide(&three_web()[..2], &batch, &scheme, AtLimit::Reject, NOW),
            rejected("Forbidden - web client limit 3 reached")
        );
        // A duplicated Contact in one request is one device.
        let dup = [new("sip:a@h", Web), new("sip:a@h", Web)];
        assert_eq!(decide(&three_web()[..2], &dup, &scheme, AtLimit::Reject, NOW), admit(&[]));
    }

    #[test]
    fn replace_oldest_never_evicts_a_device_refreshing_in_same_request() {
        let batch = [new("sip:w2@h", Web), new("sip:w4@h", Web)];
        let d = decide(&three_web(), &batch, &per_type(5, 3, 3, 3), AtLimit::ReplaceOldest, NOW);
        assert_eq!(d, admit(&["sip:w3@h"]));
    }

    #[test]
    fn lowered_limit_keeps_existing_devices_refreshing_but_refuses_new() {
        let scheme = per_type(5, 1, 3, 3);
        assert_eq!(decide(&three_web(), &[new("sip:w3@h", Web)], &scheme, AtLimit::Reject, NOW), admit(&[]));
        assert_eq!(
            decide(&three_web(), &[new("sip:w9@h", Web)], &scheme, AtLimit::Reject, NOW),
            rejected("Forbidden - web client limit 1 reached")
        );
        // replace_oldest trims the type down so the newcomer fits within the new limit.
        let d = decide(&three_web(), &[new("sip:w9@h", Web)], &scheme, AtLimit::ReplaceOldest, NOW);
        assert_eq!(d, admit(&["sip:w1@h", "sip:w2@h", "sip:w3@h"]));
    }

    #[test]
    fn type_change_counts_as_new_device_of_new_type() {
        let devices = vec![device("sip:x@h", IpPhone, 1), device("sip:w@h", Web, 2)];
        let d = decide(&devices, &[new("sip:x@h", Web)], &per_type(5, 1, 3, 3), AtLimit::Reject, NOW);
        assert_eq!(d, rejected("Forbidden - web client limit 1 reached"));
        let d = decide(&devices, &[new("sip:x@h", Desktop)], &per_type(5, 1, 3, 3), AtLimit::Reject, NOW);
        assert_eq!(d, admit(&[]));
    }

    #[test]
    fn total_scheme_limits_all_types_together() {
        let devices = vec![device("sip:p@h", IpPhone, 1)];
        let d = decide(&devices, &[new("sip:m@h", Mobile)], &LimitScheme::Total(1), AtLimit::Reject, NOW);
        assert_eq!(d, rejected("Forbidden - device limit 1 reached"));
        let d = decide(&devices, &[new("sip:m@h", Mobile)], &LimitScheme::Total(1), AtLimit::ReplaceOldest, NOW);
        assert_eq!(d, admit(&["sip:p@h"]));
        assert_eq!(decide(&devices, &[new("sip:p@h", IpPhone)], &LimitScheme::Total(1), AtLimit::Reject, NOW), admit(&[]));
    }

    #[test]
    fn limits_helpers() {
        let limits = TypeLimits { ip_phone: 3, web: 3, desktop: 3, mobile: 2 };
        assert_eq!(limits.total(), 11);
        assert_eq!(limits.get(Mobile), 2);
        assert_eq!(AtLimit::parse(" Replace_Oldest "), Some(AtLimit::ReplaceOldest));
        assert_eq!(AtLimit::parse("kick"), None);
        assert_eq!(AtLimit::default(), AtLimit::Reject);
    }
}
