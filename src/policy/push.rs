//! RFC 8599 push wake-up, the pure part: the `pn-*` Contact URI parameters, push bindings and
//! their stored form, the Feature-Caps answer, which devices to wake for a call, and the JSON
//! body sent to a push gateway. No FFI here; module/push_bindings.rs and module/push_wake.rs glue.
use std::fmt::Write as _;

/// RFC 8599 section 4.1: the reason phrase of the 555 response.
pub const REASON_555: &str = "Push Notification Service Not Supported";

/// The dialplan context the module creates for the Local channels that wake a device.
pub const WAKE_CONTEXT: &str = "multireg-push";

/// The wake token of a `Local/<token>@multireg-push/n` dial target.
pub fn wake_token_of_target(target: &str) -> Option<&str> {
    let rest = target.strip_prefix("Local/")?;
    let (token, context) = rest.split_once('@')?;
    (context.split('/').next() == Some(WAKE_CONTEXT)).then_some(token)
}

/// RFC 8599 parameters of one Contact (`pn-provider` is required, the others depend on the PNS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushParams {
    pub provider: String,
    pub prid: String,
    pub param: String,
}

/// The value of URI parameter `name` (case-insensitive name; the value as sent).
pub fn uri_param<'a>(uri: &'a str, name: &str) -> Option<&'a str> {
    // Parameters follow the host; URI headers ('?') end them.
    let body = uri.split('?').next().unwrap_or("");
    let params = body.split_once(';').map(|(_, rest)| rest)?;
    params.split(';').find_map(|param| {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

/// The RFC 8599 parameters of a Contact: from its URI (where RFC 8599 puts them), else from
/// the header's parameters (some clients put them there). None without `pn-provider`.
pub fn push_params(uri: &str, header_params: &[(String, Option<String>)]) -> Option<PushParams> {
    let header = |name: &str| header_params.iter().find(|(n, _)| n == name).and_then(|(_, v)| v.as_deref());
    let get = |name: &str| uri_param(uri, name).or_else(|| header(name)).map(|v| v.trim_matches('"').to_string());
    let provider = get("pn-provider").filter(|p| !p.is_empty())?;
    Some(PushParams {
        provider: provider.to_ascii_lowercase(),
        prid: get("pn-prid").unwrap_or_default(),
        param: get("pn-param").unwrap_or_default(),
    })
}

/// `push_providers`: comma-separated provider names (apns, fcm, webpush, ...); empty = push off.
pub fn parse_providers(value: &str) -> Result<Vec<String>, String> {
    let mut providers = Vec::new();
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.len() > 32 || !name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
            return Err(format!("'{name}' is not a provider name (1-32 characters of A-Z a-z 0-9 - _ .)"));
        }
        let name = name.to_ascii_lowercase();
        if !providers.contains(&name) {
            providers.push(name);
        }
    }
    Ok(providers)
}

/// `push_gateway_url`: empty (AMI only), or an http:// or https:// URL without spaces.
pub fn parse_gateway_url(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    let lower = value.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    match rest {
        Some(rest)
            if !rest.is_empty() && !rest.starts_with('/') && !value.chars().any(|c| c.is_whitespace() || c.is_control()) =>
        {
            Ok(value.to_string())
        }
        _ => Err(format!("'{value}' is not an http:// or https:// URL")),
    }
}

/// `+sip.pnsreg`: seconds before its registration expires that a device refreshes it itself.
/// The module pushes for calls only, never to trigger a refresh.
pub const PNSREG_SECONDS: u32 = 120;

/// The Feature-Caps values (RFC 6809 form, one per provider) of a 2xx to a REGISTER: for push
/// Contacts, the provider used and `+sip.pnsreg`; for a capability query (`pn-provider` without
/// a value), every enabled provider.
pub fn feature_caps(providers: &[String], pnsreg: Option<u32>) -> Vec<String> {
    providers
        .iter()
        .map(|provider| match pnsreg {
            Some(seconds) => format!("*;+sip.pns=\"{provider}\";+sip.pnsreg=\"{seconds}\""),
            None => format!("*;+sip.pns=\"{provider}\""),
        })
        .collect()
}

