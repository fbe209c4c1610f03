//! The `type=multireg` object of pjsip.conf: one section's name/value pairs (templates already
//! resolved by Asterisk) become a validated `MultiregConfig`, or errors naming section and option.
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::policy::authblock::{parse_cidr_list, Cidr};
use crate::policy::classify::{ClassifierRules, ClientType};
use crate::policy::dial_features::DialFeatures;
use crate::policy::dialstring::is_dial_unsafe;
use crate::policy::limits::{AtLimit, TypeLimits, DEFAULT_LIMITS};
use crate::policy::names::validate_extension_name;
use crate::policy::ringmode::RingMode;

/// Stock prompt (exists in Asterisk's English core sounds): "Press 1 for extension, press 2 for
/// telephone number, press 3 for extension and telephone number."
pub const DEFAULT_RING_MODE_PROMPT: &str =
    "vm-press&digits/1&for&extension&vm-press&digits/2&for&telephone-number&vm-press&digits/3&for&extension&vm-and&telephone-number";
/// Stock confirmation: "Activated."
pub const DEFAULT_RING_MODE_CONFIRM: &str = "activated";

/// (option, default, description with range) for every option, to generate README and XML docs.
pub const OPTION_DOCS: &[(&str, &str, &str)] = &[
    ("type", "", "Must be multireg."),
    ("endpoint", "the section name", "PJSIP endpoint (and AOR) this policy applies to; 1-80 characters of A-Z a-z 0-9 _ . + -."),
    ("max_ip_phones", "1", "Concurrent IP phone registrations, 0-5."),
    ("max_web_clients", "1", "Concurrent web (WebRTC) client registrations, 0-3."),
    ("max_desktop_clients", "1", "Concurrent desktop softphone registrations, 0-3."),
    ("max_mobile_clients", "1", "Concurrent mobile app registrations, 0-3."),
    ("at_limit", "reject", "What a new device meets when its type is full: reject (403 naming the type and limit; registered devices stay) or replace_oldest (the longest-registered device of that type is removed)."),
    ("web_user_agents", "built-in list", "Case-insensitive regular expression for web client User-Agents; replaces the built-in list; empty disables User-Agent matching for this type."),
    ("mobile_user_agents", "built-in list", "Case-insensitive regular expression for mobile app User-Agents; replaces the built-in list; empty disables User-Agent matching for this type."),
    ("desktop_user_agents", "built-in list", "Case-insensitive regular expression for desktop softphone User-Agents; replaces the built-in list; empty disables User-Agent matching for this type."),
    ("dual_registration", "no", "yes/no: create the secondary endpoint, auth and AOR <endpoint><secondary_suffix> sharing the primary's settings."),
    ("secondary_suffix", "r", "Suffix of the secondary's name, 1-8 characters of A-Z a-z 0-9 _ -."),
    ("secondary_max_devices", "1", "Concurrent registrations on the secondary's AOR, all client types together, 1-14."),
    ("ring_mode_default", "both", "Ring mode until one is chosen: home (primary's devices), remote (secondary or remote_destination), both."),
    ("remote_destination", "", "Dial target used as the remote side instead of the secondary, e.g. PJSIP/0044123@trunk (Tech/resource; no & , ( ) quotes $ { } [ ] | ^ \\ or whitespace)."),
    ("all_busy_mode", "no", "yes/no: while any device of the extension is in a call, new calls ring none of them (BUSY)."),
    ("max_concurrent_calls", "0", "Calls on primary and secondary together, 0-100; 0 = unlimited."),
    ("auth_fail_limit", "5", "Failed authentications answering a challenge Asterisk sent to one address, within auth_fail_window, that block the address for this extension's primary and secondary, 0-100 (0 turns blocking off)."),
    ("auth_fail_window", "60", "Seconds from the first counted failure during which failures add up, 1-3600."),
    ("auth_block_time", "300", "Seconds an address stays blocked, 1-86400."),
    ("auth_block_exempt", "", "Comma-separated IPv4/IPv6 addresses or networks (CIDR or a.b.c.d/netmask) never counted or blocked; a reload lifts blocks they cover."),
    ("auth_block_ipv6_prefix", "64", "IPv6 sources are counted and blocked per network of this prefix length, 16-128 (IPv4 is always per address)."),
    ("ring_mode_prompt", DEFAULT_RING_MODE_PROMPT, "Sound files (&-separated, characters A-Z a-z 0-9 _ / & -) played by RingMode() to ask for 1, 2 or 3."),
    ("ring_mode_confirm", DEFAULT_RING_MODE_CONFIRM, "Sound files (&-separated) played by RingMode() after a mode is stored."),
    ("ring_mode_timeout", "5", "Seconds RingMode() waits for a key after the prompt, 1-30; silence counts as one of the three tries."),
    // Dial-time call features (policy/dial_features.rs).
    ("all_reject_mode", "no", "yes/no: when one device declines a MultiregDial call with a code in all_reject_codes, every other device stops ringing at once and DIALSTATUS is BUSY (off: the others keep ringing)."),
    ("all_reject_codes", "486,603", "Comma-separated SIP final response codes (400-699) that count as declining for all_reject_mode."),
    ("ring_delay_ip_phone", "0", "Seconds after the start of a MultiregDial call before the extension's IP phones ring, 0-300 (0 = at once)."),
    ("ring_delay_web", "0", "Seconds before web clients ring, 0-300."),
    ("ring_delay_desktop", "0", "Seconds before desktop softphones ring, 0-300."),
    ("ring_delay_mobile", "0", "Seconds before mobile apps ring, 0-300."),
    ("ring_delay_remote", "0", "Seconds before the remote side (the secondary's devices or remote_destination) rings, 0-300."),
    ("logout_block_time", "600", "Seconds a device logged out with multireg logout or MultiregLogout is refused (403 Logged out) when it registers again, 0-86400; 0 = removed only, not refused."),
    // RFC 8599 push wake-up (policy/push.rs).
    ("push_providers", "", "Comma-separated RFC 8599 push providers accepted in pn-provider (e.g. apns,fcm,webpush); empty turns push wake-up off. A REGISTER naming another provider gets 555."),
    ("push_binding_ttl", "604800", "Seconds a push binding is kept after the device's last REGISTER, 60-31536000."),
    ("push_wait", "20", "Seconds MultiregDial waits for a pushed device to register again before giving up on it, 1-120."),
    ("push_always", "no", "yes/no: send a push to every push device on each call, also to devices registered now (their new registration is rung)."),
    ("push_gateway_url", "", "http:// or https:// URL that receives each push request as a JSON POST (3 s timeout, one retry); empty = AMI event MultiregPushRequest only."),
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub section: String,
    /// Empty when the problem is the section as a whole.
    pub option: String,
    pub reason: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.option.is_empty() {
            write!(f, "type=multireg section [{}]: {}", self.section, self.reason)
        } else {
            write!(f, "type=multireg section [{}], option '{}': {}", self.section, self.option, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

/// One extension's multireg policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiregConfig {
    /// pjsip.conf section name.
    pub section: String,
    /// Primary endpoint (and AOR) the policy applies to. Default: the section name.
    pub endpoint: String,
    /// Concurrent IP phones, 0-5, default 1.
    pub max_ip_phones: u32,
    /// Concurrent web clients, 0-3, default 1.
    pub max_web_clients: u32,
    /// Concurrent desktop softphones, 0-3, default 1.
    pub max_desktop_clients: u32,
    /// Concurrent mobile apps, 0-3, default 1.
    pub max_mobile_clients: u32,
    /// `reject` (default) or `replace_oldest`.
    pub at_limit: AtLimit,
    /// Override of the built-in web User-Agent expression; None = built-in, "" = no UA rule.
    pub web_user_agents: Option<String>,
    /// Override of the built-in mobile User-Agent expression; None = built-in, "" = no UA rule.
    pub mobile_user_agents: Option<String>,
    /// Override of the built-in desktop User-Agent expression; None = built-in, "" = no UA rule.
    pub desktop_user_agents: Option<String>,
    /// Rules compiled from the three options above.
    pub classifier: ClassifierRules,
    /// Whether the `<endpoint><suffix>` secondary exists. Default no.
    pub dual_registration: bool,
    /// 1-8 characters of [A-Za-z0-9_-], default "r".
    pub secondary_suffix: String,
    /// Devices on the secondary's AOR, all types together, 1-14, default 1.
    pub secondary_max_devices: u32,
    /// Default `both`.
    pub ring_mode_default: RingMode,
    /// Dial target for the remote side instead of the secondary (e.g. `PJSIP/0044123@trunk`); empty default = none.
    pub remote_destination: String,
    /// Default no.
    pub all_busy_mode: bool,
    /// 0-100, default 0 = unlimited.
    pub max_concurrent_calls: u32,
    /// 0-100, default 5; 0 turns blocking off.
    pub auth_fail_limit: u32,
    /// Seconds, 1-3600, default 60.
    pub auth_fail_window: u32,
    /// Seconds, 1-86400, default 300.
    pub auth_block_time: u32,
    /// Addresses/networks never blocked; default none.
    pub auth_block_exempt: Vec<Cidr>,
    /// IPv6 sources are grouped per network of this length, 16-128, default 64.
    pub auth_block_ipv6_prefix: u8,
    /// `&`-joined sound files, default `DEFAULT_RING_MODE_PROMPT`.
    pub ring_mode_prompt: String,
    /// `&`-joined sound files, default `DEFAULT_RING_MODE_CONFIRM`.
    pub ring_mode_confirm: String,
    /// Seconds RingMode() waits for a key after each prompt (default 5, range 1-30).
    pub ring_mode_timeout: u32,
    /// All Reject Mode and staggered ring (policy/dial_features.rs).
    pub dial: DialFeatures,
    /// Seconds a logged-out device is refused, 0-86400, default 600 (0 = not refused).
    pub logout_block_time: u32,
    /// RFC 8599 providers accepted (lower case); empty default = push off.
    pub push_providers: Vec<String>,
    /// Seconds a push binding outlives the device's last REGISTER, default 604800.
    pub push_binding_ttl: u32,
    /// Seconds a call waits for a pushed device, default 20.
    pub push_wait: u32,
    /// Push registered devices too, default no.
    pub push_always: bool,
    /// Where push requests are POSTed; empty default = AMI only.
    pub push_gateway_url: String,
}

impl MultiregConfig {
    pub fn with_defaults(section: &str) -> MultiregConfig {
        let limits = DEFAULT_LIMITS;
        MultiregConfig {
            section: section.to_string(),
            endpoint: section.to_string(),
            max_ip_phones: limits.ip_phone,
            max_web_clients: limits.web,
            max_desktop_clients: limits.desktop,
            max_mobile_clients: limits.mobile,
            at_limit: AtLimit::Reject,
            web_user_agents: None,
            mobile_user_agents: None,
            desktop_user_agents: None,
            classifier: ClassifierRules::default(),
            dual_registration: false,
            secondary_suffix: "r".to_string(),
            secondary_max_devices: 1,
            ring_mode_default: RingMode::Both,
            remote_destination: String::new(),
            all_busy_mode: false,
            max_concurrent_calls: 0,
            auth_fail_limit: 5,
            auth_fail_window: 60,
            auth_block_time: 300,
            auth_block_exempt: Vec::new(),
            auth_block_ipv6_prefix: 64,
            ring_mode_prompt: DEFAULT_RING_MODE_PROMPT.to_string(),
            ring_mode_confirm: DEFAULT_RING_MODE_CONFIRM.to_string(),
            ring_mode_timeout: 5,
            dial: DialFeatures::default(),
            logout_block_time: 600,
            push_providers: Vec::new(),
            push_binding_ttl: 604_800,
            push_wait: 20,
            push_always: false,
            push_gateway_url: String::new(),
        }
    }

    pub fn limits(&self) -> TypeLimits {
        TypeLimits {
            ip_phone: self.max_ip_phones,
            web: self.max_web_clients,
            desktop: self.max_desktop_clients,
            mobile: self.max_mobile_clients,
        }
    }

    /// `101r` when dual registration is on.
    pub fn secondary_endpoint(&self) -> Option<String> {
        self.dual_registration.then(|| format!("{}{}", self.endpoint, self.secondary_suffix))
    }

    /// The failed-authentication thresholds of this section, as the block table uses them.
    pub fn block_settings(&self) -> crate::policy::authblock::BlockSettings {
        crate::policy::authblock::BlockSettings {
            limit: self.auth_fail_limit,
            window: std::time::Duration::from_secs(self.auth_fail_window.into()),
            block_time: std::time::Duration::from_secs(self.auth_block_time.into()),
            exempt: self.auth_block_exempt.clone(),
            ipv6_prefix: self.auth_block_ipv6_prefix,
        }
    }

    pub fn is_auth_block_exempt(&self, address: &IpAddr) -> bool {
        self.auth_block_exempt.iter().any(|net| net.contains(*address))
    }

    /// Why the AOR's own `max_contacts` would refuse devices these limits allow (res_pjsip refuses
    /// every REGISTER to an AOR with max_contacts=0), for a warning at load.
    pub fn max_contacts_problem(&self, aor: &str, aor_max_contacts: u32) -> Option<String> {
        let total = self.limits().total();
        if total == 0 || aor_max_contacts >= total {
            return None;
        }
        let effect = if aor_max_contacts == 0 {
            "res_pjsip refuses every registration to it".to_string()
        } else {
            format!("res_pjsip refuses devices beyond {aor_max_contacts}")
        };
        Some(format!(
            "AOR '{aor}' has max_contacts={aor_max_contacts} but multireg [{}] allows {total} devices ({}): {effect}; set max_contacts={total} on the AOR",
            self.section,
            ClientType::ALL.iter().map(|t| format!("{} {}", t.as_str(), self.limits().get(*t))).collect::<Vec<_>>().join(", "),
        ))
    }
}

/// Asterisk's ast_true / ast_false words.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "yes" | "true" | "y" | "t" | "1" | "on" => Ok(true),
        "no" | "false" | "n" | "f" | "0" | "off" => Ok(false),
        _ => Err(format!("'{value}' is not yes or no")),
    }
}

