//! Which kind of client a registering device is: IP phone, web, desktop or mobile.
//!
//! Rules, first match wins: WebSocket transport → web; RFC 8599 push parameters → mobile;
//! User-Agent against the web, then mobile, then desktop expressions; otherwise IP phone.
//! Mobile is tried before desktop because mobile builds of desktop brands (Zoiper, Bria,
//! Linphone) carry the brand name too.
use std::sync::{Arc, Mutex, Weak};

use regex::{Regex, RegexBuilder};

use super::agent_matcher::AgentMatcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClientType {
    IpPhone,
    Web,
    Desktop,
    Mobile,
}

impl ClientType {
    pub const ALL: [ClientType; 4] = [ClientType::IpPhone, ClientType::Web, ClientType::Desktop, ClientType::Mobile];

    /// Stable machine name, used in CLI columns and AMI fields.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientType::IpPhone => "ip_phone",
            ClientType::Web => "web",
            ClientType::Desktop => "desktop",
            ClientType::Mobile => "mobile",
        }
    }

    /// Wording for people, e.g. in a 403 reason phrase ("web client limit 3 reached").
    pub fn display_name(self) -> &'static str {
        match self {
            ClientType::IpPhone => "IP phone",
            ClientType::Web => "web client",
            ClientType::Desktop => "desktop client",
            ClientType::Mobile => "mobile client",
        }
    }

    /// Highest per-extension limit an administrator may configure for this type.
    pub fn max_limit(self) -> u32 {
        match self {
            ClientType::IpPhone => 5,
            _ => 3,
        }
    }

    pub fn parse(name: &str) -> Option<ClientType> {
        ClientType::ALL.into_iter().find(|t| t.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

impl std::fmt::Display for ClientType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The verdict plus why, so `multireg show extension` can explain it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub client_type: ClientType,
    pub reason: String,
}

/// What the registrar knows about the device when it registers.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceFacts<'a> {
    /// Transport the REGISTER arrived on: "UDP", "TCP", "TLS", "WS" or "WSS".
    pub transport: &'a str,
    pub user_agent: &'a str,
    /// Contact header parameters (name lower-cased, value as sent).
    pub contact_params: &'a [(String, Option<String>)],
    /// Contact URI without angle brackets.
    pub contact_uri: &'a str,
}

// Built from the corpus of real User-Agent strings in src/policy/user_agent_corpus.tsv (where
// each was seen is noted there); a unit test checks that every string lands on its type.
pub const BUILTIN_WEB_USER_AGENTS: &str =
    r"jssip|sip\.js|sipjs|sipml5|webrtc|janus|linkus\s*web|browser[\s-]?phone|web\s*phone|telscale\s+rtm";
/// Platform words first: brands with desktop and mobile builds (Zoiper, Bria, Linphone, 3CX,
/// Jami, baresip) name the platform, and mobile is tried before desktop.
pub const BUILTIN_MOBILE_USER_AGENTS: &str = concat!(
    r"android|iphone|ipad|\bios\b|linphoneios|groundwire|acrobits|cloud\s*softphone|",
    r"linkus\s*mobile|csipsimple|sipnetic|sessiontalk|grandstream\s*wave|sipdroid|mizudroid"
);
/// `^Z 5.6.1` is how Zoiper 5 for desktops names itself.
pub const BUILTIN_DESKTOP_USER_AGENTS: &str = concat!(
    r"zoiper|^z \d+\.\d+|microsip|bria|x-?lite|x-pro\b|eyebeam|linphone|baresip|linkus\s*desktop|phonerlite|phoner|",
    r"jitsi|blink|ekiga|twinkle|3cx|jami|sflphone|\btsip\b|sjphone|express\s*talk"
);

/// One User-Agent rule: the expression plus whether it is the built-in one (for the reason text).
/// Compiled expressions are shared: every policy using a built-in list holds the same one.
#[derive(Debug, Clone)]
struct AgentRule {
    regex: Option<Arc<AgentMatcher>>,
    source: Arc<str>,
    builtin: bool,
}

/// User-Agents are short: a small lazy-DFA cache per thread is plenty, and Asterisk has many
/// threads (the default cache may grow to 2 MB in each).
fn compile(source: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(source).case_insensitive(true).size_limit(1 << 20).dfa_size_limit(1 << 16).build()
}

/// The built-in expressions in force, shared by every policy that uses them. Held weakly: when
/// the last policy goes (module unload) they are freed with it, as a static would never be.
static BUILTIN_REGEXES: Mutex<[Weak<AgentMatcher>; 3]> = Mutex::new([Weak::new(), Weak::new(), Weak::new()]);

