//! Fuzz target bodies: everything the module reads from the network or from configuration, fed
//! with arbitrary bytes, checking properties that must hold for every input (a broken property
//! panics, which libFuzzer reports as a crash).
//!
//! Shared by the cargo-fuzz binaries in `fuzz/` (`make fuzz`, which includes this file and
//! `src/policy/` by path, so no Asterisk symbol is needed) and by the corpus replay test below,
//! which `make test` runs on the stable toolchain. Seeds and what the fuzzers found live in
//! `fuzz/corpus/<target>/`. Inputs are text, one field per line, so seeds stay readable.
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::policy::admin_args::{block_address, completions};
use crate::policy::aor_lookup::{find_aor_name, registrar_aor, AorQuery};
use crate::policy::authblock::{parse_cidr_list, security_event_address, BlockSettings, BlockTable, ChallengeLog, Cidr};
use crate::policy::call_plan::parse_dial_args;
use crate::policy::calls::{endpoint_of_channel, is_channel_of_endpoint, pjsip_endpoint_of};
use crate::policy::classify::{ClassifierRules, ClientType, DeviceFacts};
use crate::policy::config::{apply_reload, parse_bool, parse_sections, MultiregConfig};
use crate::policy::device_book::normalize_instance;
use crate::policy::dialstring::{build_dial_string, is_dial_unsafe, sanitize_contact_uri, DialTargets};
use crate::policy::display::{escape_controls, escape_controls_in_log};
use crate::policy::limits::AtLimit;
use crate::policy::names::{validate_extension_name, MAX_NAME_LEN};
use crate::policy::ringmode::{astdb_key, decode, parse_ringmode_args, RingMode};
use crate::policy::secondary::secondary_name;

/// A target body: one input, a panic when a property does not hold.
pub type Target = fn(&[u8]);

/// Every target by name: the name is the cargo-fuzz binary and the corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("classify", classify),
    ("names", names),
    ("config", config),
    ("dialstring", dialstring),
    ("authblock", authblock),
    ("admin_args", admin_args),
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

fn no_controls(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

/// REGISTER facts → client type. Lines: transport, User-Agent, Contact URI, then Contact
/// parameters (`name` or `name=value`); a line `web_user_agents=<re>` (or mobile_, desktop_)
/// replaces that built-in expression, as pjsip.conf does.
pub fn classify(data: &[u8]) {
    let input = text(data);
    let mut lines = input.split('\n');
    let transport = lines.next().unwrap_or("");
    let user_agent = lines.next().unwrap_or("");
    let contact_uri = lines.next().unwrap_or("");
    let mut params = Vec::new();
    let mut overrides: [Option<&str>; 3] = [None; 3];
    for line in lines {
        let (name, value) = match line.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (line, None),
        };
        match (name, value) {
            ("web_user_agents", Some(re)) => overrides[0] = Some(re),
            ("mobile_user_agents", Some(re)) => overrides[1] = Some(re),
            ("desktop_user_agents", Some(re)) => overrides[2] = Some(re),
            _ => params.push((name.trim().to_ascii_lowercase(), value.map(str::to_string))),
        }
    }
    let rules = ClassifierRules::new(overrides[0], overrides[1], overrides[2]).unwrap_or_default();
    let facts = DeviceFacts { transport, user_agent, contact_params: &params, contact_uri };
    let verdict = rules.classify(&facts);
    assert_eq!(verdict, rules.classify(&facts), "classification is a function of the facts");
    assert!(no_controls(&verdict.reason), "reason shown on the CLI carries control characters: {:?}", verdict.reason);
    if ["ws", "wss"].iter().any(|t| transport.trim().eq_ignore_ascii_case(t)) {
        assert_eq!(verdict.client_type, ClientType::Web);
    }
    assert_eq!(ClientType::parse(verdict.client_type.as_str()), Some(verdict.client_type));
    for (_, value) in params.iter().filter(|(name, _)| name == "+sip.instance") {
        if let Some(instance) = value.as_deref().and_then(normalize_instance) {
            assert!(!instance.is_empty() && instance == instance.to_ascii_lowercase());
            assert_eq!(normalize_instance(&instance).as_deref(), Some(instance.as_str()), "normalizing twice changes nothing");
        }
    }
    let shown = escape_controls(user_agent);
    assert!(no_controls(&shown));
}