fn parse_range(value: &str, min: u32, max: u32) -> Result<u32, String> {
    match value.parse::<u64>() {
        Ok(n) if n >= u64::from(min) && n <= u64::from(max) => Ok(n as u32),
        Ok(n) => Err(format!("{n} is out of range {min}-{max}")),
        Err(_) => Err(format!("'{value}' is not a whole number in {min}-{max}")),
    }
}

fn parse_pattern(value: &str, web: bool, mobile: bool) -> Result<Option<String>, String> {
    let pattern = Some(value);
    let check = match (web, mobile) {
        (true, _) => ClassifierRules::new(pattern, None, None),
        (_, true) => ClassifierRules::new(None, pattern, None),
        _ => ClassifierRules::new(None, None, pattern),
    };
    match check {
        Ok(_) => Ok(Some(value.to_string())),
        // regex errors span several lines; the last one says what is wrong.
        Err(e) => {
            let text = e.to_string();
            let last = text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            Err(format!("invalid regular expression: {}", last.trim_start_matches("error: ")))
        }
    }
}

fn parse_suffix(value: &str) -> Result<String, String> {
    let valid_chars = value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if (1..=8).contains(&value.len()) && valid_chars {
        Ok(value.to_string())
    } else {
        Err(format!("'{value}' must be 1-8 characters of A-Z a-z 0-9 _ -"))
    }
}