/// Module unload: drops the weak slots too (each keeps its matcher's allocation).
pub fn forget_builtins() {
    *BUILTIN_REGEXES.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = [Weak::new(), Weak::new(), Weak::new()];
}

#[derive(Clone, Copy)]
enum Builtin {
    Web = 0,
    Mobile = 1,
    Desktop = 2,
}

impl Builtin {
    fn source(self) -> &'static str {
        match self {
            Builtin::Web => BUILTIN_WEB_USER_AGENTS,
            Builtin::Mobile => BUILTIN_MOBILE_USER_AGENTS,
            Builtin::Desktop => BUILTIN_DESKTOP_USER_AGENTS,
        }
    }

    fn rule(self) -> AgentRule {
        let mut shared = BUILTIN_REGEXES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = &mut shared[self as usize];
        let regex = slot.upgrade().unwrap_or_else(|| {
            let regex = Arc::new(AgentMatcher::new(compile(self.source()).expect("built-in user agent expressions compile")));
            *slot = Arc::downgrade(&regex);
            regex
        });
        AgentRule { regex: Some(regex), source: self.source().into(), builtin: true }
    }
}

impl AgentRule {
    /// An empty override means "no User-Agent rule for this type" (an empty regex would match all).
    fn new(override_pattern: Option<&str>, builtin: Builtin) -> Result<AgentRule, regex::Error> {
        let Some(pattern) = override_pattern else { return Ok(builtin.rule()) };
        let source = pattern.trim();
        let regex = if source.is_empty() { None } else { Some(Arc::new(AgentMatcher::new(compile(source)?))) };
        Ok(AgentRule { regex, source: source.into(), builtin: false })
    }

    fn matched<'u>(&self, user_agent: &'u str) -> Option<&'u str> {
        self.regex.as_ref()?.find(user_agent)
    }
}

/// Compiled classification rules for one extension (built-ins, or the administrator's overrides).
#[derive(Debug, Clone)]
pub struct ClassifierRules {
    web: AgentRule,
    mobile: AgentRule,
    desktop: AgentRule,
    /// Unique per compiled set (clones share it): names these rules in `ClassificationMemo`.
    id: u64,
}

/// Ids of compiled rule sets, never reused within a process.
static NEXT_RULES_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

impl PartialEq for ClassifierRules {
    // Compared by source text so a reload can tell whether anything changed.
    fn eq(&self, other: &Self) -> bool {
        self.patterns() == other.patterns()
    }
}

impl Eq for ClassifierRules {}

impl Default for ClassifierRules {
    fn default() -> Self {
        ClassifierRules::new(None, None, None).expect("built-in user agent expressions compile")
    }
}

impl ClassifierRules {
    /// Overrides replace the built-in expression of that type; all match case-insensitively.
    pub fn new(web: Option<&str>, mobile: Option<&str>, desktop: Option<&str>) -> Result<ClassifierRules, regex::Error> {
        Ok(ClassifierRules {
            web: AgentRule::new(web, Builtin::Web)?,
            mobile: AgentRule::new(mobile, Builtin::Mobile)?,
            desktop: AgentRule::new(desktop, Builtin::Desktop)?,
            id: NEXT_RULES_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        })
    }

    /// Names this compiled set (and its clones) for `ClassificationMemo`.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Whether the Contact itself can change the classification: a `pn-` parameter or a `ws`
    /// transport anywhere in it (a superset of what `classify` reads from it). When it cannot,
    /// the rules, the transport and the User-Agent alone decide.
    pub fn contact_matters(contact_uri: &str, contact_params: &[(String, Option<String>)]) -> bool {
        use super::contact_uri::mentions;
        mentions(contact_uri, "pn-") || mentions(contact_uri, "ws") || contact_params.iter().any(|(name, _)| is_push_param(name))
    }

    /// Expression sources in order web, mobile, desktop.
    pub fn patterns(&self) -> [&str; 3] {
        [&self.web.source, &self.mobile.source, &self.desktop.source]
    }