/// Names from the network and from the dialplan. First line against the second and the rest:
/// extension names, secondary names, AOR lookup, channel and interface names, ring mode
/// arguments and stored values, `+sip.instance`, security event addresses, text shown to admins.
pub fn names(data: &[u8]) {
    let input = text(data);
    let (first, rest) = input.split_once('\n').unwrap_or((&input, ""));
    let (second, rest) = rest.split_once('\n').unwrap_or((rest, ""));
    if validate_extension_name(first).is_ok() {
        assert!((1..=MAX_NAME_LEN).contains(&first.len()));
        assert!(!first.chars().any(is_dial_unsafe), "a valid name is safe in a Dial string");
        assert_eq!(astdb_key(first), Ok(first));
    } else {
        assert!(astdb_key(first).is_err());
    }
    if let Ok(secondary) = secondary_name(first, second) {
        assert_eq!(secondary, format!("{first}{second}"));
        assert_eq!(validate_extension_name(&secondary), Ok(()), "{secondary}");
    }
    // The quick "different binding" proof is symmetric and never calls a URI different from itself.
    assert_eq!(
        crate::policy::contact_uri::surely_different(first, second),
        crate::policy::contact_uri::surely_different(second, first)
    );
    assert!(!crate::policy::contact_uri::surely_different(first, first));
    let alias = |domain: &str| (domain == second).then(|| first.to_string());
    if let Some(aor) = find_aor_name(first, second, rest, &alias) {
        assert!(rest.split(',').any(|name| name.trim() == aor), "the AOR found is one of the list");
    }
    let digest = vec![(second.to_string(), first.to_string())];
    for ignore_uri_user_options in [false, true] {
        let query = AorQuery {
            to_user: first,
            to_host: second,
            ignore_uri_user_options,
            digest_users: &digest,
            identify_by_auth_username: true,
            aors: rest,
        };
        if let Some(aor) = registrar_aor(&query, &alias) {
            assert!(!aor.is_empty() && rest.split(',').any(|name| name.trim() == aor));
        }
    }
    for candidate in [first, second, input.as_str()] {
        if let Some(endpoint) = endpoint_of_channel(candidate) {
            assert!(!endpoint.is_empty() && candidate.contains(endpoint));
        }
        if let Some(endpoint) = pjsip_endpoint_of(candidate) {
            assert!(!endpoint.is_empty() && !endpoint.contains('/') && candidate.contains(endpoint));
        }
        if !second.is_empty() && is_channel_of_endpoint(candidate, second) {
            assert_eq!(endpoint_of_channel(candidate), Some(second), "{candidate}");
        }
        if let Some(address) = security_event_address(candidate) {
            assert_eq!(address.to_string().parse::<IpAddr>(), Ok(address));
        }
        if let Some(mode) = decode(candidate) {
            assert_eq!(decode(mode.as_str()), Some(mode));
        }
        if let Some(instance) = normalize_instance(candidate) {
            assert_eq!(normalize_instance(&instance).as_deref(), Some(instance.as_str()));
        }
        let shown = escape_controls(candidate);
        assert!(no_controls(&shown), "{shown:?}");
        let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        assert!(!shown.chars().any(bidi));
        if no_controls(candidate) && !candidate.chars().any(bidi) {
            assert_eq!(shown, candidate);
        }
        let logged = escape_controls_in_log(candidate);
        assert!(!logged.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
        assert_eq!(logged.matches('\n').count(), candidate.matches('\n').count(), "log lines keep their breaks");
    }
    if let Ok(args) = parse_ringmode_args(&input) {
        if let Some(extension) = &args.extension {
            assert_eq!(validate_extension_name(extension), Ok(()));
        }
    }
}

/// `type=multireg` sections as pjsip.conf holds them: `[section]` lines, then `option=value`.
fn sections_of(input: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut sections: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in input.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.split_once(']')).map(|(name, _)| name) {
            sections.push((name.trim().to_string(), Vec::new()));
        } else if let (Some((option, value)), Some(section)) = (line.split_once('='), sections.last_mut()) {
            let value = value.strip_prefix('>').unwrap_or(value);
            section.1.push((option.trim().to_string(), value.trim().to_string()));
        }
    }
    sections
}