/// A dial target `Tech/resource` that cannot add targets or options to a Dial string.
fn parse_remote_destination(value: &str) -> Result<String, String> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if let Some(c) = value.chars().find(|c| is_dial_unsafe(*c)) {
        return Err(format!("contains {c:?}, which is not allowed in a dial target"));
    }
    match value.split_once('/') {
        Some((tech, resource))
            if !tech.is_empty() && !resource.is_empty() && tech.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            Ok(value.to_string())
        }
        _ => Err(format!("'{value}' is not a dial target like PJSIP/0044123@trunk")),
    }
}

fn parse_sounds(value: &str) -> Result<String, String> {
    let valid_chars = value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '/' | '&' | '-'));
    if value.is_empty() || !valid_chars || value.split('&').any(str::is_empty) {
        return Err(format!("'{value}' must be sound file names joined by & (characters A-Z a-z 0-9 _ / -)"));
    }
    Ok(value.to_string())
}

/// Applies one option; option names are case-insensitive, a repeated option's last value wins
/// (as when a section overrides its template).
fn apply_option(config: &mut MultiregConfig, option: &str, value: &str) -> Result<(), String> {
    match option {
        "type" => {}
        "endpoint" => {
            validate_extension_name(value)?;
            config.endpoint = value.to_string();
        }
        "max_ip_phones" => config.max_ip_phones = parse_range(value, 0, ClientType::IpPhone.max_limit())?,
        "max_web_clients" => config.max_web_clients = parse_range(value, 0, ClientType::Web.max_limit())?,
        "max_desktop_clients" => config.max_desktop_clients = parse_range(value, 0, ClientType::Desktop.max_limit())?,
        "max_mobile_clients" => config.max_mobile_clients = parse_range(value, 0, ClientType::Mobile.max_limit())?,
        "at_limit" => config.at_limit = AtLimit::parse(value).ok_or(format!("'{value}' is not reject or replace_oldest"))?,
        "web_user_agents" => config.web_user_agents = parse_pattern(value, true, false)?,
        "mobile_user_agents" => config.mobile_user_agents = parse_pattern(value, false, true)?,
        "desktop_user_agents" => config.desktop_user_agents = parse_pattern(value, false, false)?,
        "dual_registration" => config.dual_registration = parse_bool(value)?,
        "secondary_suffix" => config.secondary_suffix = parse_suffix(value)?,
        "secondary_max_devices" => config.secondary_max_devices = parse_range(value, 1, 14)?,
        "ring_mode_default" => {
            // Words only: the prompt digits 1-3 are not accepted here.
            config.ring_mode_default = RingMode::ALL
                .into_iter()
                .find(|mode| value.eq_ignore_ascii_case(mode.as_str()))
                .ok_or_else(|| format!("'{value}' is not home, remote or both"))?
        }
        "remote_destination" => config.remote_destination = parse_remote_destination(value)?,
        "all_busy_mode" => config.all_busy_mode = parse_bool(value)?,
        "max_concurrent_calls" => config.max_concurrent_calls = parse_range(value, 0, 100)?,
        "auth_fail_limit" => config.auth_fail_limit = parse_range(value, 0, 100)?,
        "auth_fail_window" => config.auth_fail_window = parse_range(value, 1, 3600)?,
        "auth_block_time" => config.auth_block_time = parse_range(value, 1, 86400)?,
        "auth_block_exempt" => config.auth_block_exempt = parse_cidr_list(value)?,
        "auth_block_ipv6_prefix" => config.auth_block_ipv6_prefix = parse_range(value, 16, 128)? as u8,
        "ring_mode_prompt" => config.ring_mode_prompt = parse_sounds(value)?,
        "ring_mode_confirm" => config.ring_mode_confirm = parse_sounds(value)?,
        "ring_mode_timeout" => config.ring_mode_timeout = parse_range(value, 1, 30)?,
        "logout_block_time" => config.logout_block_time = parse_range(value, 0, 86400)?,
        "push_providers" => config.push_providers = crate::policy::push::parse_providers(value)?,
        "push_binding_ttl" => config.push_binding_ttl = parse_range(value, 60, 31_536_000)?,
        "push_wait" => config.push_wait = parse_range(value, 1, 120)?,
        "push_always" => config.push_always = parse_bool(value)?,
        "push_gateway_url" => config.push_gateway_url = crate::policy::push::parse_gateway_url(value)?,
        _ => return config.dial.apply_option(option, value, parse_bool).unwrap_or_else(|| Err("unknown option".to_string())),
    }
    Ok(())
}