    pub fn classify(&self, facts: &DeviceFacts<'_>) -> Classification {
        let found = |client_type, reason: String| Classification { client_type, reason };
        let transport = facts.transport.trim();
        if transport.eq_ignore_ascii_case("ws") || transport.eq_ignore_ascii_case("wss") {
            return found(ClientType::Web, format!("transport {}", transport.to_ascii_uppercase()));
        }
        let uri_params = uri_params(facts.contact_uri);
        if let Some(value) =
            param(&uri_params, "transport").filter(|v| v.eq_ignore_ascii_case("ws") || v.eq_ignore_ascii_case("wss"))
        {
            return found(ClientType::Web, format!("Contact URI has transport={}", printable(&value.to_ascii_lowercase())));
        }
        let push = facts.contact_params.iter().map(|(name, _)| name.as_str()).chain(uri_params.iter().map(|(name, _)| *name));
        if let Some(name) = push.into_iter().find(|name| is_push_param(name)) {
            return found(ClientType::Mobile, format!("Contact has {} (RFC 8599)", printable(&name.to_ascii_lowercase())));
        }
        let agent_rules =
            [(&self.web, ClientType::Web), (&self.mobile, ClientType::Mobile), (&self.desktop, ClientType::Desktop)];
        for (rule, client_type) in agent_rules {
            if let Some(text) = rule.matched(facts.user_agent) {
                let origin = if rule.builtin { "built-in".to_string() } else { format!("{}_user_agents", client_type.as_str()) };
                return found(client_type, format!("User-Agent matches /{}/i ({origin} rule)", printable(text)));
            }
        }
        found(ClientType::IpPhone, "default: no web, mobile or desktop rule matched".to_string())
    }
}

/// RFC 8599 parameters (pn-provider, pn-prid, pn-param) and older pn-* variants (pn-tok, pn-type).
fn is_push_param(name: &str) -> bool {
    // Bytes, not characters: a device-chosen name may put a multi-byte character at any index.
    name.len() > 3 && name.as_bytes()[..3].eq_ignore_ascii_case(b"pn-")
}

/// URI parameters after the host part (the user part may itself contain ';').
fn uri_params(uri: &str) -> Vec<(&str, Option<&str>)> {
    let without_headers = uri.split('?').next().unwrap_or("");
    let host_and_params = match without_headers.find('@') {
        Some(at) => &without_headers[at + 1..],
        None => without_headers,
    };
    host_and_params
        .split(';')
        .skip(1)
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (p.trim(), None),
        })
        .collect()
}

fn param<'a>(params: &[(&'a str, Option<&'a str>)], name: &str) -> Option<&'a str> {
    params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).and_then(|(_, value)| *value)
}