/// Whether a Contact could carry RFC 8599 parameters at all: `pn-provider` in its URI (any case)
/// or among its header parameters. Every REGISTER asks; a Contact without it needs no more.
pub fn mentions_provider(uri: &str, header_params: &[(String, Option<String>)]) -> bool {
    super::contact_uri::mentions(uri, "pn-provider") || header_params.iter().any(|(name, _)| name == "pn-provider")
}

/// Whether a Contact asks which providers are supported (`pn-provider` present without a value).
pub fn is_capability_query(uri: &str, header_params: &[(String, Option<String>)]) -> bool {
    uri_param(uri, "pn-provider").is_some_and(str::is_empty)
        || header_params.iter().any(|(name, value)| name == "pn-provider" && value.as_deref().unwrap_or("").is_empty())
}

/// What the registrar does with the push parameters of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushCheck {
    /// No Contact names a provider (or push is off for the extension): nothing to do.
    NotPush,
    /// A Contact names a provider that is not enabled: 555.
    Unsupported(String),
    /// Push Contacts of enabled providers.
    Push,
}

/// `contacts`: (push parameters, whether the Contact removes its binding).
pub fn check_register(enabled: &[String], contacts: &[Option<PushParams>]) -> PushCheck {
    if enabled.is_empty() {
        return PushCheck::NotPush;
    }
    let mut any = false;
    for params in contacts.iter().flatten() {
        if !enabled.contains(&params.provider) {
            return PushCheck::Unsupported(params.provider.clone());
        }
        any = true;
    }
    if any {
        PushCheck::Push
    } else {
        PushCheck::NotPush
    }
}

/// A device that can be woken: kept after its contact expires, until `expires_at`, an
/// unregister, a logout or a replacement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushBinding {
    pub provider: String,
    pub prid: String,
    pub param: String,
    /// The Contact URI it registered with last (shown; new registrations may change it).
    pub contact: String,
    pub user_agent: String,
    /// The device's `+sip.instance` (normalised), empty when it sent none: a device that
    /// registers a new push token under the same instance replaces its old binding.
    pub instance: String,
    /// Unix seconds of its last REGISTER, and when the binding is forgotten.
    pub updated_at: u64,
    pub expires_at: u64,
}

impl PushBinding {
    /// The astdb key: one binding per provider and device token.
    pub fn key(&self) -> String {
        binding_key(&self.provider, &self.prid)
    }

    /// Whether `other` is the same device under a new push token (same `+sip.instance`).
    pub fn replaced_by(&self, other: &PushBinding) -> bool {
        self.key() == other.key() || (!self.instance.is_empty() && self.instance == other.instance)
    }

    /// Whether a stored contact belongs to this device (same provider and device token).
    pub fn is_device_of(&self, contact_uri: &str) -> bool {
        push_params(contact_uri, &[]).is_some_and(|p| p.provider == self.provider && p.prid == self.prid)
    }

    /// The stored value: fields joined by tabs, each percent-escaped.
    pub fn encode(&self) -> String {
        [
            "1",
            &self.provider,
            &self.prid,
            &self.param,
            &self.contact,
            &self.user_agent,
            &self.updated_at.to_string(),
            &self.expires_at.to_string(),
            &self.instance,
        ]
        .iter()
        .map(|f| escape(f))
        .collect::<Vec<_>>()
        .join("\t")
    }

    pub fn decode(value: &str) -> Option<PushBinding> {
        let fields: Vec<String> = value.split('\t').map(unescape).collect();
        let (fixed, instance) = match fields.len() {
            8 => (&fields[..], String::new()),
            9 => (&fields[..8], fields[8].clone()),
            _ => return None,
        };
        let [version, provider, prid, param, contact, user_agent, updated_at, expires_at] = fixed else {
            return None;
        };
        if version != "1" || provider.is_empty() {
            return None;
        }
        Some(PushBinding {
            provider: provider.clone(),
            prid: prid.clone(),
            param: param.clone(),
            contact: contact.clone(),
            user_agent: user_agent.clone(),
            updated_at: updated_at.parse().ok()?,
            expires_at: expires_at.parse().ok()?,
            instance,
        })
    }
}

/// The id of a binding in the sorcery type `multireg_push`: "<endpoint>;<key>".
pub fn store_id(endpoint: &str, binding: &PushBinding) -> String {
    format!("{endpoint};{}", binding.key())
}