/// One section; every bad option is reported, not only the first.
pub fn parse_section(section: &str, options: &[(String, String)]) -> Result<MultiregConfig, Vec<ConfigError>> {
    let mut config = MultiregConfig::with_defaults(section);
    let mut errors = Vec::new();
    let error = |option: &str, reason: String| ConfigError { section: section.to_string(), option: option.to_string(), reason };
    if options.iter().all(|(name, _)| !name.trim().eq_ignore_ascii_case("endpoint")) {
        if let Err(reason) = validate_extension_name(section) {
            errors.push(error("endpoint", format!("the section name is used as endpoint, but {reason}")));
        }
    }
    for (name, value) in options {
        let option = name.trim().to_ascii_lowercase();
        if let Err(reason) = apply_option(&mut config, &option, value.trim()) {
            errors.push(error(&option, reason));
        }
    }
    match ClassifierRules::new(
        config.web_user_agents.as_deref(),
        config.mobile_user_agents.as_deref(),
        config.desktop_user_agents.as_deref(),
    ) {
        Ok(rules) => config.classifier = rules,
        Err(e) => errors.push(error("", format!("user agent expressions: {e}"))),
    }
    if let Some(secondary) = config.secondary_endpoint() {
        if let Err(reason) = validate_extension_name(&secondary) {
            errors.push(error("secondary_suffix", format!("secondary name '{secondary}' is invalid: {reason}")));
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        Err(errors)
    }
}

/// All `type=multireg` sections. A section whose endpoint (or secondary name) is already claimed by
/// an earlier section is an error, so one endpoint never has two policies.
pub fn parse_sections(sections: &[(String, Vec<(String, String)>)]) -> (Vec<MultiregConfig>, Vec<ConfigError>) {
    let mut good: Vec<MultiregConfig> = Vec::new();
    let mut errors = Vec::new();
    // Hashed, so 10,000 sections cost 10,000 lookups rather than 10,000² comparisons.
    let mut sections_seen: HashSet<String> = HashSet::new();
    let mut claims = Claims::default();
    for (section, options) in sections {
        let config = match parse_section(section, options) {
            Ok(config) => config,
            Err(mut section_errors) => {
                errors.append(&mut section_errors);
                continue;
            }
        };
        let conflict = if sections_seen.contains(&config.section) {
            Some(("", "section is defined more than once".to_string()))
        } else {
            claims.conflict(&config)
        };
        match conflict {
            Some((option, reason)) => errors.push(ConfigError { section: section.clone(), option: option.into(), reason }),
            None => {
                sections_seen.insert(config.section.clone());
                claims.add(&config);
                good.push(config);
            }
        }
    }
    (good, errors)
}

fn claimed_names(config: &MultiregConfig) -> Vec<String> {
    std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint()).collect()
}