fn claimed(config: &MultiregConfig) -> Vec<String> {
    std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint()).collect()
}

fn check_config(config: &MultiregConfig) {
    assert_eq!(validate_extension_name(&config.endpoint), Ok(()));
    for client_type in ClientType::ALL {
        assert!(config.limits().get(client_type) <= client_type.max_limit());
    }
    if let Some(secondary) = config.secondary_endpoint() {
        assert_eq!(validate_extension_name(&secondary), Ok(()), "{secondary}");
        assert_ne!(secondary, config.endpoint);
    }
    assert!(!config.remote_destination.chars().any(is_dial_unsafe), "{:?}", config.remote_destination);
    assert!((1..=14).contains(&config.secondary_max_devices));
    assert!((16..=128).contains(&config.auth_block_ipv6_prefix));
    assert!(config.max_concurrent_calls <= 100 && (1..=30).contains(&config.ring_mode_timeout));
    for sounds in [&config.ring_mode_prompt, &config.ring_mode_confirm] {
        assert!(!sounds.is_empty() && !sounds.chars().any(|c| c != '&' && is_dial_unsafe(c)));
    }
    let settings = config.block_settings();
    assert_eq!(settings.exempt, config.auth_block_exempt);
}

/// Configuration validation: parse_sections, then a reload where half of the sections changed.
pub fn config(data: &[u8]) {
    let input = text(data);
    let sections = sections_of(&input);
    if sections.len() > 64 || sections.iter().map(|(_, options)| options.len()).sum::<usize>() > 256 {
        return;
    }
    let (good, errors) = parse_sections(&sections);
    let names: HashSet<&str> = sections.iter().map(|(name, _)| name.as_str()).collect();
    let mut seen = HashSet::new();
    for config in &good {
        check_config(config);
        assert!(names.contains(config.section.as_str()));
        for name in claimed(config) {
            assert!(seen.insert(name.clone()), "endpoint {name} claimed twice");
        }
    }
    for error in &errors {
        assert!(names.contains(error.section.as_str()), "error about an unknown section: {error}");
        assert!(error.to_string().contains(&format!("[{}]", error.section)));
    }
    // Reload: the first half of the sections now with the second half's options.
    let previous: HashMap<String, MultiregConfig> = good.into_iter().map(|c| (c.section.clone(), c)).collect();
    let half = sections.len() / 2;
    let changed: Vec<_> = sections
        .iter()
        .enumerate()
        .map(
            |(i, (name, options))| {
                if i < half {
                    (name.clone(), sections[i + half].1.clone())
                } else {
                    (name.clone(), options.clone())
                }
            },
        )
        .collect();
    let (parsed, errors) = parse_sections(&changed);
    let in_force = apply_reload(&previous, parsed, &errors);
    let mut seen = HashSet::new();
    for (section, config) in &in_force {
        assert_eq!(section, &config.section);
        assert!(names.contains(section.as_str()), "a section no longer in the file stays in force");
        for name in claimed(config) {
            assert!(seen.insert(name.clone()), "after reload endpoint {name} has two policies");
        }
    }
}