impl PushBinding {
    /// The fields of its `multireg_push` object (a realtime row's columns).
    pub fn to_fields(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("endpoint", endpoint.to_string()),
            ("provider", self.provider.clone()),
            ("prid", self.prid.clone()),
            ("param", self.param.clone()),
            ("contact", self.contact.clone()),
            ("user_agent", self.user_agent.clone()),
            ("instance", self.instance.clone()),
            ("updated_at", self.updated_at.to_string()),
            ("expires_at", self.expires_at.to_string()),
        ]
    }

    /// (endpoint, binding) from a `multireg_push` object's fields; missing text fields are empty
    /// (a realtime store may leave them out), a missing endpoint, provider or time is an error.
    pub fn from_fields(fields: &[(String, String)]) -> Option<(String, PushBinding)> {
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let (endpoint, provider) = (field("endpoint"), field("provider"));
        if endpoint.is_empty() || provider.is_empty() {
            return None;
        }
        let binding = PushBinding {
            provider,
            prid: field("prid"),
            param: field("param"),
            contact: field("contact"),
            user_agent: field("user_agent"),
            instance: field("instance"),
            updated_at: field("updated_at").trim().parse().ok()?,
            expires_at: field("expires_at").trim().parse().ok()?,
        };
        Some((endpoint, binding))
    }
}