/// The section that claims each endpoint name (a primary, or a derived secondary); the first
/// claim wins.
#[derive(Default)]
struct Claims {
    owner: HashMap<String, String>,
}

impl Claims {
    fn of(configs: &[MultiregConfig]) -> Claims {
        let mut claims = Claims::default();
        for config in configs {
            claims.add(config);
        }
        claims
    }

    fn add(&mut self, config: &MultiregConfig) {
        for name in claimed_names(config) {
            self.owner.entry(name).or_insert_with(|| config.section.clone());
        }
    }

    /// The option and reason when a name `config` claims is already another section's.
    fn conflict(&self, config: &MultiregConfig) -> Option<(&'static str, String)> {
        for (index, name) in claimed_names(config).into_iter().enumerate() {
            if let Some(owner) = self.owner.get(&name) {
                let option = if index == 0 { "endpoint" } else { "secondary_suffix" };
                return Some((option, format!("endpoint '{name}' is already covered by section [{owner}]")));
            }
        }
        None
    }
}

/// The configuration in force after a (re)load, keyed by section: new good sections, plus the
/// previous settings of sections that now have errors ("last good settings stay in force"),
/// unless a new good section claims the same endpoint. Sections gone from the file are dropped.
pub fn apply_reload(
    previous: &HashMap<String, MultiregConfig>,
    parsed: Vec<MultiregConfig>,
    errors: &[ConfigError],
) -> HashMap<String, MultiregConfig> {
    let fresh = Claims::of(&parsed);
    let mut in_force: HashMap<String, MultiregConfig> = parsed.into_iter().map(|c| (c.section.clone(), c)).collect();
    for error in errors {
        if in_force.contains_key(&error.section) {
            continue;
        }
        if let Some(old) = previous.get(&error.section) {
            if fresh.conflict(old).is_none() {
                in_force.insert(error.section.clone(), old.clone());
            }
        }
    }
    in_force
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    fn parse(items: &[(&str, &str)]) -> Result<MultiregConfig, Vec<ConfigError>> {
        parse_section("101", &pairs(items))
    }

    fn one_error(items: &[(&str, &str)]) -> ConfigError {
        let errors = parse(items).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        errors.into_iter().next().unwrap()
    }

    #[test]
    fn defaults_an_admin_expects() {
        let config = parse(&[("type", "multireg")]).unwrap();
        assert_eq!(config, MultiregConfig::with_defaults("101"));
        assert_eq!(config.endpoint, "101");
        assert_eq!(config.limits(), TypeLimits { ip_phone: 1, web: 1, desktop: 1, mobile: 1 });
        assert_eq!(config.at_limit, AtLimit::Reject);
        assert_eq!(config.secondary_endpoint(), None);
        assert_eq!(config.ring_mode_default, RingMode::Both);
        assert_eq!((config.auth_fail_limit, config.auth_fail_window, config.auth_block_time), (5, 60, 300));
        assert_eq!(config.max_concurrent_calls, 0);
    }

    #[test]
    fn every_option_is_documented_and_parsed() {
        let names: Vec<&str> = OPTION_DOCS.iter().map(|(name, _, _)| *name).collect();
        for required in ["endpoint", "max_ip_phones", "at_limit", "auth_block_exempt", "ring_mode_confirm"] {
            assert!(names.contains(&required), "{required}");
        }
        // Each documented option is known to the parser (an unknown one would be an error).
        for (name, _, description) in OPTION_DOCS {
            assert!(!description.is_empty());
            let mut config = MultiregConfig::with_defaults("101");
            assert_ne!(apply_option(&mut config, name, "").err().as_deref(), Some("unknown option"), "{name}");
        }
    }

    #[test]
    fn yeastar_example_parses() {
        let config = parse(&[
            ("type", "multireg"),
            ("max_ip_phones", "3"),
            ("max_web_clients", "3"),
            ("max_desktop_clients", "3"),
            ("MAX_MOBILE_CLIENTS", " 2 "),
            ("at_limit", "replace_oldest"),
        ])
        .unwrap();
        assert_eq!(config.limits().total(), 11);
        assert_eq!(config.at_limit, AtLimit::ReplaceOldest);
    }

    #[test]
    fn out_of_range_and_non_integer_limits_name_option() {
        let e = one_error(&[("max_web_clients", "4")]);
        assert_eq!((e.option.as_str(), e.reason.as_str()), ("max_web_clients", "4 is out of range 0-3"));
        assert_eq!(e.to_string(), "type=multireg section [101], option 'max_web_clients': 4 is out of range 0-3");
        assert_eq!(one_error(&[("max_ip_phones", "6")]).reason, "6 is out of range 0-5");
        assert_eq!(one_error(&[("max_ip_phones", "-1")]).reason, "'-1' is not a whole number in 0-5");
        assert_eq!(one_error(&[("max_mobile_clients", "two")]).option, "max_mobile_clients");
        assert_eq!(one_error(&[("secondary_max_devices", "0")]).reason, "0 is out of range 1-14");
        assert_eq!(one_error(&[("auth_block_time", "86401")]).option, "auth_block_time");
        assert_eq!(one_error(&[("max_concurrent_calls", "99999999999999999999")]).option, "max_concurrent_calls");
        assert_eq!(parse(&[("max_ip_phones", "5"), ("max_web_clients", "0")]).unwrap().limits().total(), 7);
    }

    #[test]
    fn all_errors_of_a_section_are_reported() {
        let errors = parse(&[("max_web_clients", "9"), ("bogus", "1"), ("at_limit", "kick")]).unwrap_err();
        let options: Vec<&str> = errors.iter().map(|e| e.option.as_str()).collect();
        assert_eq!(options, ["max_web_clients", "bogus", "at_limit"]);
        assert_eq!(errors[1].reason, "unknown option");
    }

    #[test]
    fn booleans_like_ast_true() {
        for (word, expected) in
            [("yes", true), ("ON", true), ("1", true), ("t", true), ("no", false), ("off", false), ("0", false)]
        {
            assert_eq!(parse(&[("all_busy_mode", word)]).unwrap().all_busy_mode, expected, "{word}");
        }
        assert_eq!(one_error(&[("dual_registration", "maybe")]).option, "dual_registration");
    }

    #[test]
    fn user_agent_overrides_compile_or_name_option() {
        let config = parse(&[("desktop_user_agents", "^Yealink")]).unwrap();
        assert_eq!(config.classifier.patterns()[2], "^Yealink");
        assert_eq!(config.desktop_user_agents.as_deref(), Some("^Yealink"));
        let e = one_error(&[("mobile_user_agents", "(unclosed")]);
        assert_eq!(e.option, "mobile_user_agents");
        assert!(e.reason.starts_with("invalid regular expression: "), "{}", e.reason);
        assert!(!e.reason.contains('\n'));
        assert_eq!(one_error(&[("web_user_agents", "[z-a]")]).option, "web_user_agents");
    }

    #[test]
    fn secondary_and_suffix() {
        let config = parse(&[("dual_registration", "yes")]).unwrap();
        assert_eq!(config.secondary_endpoint().as_deref(), Some("101r"));
        let config = parse(&[("dual_registration", "yes"), ("secondary_suffix", "_remote"), ("endpoint", "12345101")]).unwrap();
        assert_eq!(config.secondary_endpoint().as_deref(), Some("12345101_remote"));
        for bad in ["", "toolongxx", "r/x", "r&"] {
            assert_eq!(one_error(&[("secondary_suffix", bad)]).option, "secondary_suffix", "{bad}");
        }
        let long = "9".repeat(80);
        let e = one_error(&[("endpoint", &long), ("dual_registration", "yes")]);
        assert_eq!(e.option, "secondary_suffix");
    }

    #[test]
    fn endpoint_defaults_to_section_and_is_validated() {
        assert_eq!(parse(&[("endpoint", "alice")]).unwrap().endpoint, "alice");
        assert_eq!(one_error(&[("endpoint", "10 1")]).option, "endpoint");
        let errors = parse_section("bad name", &pairs(&[])).unwrap_err();
        assert_eq!(errors[0].option, "endpoint");
        assert!(parse_section("bad name", &pairs(&[("endpoint", "101")])).is_ok());
    }

    #[test]
    fn remote_destination_refuses_injection() {
        assert_eq!(parse(&[("remote_destination", "PJSIP/0044123@trunk")]).unwrap().remote_destination, "PJSIP/0044123@trunk");
        assert_eq!(parse(&[("remote_destination", "")]).unwrap().remote_destination, "");
        for bad in
            ["PJSIP/1&Local/2", "PJSIP/1,30", "PJSIP/1(x)", "PJSIP/a b", "PJSIP/${X}", "0044123", "/x", "PJ SIP/1", "PJSIP/\u{7}"]
        {
            assert_eq!(one_error(&[("remote_destination", bad)]).option, "remote_destination", "{bad}");
        }
    }

    #[test]
    fn ring_mode_options() {
        assert_eq!(parse(&[("ring_mode_default", "Home")]).unwrap().ring_mode_default, RingMode::Home);
        assert_eq!(one_error(&[("ring_mode_default", "2")]).option, "ring_mode_default");
        assert_eq!(RingMode::parse("2"), Some(RingMode::Remote));
        assert_eq!(RingMode::Both.as_str(), "both");
        let config = parse(&[("ring_mode_prompt", "custom/ringmode&beep"), ("ring_mode_confirm", "auth-thankyou")]).unwrap();
        assert_eq!(
            (config.ring_mode_prompt.as_str(), config.ring_mode_confirm.as_str()),
            ("custom/ringmode&beep", "auth-thankyou")
        );
        assert_eq!(parse(&[("ring_mode_timeout", "2")]).unwrap().ring_mode_timeout, 2);
        assert_eq!(one_error(&[("ring_mode_timeout", "0")]).option, "ring_mode_timeout");
        for bad in ["", "a&&b", "a,b", "a b", "../x.gsm", "a&"] {
            assert_eq!(one_error(&[("ring_mode_prompt", bad)]).option, "ring_mode_prompt", "{bad}");
        }
        assert!(parse_sounds(DEFAULT_RING_MODE_PROMPT).is_ok() && parse_sounds(DEFAULT_RING_MODE_CONFIRM).is_ok());
    }

    #[test]
    fn auth_blocking_can_be_off_and_ipv6_grouping_is_bounded() {
        let off = parse(&[("auth_fail_limit", "0")]).unwrap();
        assert!(!off.block_settings().enabled());
        assert_eq!(one_error(&[("auth_fail_limit", "101")]).option, "auth_fail_limit");
        let settings = parse(&[("auth_block_ipv6_prefix", "48"), ("auth_fail_window", "30")]).unwrap().block_settings();
        assert_eq!((settings.ipv6_prefix, settings.window.as_secs(), settings.limit), (48, 30, 5));
        assert_eq!(MultiregConfig::with_defaults("101").block_settings().ipv6_prefix, 64);
        for bad in ["15", "129", "x", "-1"] {
            assert_eq!(one_error(&[("auth_block_ipv6_prefix", bad)]).option, "auth_block_ipv6_prefix", "{bad}");
        }
    }

    #[test]
    fn auth_block_exempt_networks() {
        let config =
            parse(&[("auth_block_exempt", "127.0.0.1, 10.1.2.3/8,192.168.0.0/255.255.0.0, ::1, 2001:db8::/32")]).unwrap();
        let exempt = |a: &str| config.is_auth_block_exempt(&a.parse().unwrap());
        assert!(
            exempt("127.0.0.1") && exempt("10.200.0.1") && exempt("192.168.44.5") && exempt("::1") && exempt("2001:db8:ffff::1")
        );
        assert!(exempt("::ffff:10.0.0.9"));
        assert!(!exempt("127.0.0.2") && !exempt("11.0.0.1") && !exempt("2001:db9::1") && !exempt("::2"));
        assert_eq!(config.auth_block_exempt[1].to_string(), "10.0.0.0/8");
        for bad in ["10.0.0.0/33", "hostname", "10.0.0.0/255.0.255.0", "::1/129", "1.2.3.4/x"] {
            assert_eq!(one_error(&[("auth_block_exempt", bad)]).option, "auth_block_exempt", "{bad}");
        }
        assert!("0.0.0.0/0".parse::<Cidr>().unwrap().contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn max_contacts_warning() {
        let config =
            parse(&[("max_ip_phones", "3"), ("max_web_clients", "3"), ("max_desktop_clients", "3"), ("max_mobile_clients", "2")])
                .unwrap();
        assert_eq!(config.max_contacts_problem("101", 11), None);
        let text = config.max_contacts_problem("101", 1).unwrap();
        assert!(
            text.contains("max_contacts=1") && text.contains("allows 11 devices") && text.contains("set max_contacts=11"),
            "{text}"
        );
        assert!(config.max_contacts_problem("101", 0).unwrap().contains("refuses every registration"));
    }

    fn section(name: &str, items: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
        (name.to_string(), pairs(items))
    }

    #[test]
    fn sections_collect_good_and_bad() {
        let (good, errors) = parse_sections(&[
            section("101", &[("max_web_clients", "3")]),
            section("102", &[("max_web_clients", "7")]),
            section("103", &[]),
        ]);
        assert_eq!(good.iter().map(|c| c.section.as_str()).collect::<Vec<_>>(), ["101", "103"]);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].section.as_str(), errors[0].option.as_str()), ("102", "max_web_clients"));
    }

    #[test]
    fn one_endpoint_gets_one_policy() {
        let (good, errors) = parse_sections(&[
            section("101", &[("dual_registration", "yes")]),
            section("alt", &[("endpoint", "101")]),
            section("101r", &[]),
            section("101", &[]),
        ]);
        assert_eq!(good.len(), 1);
        let found: Vec<(&str, &str)> = errors.iter().map(|e| (e.section.as_str(), e.option.as_str())).collect();
        assert_eq!(found, [("alt", "endpoint"), ("101r", "endpoint"), ("101", "")]);
        assert!(errors[1].reason.contains("section [101]"));
    }

    #[test]
    fn reload_keeps_last_good_settings() {
        let (good, errors) =
            parse_sections(&[section("101", &[("max_web_clients", "3")]), section("102", &[]), section("104", &[])]);
        let first = apply_reload(&HashMap::new(), good, &errors);
        assert_eq!(first.len(), 3);
        let (good, errors) = parse_sections(&[
            section("101", &[("max_web_clients", "9")]),
            section("102", &[("max_web_clients", "2")]),
            section("103", &[("at_limit", "bad")]),
        ]);
        let second = apply_reload(&first, good, &errors);
        assert_eq!(second["101"].max_web_clients, 3, "bad reload keeps the last good value");
        assert_eq!(second["102"].max_web_clients, 2, "good reload applies");
        assert!(!second.contains_key("103"), "never-good section stays absent");
        assert!(!second.contains_key("104"), "removed section is dropped");
    }

    #[test]
    fn reload_does_not_keep_old_policy_that_clashes_with_new_one() {
        let (good, errors) = parse_sections(&[section("old", &[("endpoint", "101")])]);
        let first = apply_reload(&HashMap::new(), good, &errors);
        let (good, errors) =
            parse_sections(&[section("old", &[("endpoint", "101"), ("bogus", "x")]), section("new", &[("endpoint", "101")])]);
        let second = apply_reload(&first, good, &errors);
        assert_eq!(second.keys().collect::<Vec<_>>(), ["new"]);
    }
}