/// Dial strings from device contacts. Lines `endpoint contact-uri`; a line `remote=<target>` adds
/// the remote destination; a line `args=<data>` is MultiregDial's data; the input length picks
/// the room for MULTIREG_DIAL.
pub fn dialstring(data: &[u8]) {
    let input = text(data);
    let mut targets = Vec::new();
    let mut remote = None;
    let mut args = None;
    for line in input.lines().take(200) {
        if let Some(target) = line.strip_prefix("remote=") {
            remote = Some(target.to_string());
        } else if let Some(data) = line.strip_prefix("args=") {
            args = Some(data.to_string());
        } else {
            let (endpoint, uri) = line.split_once([' ', '\t']).unwrap_or((line, ""));
            targets.push((endpoint.to_string(), uri.to_string()));
        }
    }
    let (dial, skipped) = build_dial_string(&targets);
    let parts: Vec<&str> = dial.split('&').filter(|p| !p.is_empty()).collect();
    assert!(parts.len() + skipped.len() <= targets.len());
    for part in &parts {
        assert!(part.starts_with("PJSIP/"), "{part}");
        // Only the brackets of one IPv6 reference, balanced, may appear.
        assert!(!part.chars().any(|c| is_dial_unsafe(c) && c != '[' && c != ']'), "unsafe character in a dial target: {part:?}");
        assert!(part.matches('[').count() <= 1 && part.matches('[').count() == part.matches(']').count(), "{part:?}");
    }
    for (_, uri) in &targets {
        if let Ok(safe) = sanitize_contact_uri(uri.trim()) {
            assert!(!safe.chars().any(|c| is_dial_unsafe(c) && c != '[' && c != ']'), "{safe:?}");
            assert_eq!(sanitize_contact_uri(&safe).as_ref(), Ok(&safe), "sanitizing twice changes {uri:?}");
        }
    }
    let remote = remote.filter(|r| !r.is_empty() && !r.chars().any(is_dial_unsafe));
    let dial_targets = DialTargets { contacts: parts.iter().map(|p| p.to_string()).collect(), remote };
    let all: Vec<String> = dial_targets.contacts.iter().cloned().chain(dial_targets.remote.clone()).collect();
    for room in [0, data.len() / 2, data.len(), 4095, usize::MAX] {
        let (fitted, omitted) = dial_targets.fit(room);
        assert!(fitted.len() <= room);
        let kept: Vec<&str> = fitted.split('&').filter(|p| !p.is_empty()).collect();
        assert_eq!(kept.len() + omitted, dial_targets.count(), "room {room}: {fitted}");
        assert!(kept.iter().all(|k| all.iter().any(|t| t == k)), "a target was cut: {fitted}");
    }
    assert_eq!(dial_targets.fit(usize::MAX).1, 0);
    if let Some(data) = args {
        if let Ok(parsed) = parse_dial_args(&data) {
            assert!(parsed.timeout.chars().all(|c| c.is_ascii_digit()));
            let dial_data = parsed.dial_data(&dial_targets);
            assert!(dial_data.starts_with(&dial_targets.joined()));
        }
    }
}

fn address(bytes: &[u8], pool: &[Cidr]) -> IpAddr {
    let pick = |i: usize| bytes.get(i).copied().unwrap_or(0);
    match pick(0) % 4 {
        0 => IpAddr::V4(Ipv4Addr::new(10, 0, pick(1) % 4, pick(2) % 4)),
        1 => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, u16::from(pick(1) % 3), 0, 0, 0, u16::from(pick(2)))),
        2 => IpAddr::V6(Ipv4Addr::new(10, 0, pick(1) % 4, pick(2) % 4).to_ipv6_mapped()),
        _ => pool.get(usize::from(pick(1)) % pool.len().max(1)).map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.network()),
    }
}