/// Device-supplied text goes into CLI and AMI output: keep it to one printable line.
fn printable(text: &str) -> String {
    text.chars().take(64).map(|c| if c.is_control() { '?' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_contact_that_does_not_matter_never_changes_the_classification() {
        let rules = ClassifierRules::default();
        let contacts: &[(&str, &[(&str, Option<&str>)])] = &[
            ("sip:101@192.0.2.1:5060", &[]),
            ("sip:101@192.0.2.1:5060;transport=udp", &[("+sip.instance", Some("\"<urn:uuid:1>\""))]),
            ("sip:101@192.0.2.1;transport=WS", &[]),
            ("sip:101@news.example.com;transport=tcp", &[]),
            ("sip:101@h;pn-provider=apns;pn-prid=x", &[]),
            ("sip:101@h", &[("pn-provider", Some("fcm"))]),
            ("sip:101@h;PN-TOK=abc", &[]),
            ("sip:101@h;transport=wss", &[("reg-id", Some("1"))]),
        ];
        for agent in ["Yealink SIP-T46U", "Zoiper rv2.10", "JsSIP 3.10", "Linphone iOS", ""] {
            for transport in ["UDP", "TCP", "WS"] {
                let plain = classify(transport, agent, "sip:x@h", &[]);
                for (uri, params) in contacts {
                    let owned: Vec<(String, Option<String>)> =
                        params.iter().map(|(n, v)| (n.to_string(), v.map(str::to_string))).collect();
                    if !ClassifierRules::contact_matters(uri, &owned) {
                        let facts = DeviceFacts { transport, user_agent: agent, contact_params: &owned, contact_uri: uri };
                        assert_eq!(rules.classify(&facts), plain, "{uri} {agent} {transport}");
                    }
                }
            }
        }
        assert!(!ClassifierRules::contact_matters("sip:101@192.0.2.1:5060;transport=udp", &[]));
        assert!(ClassifierRules::contact_matters("sip:101@h;transport=ws", &[]));
        assert!(ClassifierRules::contact_matters("sip:101@h;Pn-Provider=apns", &[]));
    }

    #[test]
    fn rule_sets_have_their_own_ids_and_clones_share_them() {
        let (a, b) = (ClassifierRules::default(), ClassifierRules::default());
        assert_ne!(a.id(), b.id());
        assert_eq!(a.clone().id(), a.id());
    }

    use super::*;

    fn classify(transport: &str, agent: &str, uri: &str, params: &[(&str, Option<&str>)]) -> Classification {
        let params: Vec<(String, Option<String>)> = params.iter().map(|(n, v)| (n.to_string(), v.map(str::to_string))).collect();
        ClassifierRules::default().classify(&DeviceFacts {
            transport,
            user_agent: agent,
            contact_params: &params,
            contact_uri: uri,
        })
    }

    fn kind(agent: &str) -> ClientType {
        classify("UDP", agent, "sip:101@10.0.0.5:5060", &[]).client_type
    }

    #[test]
    fn built_in_expressions_are_compiled_once_and_shared() {
        let (a, b) = (ClassifierRules::default(), ClassifierRules::new(None, Some("acme"), None).unwrap());
        assert!(Arc::ptr_eq(a.web.regex.as_ref().unwrap(), b.web.regex.as_ref().unwrap()));
        assert!(!Arc::ptr_eq(a.mobile.regex.as_ref().unwrap(), b.mobile.regex.as_ref().unwrap()));
    }

    #[test]
    fn websocket_transport_is_web_whatever_the_agent() {
        let c = classify("WSS", "Yealink SIP-T46U", "sip:abc@x.invalid", &[]);
        assert_eq!(c, Classification { client_type: ClientType::Web, reason: "transport WSS".into() });
        assert_eq!(classify("ws", "", "sip:a@b", &[]).client_type, ClientType::Web);
    }

    #[test]
    fn transport_ws_in_contact_uri_is_web() {
        let c = classify("TCP", "", "sip:k3j2@df7jal23ls0d.invalid;transport=WS", &[]);
        assert_eq!(c.client_type, ClientType::Web);
        assert_eq!(c.reason, "Contact URI has transport=ws");
        // transport=ws hidden in the user part is not a URI parameter.
        assert_eq!(classify("UDP", "", "sip:a;transport=ws@h", &[]).client_type, ClientType::IpPhone);
    }

    #[test]
    fn push_parameters_make_mobile_in_header_or_uri() {
        let c = classify("UDP", "Yealink", "sip:101@h", &[("pn-provider", Some("apns"))]);
        assert_eq!(c.client_type, ClientType::Mobile);
        assert_eq!(c.reason, "Contact has pn-provider (RFC 8599)");
        let c = classify("TLS", "", "sip:101@h:5061;pn-prid=abc;pn-param=x", &[]);
        assert_eq!((c.client_type, c.reason.as_str()), (ClientType::Mobile, "Contact has pn-prid (RFC 8599)"));
        assert_eq!(classify("UDP", "", "sip:101@h;pn-tok=1", &[]).client_type, ClientType::Mobile);
        assert_eq!(classify("UDP", "", "sip:101@h;pnx=1", &[]).client_type, ClientType::IpPhone);
        // A multi-byte character across the third byte is no push parameter, and no panic.
        assert_eq!(
            classify("UDP", "", "sip:101@h;x\u{e9}\u{e9}x=1", &[("\u{e9}\u{e9}x", None)]).client_type,
            ClientType::IpPhone
        );
    }

    #[test]
    fn websocket_wins_over_push() {
        assert_eq!(classify("WS", "", "sip:a@b;pn-provider=fcm", &[]).client_type, ClientType::Web);
    }

    #[test]
    fn builtin_user_agents() {
        for agent in ["JsSIP 3.10.0", "SIP.js/0.21.2", "sipML5-v1.2016", "Janus WebRTC Server"] {
            assert_eq!(kind(agent), ClientType::Web, "{agent}");
        }
        for agent in [
            "LinphoneAndroid/5.2.1 (Pixel 6) LinphoneSDK/5.3",
            "LinphoneiOS/4.6 (iPhone) LinphoneSDK/5.0",
            "Groundwire/6.3.1",
            "Acrobits Softphone/5.9",
            "Zoiper for iOS 2.10",
            "Zoiper Android rv2.10.18",
            "Bria iOS release 6.5",
            "Bria Android 6.7",
            "Linkus Mobile 4.12",
        ] {
            assert_eq!(kind(agent), ClientType::Mobile, "{agent}");
        }
        for agent in [
            "Z 5.6.1 v2.10.19.9",
            "Zoiper rv2.10.19",
            "MicroSIP/3.21.3",
            "Bria 6 release 6.5.1",
            "X-Lite release 5.8.3",
            "Linphone Desktop/5.1.2 (Ubuntu 22.04, Qt 5.15)",
            "baresip v3.10.1 (x86_64/linux)",
            "Linkus Desktop 1.5",
            "PhonerLite 3.16",
            "Jitsi2.10.5550Linux",
            "Blink Pro 5.1",
        ] {
            assert_eq!(kind(agent), ClientType::Desktop, "{agent}");
        }
        for agent in
            ["Yealink SIP-T46U 108.86.0.20", "Grandstream GXP2170 1.0.11", "PolycomVVX-VVX_411-UA/6.4", "snom D785/10.1", ""]
        {
            assert_eq!(kind(agent), ClientType::IpPhone, "{agent}");
        }
    }

    /// Every string of the corpus lands on its type (and the corpus keeps 20 or more per type).
    #[test]
    fn every_corpus_user_agent_classifies_as_its_type() {
        let corpus = include_str!("user_agent_corpus.tsv");
        let mut counts = std::collections::HashMap::new();
        let mut wrong = Vec::new();
        for line in corpus.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
            let mut columns = line.split('\t');
            let (Some(expected), Some(agent), Some(seen)) = (columns.next(), columns.next(), columns.next()) else {
                panic!("corpus line needs type, User-Agent and where it was seen: {line:?}");
            };
            assert!(!seen.trim().is_empty(), "{line:?}");
            let expected = ClientType::parse(expected).unwrap_or_else(|| panic!("unknown type in {line:?}"));
            *counts.entry(expected).or_insert(0) += 1;
            let got = classify("UDP", agent, "sip:101@192.0.2.10:5060", &[]);
            if got.client_type != expected {
                wrong.push(format!("{agent:?}: expected {expected}, got {} ({})", got.client_type, got.reason));
            }
        }
        assert!(wrong.is_empty(), "misclassified:\n{}", wrong.join("\n"));
        for t in ClientType::ALL {
            assert!(counts.get(&t).copied().unwrap_or(0) >= 20, "fewer than 20 {t} strings in the corpus: {counts:?}");
        }
    }

    #[test]
    fn biosphere_is_not_ios() {
        assert_eq!(kind("Biosphere Phone 1.0"), ClientType::IpPhone);
    }

    #[test]
    fn reason_names_matched_text() {
        let c = classify("UDP", "Zoiper rv2.10", "sip:a@b", &[]);
        assert_eq!(c.reason, "User-Agent matches /Zoiper/i (built-in rule)");
        let c = classify("UDP", "Yealink", "sip:a@b", &[]);
        assert_eq!(c.reason, "default: no web, mobile or desktop rule matched");
    }

    #[test]
    fn overrides_replace_builtins() {
        let rules = ClassifierRules::new(None, None, Some("^Yealink")).unwrap();
        let facts = |agent| DeviceFacts { transport: "UDP", user_agent: agent, contact_params: &[], contact_uri: "sip:a@b" };
        let c = rules.classify(&facts("YEALINK SIP-T46U"));
        assert_eq!(c.client_type, ClientType::Desktop);
        assert_eq!(c.reason, "User-Agent matches /YEALINK/i (desktop_user_agents rule)");
        // Zoiper is no longer desktop once the desktop list is replaced.
        assert_eq!(rules.classify(&facts("Zoiper rv2.10")).client_type, ClientType::IpPhone);
        // An empty override disables that type's User-Agent rule instead of matching everything.
        let none = ClassifierRules::new(Some(""), None, None).unwrap();
        assert_eq!(none.classify(&facts("JsSIP 3.10")).client_type, ClientType::IpPhone);
    }

    #[test]
    fn invalid_override_is_an_error() {
        assert!(ClassifierRules::new(Some("(unclosed"), None, None).is_err());
    }

    #[test]
    fn rules_compare_by_source() {
        assert_eq!(ClassifierRules::default(), ClassifierRules::new(None, None, None).unwrap());
        assert_ne!(ClassifierRules::default(), ClassifierRules::new(Some("x"), None, None).unwrap());
    }

    #[test]
    fn reasons_carry_no_control_characters() {
        let c = classify("UDP", "", "sip:a@b;pn-x\r\nEvent: Forged=1", &[]);
        assert_eq!(c.client_type, ClientType::Mobile);
        assert!(!c.reason.chars().any(char::is_control), "{}", c.reason);
    }

    #[test]
    fn type_names_round_trip() {
        for t in ClientType::ALL {
            assert_eq!(ClientType::parse(t.as_str()), Some(t));
        }
        assert_eq!(ClientType::IpPhone.display_name(), "IP phone");
        assert_eq!((ClientType::IpPhone.max_limit(), ClientType::Web.max_limit()), (5, 3));
        assert_eq!(ClientType::parse("fax"), None);
    }
}