/// A short stable key for (provider, prid): FNV-1a 64 in hex (device tokens can be long).
pub fn binding_key(provider: &str, prid: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in provider.bytes().chain([0u8]).chain(prid.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

fn escape(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    for c in field.chars() {
        match c {
            '%' | '\t' | '\n' | '\r' | '/' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((high * 16 + low) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The bindings to wake for a call: those whose device has no live contact (all of them with
/// `push_always`). `live` are the contact URIs registered now.
pub fn bindings_to_wake<'a>(bindings: &'a [PushBinding], live: &[String], always: bool, now: u64) -> Vec<&'a PushBinding> {
    bindings
        .iter()
        .filter(|b| b.expires_at > now && !b.prid.is_empty())
        .filter(|b| always || !live.iter().any(|uri| b.is_device_of(uri)))
        .collect()
}

/// The first contact of the woken device that the call has not dialled already.
pub fn woken_contact<'a>(binding: &PushBinding, live: &'a [String], already_dialled: &[String]) -> Option<&'a String> {
    live.iter().find(|uri| binding.is_device_of(uri) && !already_dialled.contains(uri))
}

/// What a push request says (AMI event and gateway body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushRequest {
    pub extension: String,
    pub endpoint: String,
    pub provider: String,
    pub prid: String,
    pub param: String,
    pub caller_id_num: String,
    pub caller_id_name: String,
    pub linkedid: String,
    pub token: String,
    pub wait: u32,
}

impl PushRequest {
    /// The documented JSON body POSTed to `push_gateway_url`.
    pub fn json(&self) -> String {
        let fields: [(&str, &str); 9] = [
            ("event", "incoming_call"),
            ("extension", &self.extension),
            ("endpoint", &self.endpoint),
            ("provider", &self.provider),
            ("prid", &self.prid),
            ("param", &self.param),
            ("caller_id_num", &self.caller_id_num),
            ("caller_id_name", &self.caller_id_name),
            ("call_id", &self.linkedid),
        ];
        let mut out = String::from("{");
        for (name, value) in fields {
            let _ = write!(out, "\"{name}\":\"{}\",", json_escape(value));
        }
        let _ = write!(out, "\"wake_token\":\"{}\",\"wait_seconds\":{}}}", json_escape(&self.token), self.wait);
        out
    }
}

pub fn json_escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A wake token: 24 decimal digits from 79 random bits, so it is a dialplan extension that the
/// `_X.` pattern of the wake context matches, and hard to guess.
pub fn wake_token(random: [u8; 10]) -> String {
    let mut value = 0u128;
    let mut random = random;
    random[0] &= 0x7f; // 2^79 < 10^24: always 24 digits
    for byte in random {
        value = (value << 8) | u128::from(byte);
    }
    format!("{value:024}")
}

pub fn is_wake_token(value: &str) -> bool {
    value.len() == 24 && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_contacts_naming_a_provider_are_read_further() {
        let none: &[(String, Option<String>)] = &[];
        assert!(mentions_provider("sip:a@h;PN-Provider=apns;pn-prid=x", none));
        assert!(mentions_provider("sip:a@h;pn-provider", none));
        assert!(!mentions_provider("sip:a@h;pn-prid=x;transport=udp", none));
        assert!(!mentions_provider("sip:a@h", none));
        let header = [("pn-provider".to_string(), Some("fcm".to_string()))];
        assert!(mentions_provider("sip:a@h", &header));
        // Whatever push_params or is_capability_query reads, this sees first.
        for uri in ["sip:a@h;pn-provider=apns", "sip:a@h;Pn-PROVIDER=", "sip:a@h;pn-provider"] {
            assert!(push_params(uri, none).is_some() || is_capability_query(uri, none));
            assert!(mentions_provider(uri, none));
        }
    }

    use super::*;

    fn binding() -> PushBinding {
        PushBinding {
            provider: "fcm".into(),
            prid: "tok:EN/1".into(),
            param: "app.id".into(),
            contact: "sip:101@10.0.0.9:5060;pn-provider=fcm;pn-prid=tok:EN/1".into(),
            user_agent: "Soft\tPhone 100%".into(),
            instance: "urn:uuid:1".into(),
            updated_at: 10,
            expires_at: 20,
        }
    }

    #[test]
    fn reads_rfc8599_params_from_the_uri_or_the_header() {
        let p = push_params("sip:101@h:5060;transport=tcp;PN-Provider=FCM;pn-prid=abc;pn-param=x.y?foo=bar", &[]).unwrap();
        assert_eq!(p, PushParams { provider: "fcm".into(), prid: "abc".into(), param: "x.y".into() });
        let header = vec![("pn-provider".to_string(), Some("apns".to_string())), ("pn-prid".into(), Some("\"t\"".into()))];
        assert_eq!(push_params("sip:101@h", &header).unwrap().prid, "t");
        assert_eq!(push_params("sip:101@h;pn-prid=abc", &[]), None);
        assert_eq!(push_params("sip:101@h;pn-provider=", &[]), None);
        assert_eq!(uri_param("sip:a@b?pn-provider=fcm", "pn-provider"), None);
    }

    #[test]
    fn providers_and_urls_are_validated() {
        assert_eq!(parse_providers(" APNS, fcm,,webpush,fcm").unwrap(), vec!["apns", "fcm", "webpush"]);
        assert!(parse_providers("").unwrap().is_empty());
        assert!(parse_providers("fcm;x").is_err());
        assert_eq!(parse_gateway_url("https://relay.example/push").unwrap(), "https://relay.example/push");
        assert!(parse_gateway_url("http://127.0.0.1:9000/").is_ok());
        assert!(parse_gateway_url("ftp://x").is_err());
        assert!(parse_gateway_url("http://").is_err());
        assert!(parse_gateway_url("http://a b").is_err());
    }

    #[test]
    fn register_check_answers_555_only_for_a_provider_not_enabled() {
        let fcm = Some(PushParams { provider: "fcm".into(), prid: "a".into(), param: String::new() });
        let apns = Some(PushParams { provider: "apns".into(), prid: "a".into(), param: String::new() });
        let enabled = vec!["fcm".to_string()];
        assert_eq!(check_register(&enabled, &[None, fcm.clone()]), PushCheck::Push);
        assert_eq!(check_register(&enabled, &[fcm, apns.clone()]), PushCheck::Unsupported("apns".into()));
        assert_eq!(check_register(&enabled, &[None]), PushCheck::NotPush);
        assert_eq!(check_register(&[], &[apns]), PushCheck::NotPush);
        assert_eq!(feature_caps(&enabled, Some(120)), ["*;+sip.pns=\"fcm\";+sip.pnsreg=\"120\""]);
        let both = vec!["apns".to_string(), "fcm".to_string()];
        assert_eq!(feature_caps(&both, None), ["*;+sip.pns=\"apns\"", "*;+sip.pns=\"fcm\""]);
        assert!(is_capability_query("sip:1@h;pn-provider", &[]) && is_capability_query("sip:1@h;pn-provider=", &[]));
        assert!(!is_capability_query("sip:1@h;pn-provider=fcm", &[]) && !is_capability_query("sip:1@h", &[]));
    }

    #[test]
    fn stored_form_round_trips_any_text() {
        let b = binding();
        let encoded = b.encode();
        assert!(!encoded.contains('/') && encoded.split('\t').count() == 9);
        let older: Vec<&str> = encoded.split('\t').take(8).collect();
        assert_eq!(PushBinding::decode(&older.join("\t")).unwrap().instance, "");
        let rotated = PushBinding { prid: "new".into(), ..b.clone() };
        assert!(b.replaced_by(&rotated) && !b.replaced_by(&PushBinding { instance: String::new(), ..rotated }));
        assert_eq!(PushBinding::decode(&encoded), Some(b.clone()));
        assert_eq!(PushBinding::decode("2\tfcm"), None);
        assert_eq!(PushBinding::decode("garbage"), None);
        assert_eq!(b.key(), binding_key("fcm", "tok:EN/1"));
        assert_ne!(b.key(), binding_key("apns", "tok:EN/1"));
        assert_eq!(unescape("100%"), "100%");
    }

    #[test]
    fn wakes_devices_without_a_live_contact() {
        let b = binding();
        let other = PushBinding { prid: "other".into(), ..binding() };
        let all = vec![b.clone(), other.clone()];
        let live = vec!["sip:101@10.0.0.8:1234;pn-provider=fcm;pn-prid=tok:EN/1".to_string(), "sip:101@desk".to_string()];
        assert_eq!(bindings_to_wake(&all, &live, false, 15), vec![&other]);
        assert_eq!(bindings_to_wake(&all, &live, true, 15).len(), 2);
        assert!(bindings_to_wake(&all, &live, true, 20).is_empty(), "expired bindings are not woken");
        assert_eq!(woken_contact(&b, &live, &[]), Some(&live[0]));
        assert_eq!(woken_contact(&b, &live, &live[..1]), None);
    }

    #[test]
    fn json_body_and_tokens() {
        let request = PushRequest {
            extension: "101".into(),
            endpoint: "101".into(),
            provider: "fcm".into(),
            prid: "t\"1".into(),
            param: "app".into(),
            caller_id_num: "102".into(),
            caller_id_name: "Bob\n".into(),
            linkedid: "1700000000.1".into(),
            token: wake_token([1; 10]),
            wait: 20,
        };
        let json = request.json();
        assert!(json.starts_with("{\"event\":\"incoming_call\",\"extension\":\"101\""), "{json}");
        assert!(json.contains("\"prid\":\"t\\\"1\"") && json.contains("\"caller_id_name\":\"Bob\\n\""), "{json}");
        assert!(json.ends_with(",\"wait_seconds\":20}"), "{json}");
        assert!(is_wake_token(&wake_token([255; 10])) && is_wake_token(&wake_token([0; 10])));
        assert_ne!(wake_token([1; 10]), wake_token([2; 10]));
    }

    #[test]
    fn wake_targets_name_their_token() {
        assert_eq!(wake_token_of_target("Local/abc123@multireg-push/n"), Some("abc123"));
        assert_eq!(wake_token_of_target("Local/abc123@other/n"), None);
        assert_eq!(wake_token_of_target("PJSIP/101/sip:101@h"), None);
    }

    #[test]
    fn a_binding_round_trips_through_its_store_fields() {
        let binding = PushBinding {
            provider: "fcm".into(),
            prid: "tok:1/2".into(),
            param: "com.example".into(),
            contact: "sip:105@1.2.3.4;pn-provider=fcm".into(),
            user_agent: "PushPhone/2.0".into(),
            instance: String::new(),
            updated_at: 10,
            expires_at: 20,
        };
        let fields: Vec<(String, String)> =
            binding.to_fields("105").into_iter().filter(|(_, v)| !v.is_empty()).map(|(n, v)| (n.to_string(), v)).collect();
        assert_eq!(PushBinding::from_fields(&fields), Some(("105".to_string(), binding.clone())));
        assert_eq!(store_id("105", &binding), format!("105;{}", binding.key()));
        assert_eq!(PushBinding::from_fields(&fields[1..]), None, "no endpoint");
    }
}