/// Failed-authentication blocking: the exempt list (first line, as `auth_block_exempt`), then
/// every following byte group is one operation on a small block table and challenge log, with
/// time moving forward.
pub fn authblock(data: &[u8]) {
    let (line, ops) = match data.iter().position(|&b| b == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    let exempt = match parse_cidr_list(&text(line)) {
        Ok(list) => list,
        Err(reason) => {
            assert!(!reason.is_empty());
            Vec::new()
        }
    };
    for cidr in &exempt {
        assert!(cidr.contains(cidr.network()), "{cidr} does not contain its own network");
        assert!(cidr.prefix_len() <= if cidr.network().is_ipv4() { 32 } else { 128 });
        assert_eq!(cidr.to_string().parse::<Cidr>(), Ok(*cidr), "printing and reading {cidr} differs");
    }
    let seed = |i: usize| ops.get(i).copied().unwrap_or(1);
    let settings = BlockSettings {
        limit: u32::from(seed(0) % 5) + 1,
        window: Duration::from_secs(u64::from(seed(1) % 60) + 1),
        block_time: Duration::from_secs(u64::from(seed(2) % 120) + 1),
        exempt: exempt.clone(),
        ipv6_prefix: 16 + seed(3) % 113,
    };
    let capacity = usize::from(seed(4) % 8) + 1;
    let mut table = BlockTable::new(capacity);
    let mut challenges = ChallengeLog::new(4, Duration::from_secs(32));
    let start = Instant::now();
    let mut now = start;
    for op in ops.get(5..).unwrap_or(&[]).chunks(4).take(2000) {
        let ip = address(&op[1..], &exempt);
        let section = u32::from(op.get(3).copied().unwrap_or(0) % 3);
        match op[0] % 8 {
            0 | 1 => {
                let event = table.record_failure(ip, section, &settings, now);
                if settings.is_exempt(ip) {
                    assert!(event.is_none() && !table.is_blocked(ip, section, &settings, now));
                }
                if let Some(event) = event {
                    assert_eq!(event.failures, settings.limit);
                    assert!(event.source.contains(ip));
                    assert!(table.is_blocked(ip, section, &settings, now), "a new block does not refuse {ip}");
                }
            }
            2 => {
                let was_blocked = table.is_blocked(ip, section, &settings, now);
                table.record_success(ip, section, &settings);
                assert_eq!(table.is_blocked(ip, section, &settings, now), was_blocked, "a success lifted a block");
            }
            3 => now += Duration::from_secs(u64::from(op.get(1).copied().unwrap_or(0))),
            4 => {
                table.clear(Some(ip), now);
                assert!(!table.is_blocked(ip, section, &settings, now));
            }
            5 => {
                table.retain(|_, s, _| s != section, now);
                assert!(!table.is_blocked(ip, section, &settings, now));
            }
            6 => {
                let nonce = format!("{:02x}", op.get(3).copied().unwrap_or(0));
                challenges.record(ip, &nonce, now);
                assert!(challenges.proves(ip, &nonce, now));
                assert!(!challenges.proves(ip, "", now));
                assert!(challenges.len() <= 4);
            }
            _ => table.sweep(now),
        }
        assert!(table.len() <= table.capacity());
        assert!(table.allocated_bytes() <= BlockTable::allocation_bound(table.capacity()));
        let listed = table.blocked(now);
        assert!(listed.len() <= table.active_blocks());
        assert!(listed.iter().all(|b| b.remaining > Duration::ZERO && b.remaining <= settings.block_time));
    }
    table.clear(None, now);
    assert!(table.is_empty() && table.active_blocks() == 0);
}

/// CLI and AMI arguments: the address of `clear blocks`, ring mode words, client types, at_limit
/// and yes/no words, tab completion. One argument per line.
pub fn admin_args(data: &[u8]) {
    let input = text(data);
    let words: Vec<&str> = input.lines().take(64).collect();
    for word in &words {
        match block_address(Some(word)) {
            Ok(Some(ip)) => assert_eq!(block_address(Some(&ip.to_string())), Ok(Some(ip))),
            Ok(None) => unreachable!("an address was given"),
            Err(reason) => assert!(reason.contains("is not an IP address")),
        }
        if let Some(mode) = RingMode::parse(word) {
            assert_eq!(RingMode::parse(mode.as_str()), Some(mode));
            assert_eq!(RingMode::from_digit(mode.digit()), Some(mode));
        }
        if let Some(client_type) = ClientType::parse(word) {
            assert_eq!(client_type.as_str(), word.trim().to_ascii_lowercase());
        }
        if let Some(at_limit) = AtLimit::parse(word) {
            assert_eq!(AtLimit::parse(at_limit.as_str()), Some(at_limit));
        }
        if let Ok(value) = parse_bool(word) {
            assert_eq!(parse_bool(if value { "yes" } else { "no" }), Ok(value));
        }
    }
    let options: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    for word in words.iter().take(8) {
        let found = completions(options.clone(), word);
        assert!(found.iter().all(|f| f.starts_with(word)));
        assert!(found.iter().any(|f| f == word), "a candidate completes to itself");
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::TARGETS;

    /// Every file of `fuzz/corpus/<target>/` (seeds plus what `make fuzz` kept) through its
    /// target: the short corpus run of `make test`, on the stable toolchain.
    #[test]
    fn corpus_replays_without_a_failure() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (name, target) in TARGETS {
            let folder = root.join(name);
            let mut files: Vec<_> = std::fs::read_dir(&folder)
                .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
                .map(|entry| entry.unwrap().path())
                .collect();
            files.sort();
            assert!(!files.is_empty(), "{name}: no corpus");
            for file in files {
                let data = std::fs::read(&file).unwrap();
                let outcome = std::panic::catch_unwind(|| target(&data));
                assert!(outcome.is_ok(), "fuzz target {name} fails on {}", file.display());
            }
        }
    }
}