#[cfg(test)]
mod documentation_tests {
    use super::OPTION_DOCS;

    /// Every option is documented in the XML Asterisk shows, with the same default
    /// (regenerate with scripts/update-config-docs.py).
    #[test]
    fn xml_documentation_lists_every_option_with_its_default() {
        let xml = include_str!("../../docs/res_pjsip_multireg-en_US.xml");
        for (name, default, _) in OPTION_DOCS.iter().filter(|(name, _, _)| *name != "type") {
            let escaped = default.replace('&', "&amp;");
            let tag = format!("<configOption name=\"{name}\" default=\"{escaped}\">");
            assert!(xml.contains(&tag), "docs/res_pjsip_multireg-en_US.xml lacks {tag}");
        }
    }

    /// The realtime table has one column per option (a new option needs a column in
    /// contrib/realtime/postgresql/multireg.sql and the Alembic migration beside it).
    #[test]
    fn the_postgresql_table_has_a_column_for_every_option() {
        let sql = include_str!("../../contrib/realtime/postgresql/multireg.sql");
        let migration = include_str!("../../contrib/ast-db-manage/config/versions/7a2c3e9d41b0_res_pjsip_multireg.py");
        for (name, _, _) in OPTION_DOCS.iter().filter(|(name, _, _)| *name != "type") {
            assert!(
                sql.contains(&format!("    {name} TEXT,")) || sql.contains(&format!("    {name} TEXT\n")),
                "multireg.sql lacks {name}"
            );
            assert!(migration.contains(&format!("sa.Column('{name}', sa.Text)")), "the Alembic migration lacks {name}");
        }
    }
}
