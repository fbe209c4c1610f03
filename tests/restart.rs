//! `core restart now` with devices registered, ring modes chosen three ways and an address
//! blocked (issue 10): registrations and ring modes come back exactly (nothing lost, nothing
//! twice), and a restart lifts failed-authentication blocks, as the README says.
mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{wait_for, Asterisk, Config, Transport};

const POLICIES: &str = "\
[101]
type = multireg
max_ip_phones = 3
dual_registration = yes
auth_fail_limit = 2
auth_block_time = 600
[102]
type = multireg
[103]
type = multireg
ring_mode_default = home
";

/// The devices of `multireg show extension`, one text per device: type, endpoint, AOR,
/// User-Agent, Contact and source address (list number, expiry countdown and the wording of
/// the reason left out: a device read back from the store says so).
fn devices(asterisk: &Asterisk, extension: &str) -> BTreeSet<String> {
    let text = asterisk.cli(&format!("multireg show extension {extension}"));
    let start = text.find("Devices:").unwrap_or_else(|| panic!("{text}"));
    let mut found = BTreeSet::new();
    let mut current = String::new();
    for line in text[start..].lines().skip(1) {
        let line = line.trim();
        if let Some((number, rest)) = line.split_once(". ").filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit())) {
            let _ = number;
            if !current.is_empty() {
                found.insert(std::mem::take(&mut current));
            }
            current.push_str(rest);
        } else if line.starts_with("User-Agent:") || line.starts_with("Contact:") {
            current.push('|');
            current.push_str(line);
        } else if let Some(source) = line.strip_prefix("Source:") {
            // The address only: a device read back from the store has no REGISTER transport.
            current.push_str("|Source: ");
            current.push_str(source.split_whitespace().next().unwrap_or(""));
        }
    }
    if !current.is_empty() {
        found.insert(current);
    }
    found
}

/// Contact URIs listed by `pjsip show contacts` (status and round-trip time left out).
fn contacts(asterisk: &Asterisk) -> Vec<String> {
    let text = asterisk.cli("pjsip show contacts");
    let mut uris: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("Contact:"))
        .filter_map(|rest| rest.split_whitespace().next())
        .filter(|uri| uri.contains("sip:"))
        .map(str::to_string)
        .collect();
    uris.sort();
    uris
}

/// astdb lines of a family, e.g. "/multireg/ringmode/101 : remote".
fn astdb(asterisk: &Asterisk, family: &str) -> Vec<String> {
    let text = asterisk.cli(&format!("database show {family}"));
    let mut lines: Vec<String> = text.lines().filter(|l| l.starts_with('/')).map(|l| l.split_whitespace().collect()).collect();
    lines.sort();
    lines
}

fn ring_mode(asterisk: &Asterisk, extension: &str) -> String {
    let text = asterisk.cli(&format!("multireg show extension {extension}"));
    text.lines().find_map(|l| l.strip_prefix("Ring mode:")).map(|m| m.trim().to_string()).unwrap_or_else(|| panic!("{text}"))
}

#[test]
fn core_restart_restores_registrations_and_ring_modes_and_lifts_blocks() {
    let mut asterisk = Asterisk::start_with(Config { pjsip_extra: POLICIES.into(), ..Config::default() });
    let mut desk = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut hall = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut laptop = asterisk.agent(Transport::Tcp, "127.0.0.1", "101", "pass101");
    laptop.user_agent = "Z 5.6.1 v2.10.19.5".into();
    let mut remote = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    let mut other = asterisk.agent(Transport::Udp, "127.0.0.1", "102", "pass102");
    for agent in [&mut desk, &mut hall, &mut laptop, &mut remote, &mut other] {
        assert_eq!(agent.register(), 200, "{} registers", agent.user);
    }
    // Ring modes by CLI, by the RING_MODE function and by AMI.
    assert!(asterisk.cli("multireg set ringmode 101 remote").contains("to remote"));
    let mut ami = asterisk.ami();
    let set = ami.action("Setvar", &[("Variable", "RING_MODE(102)"), ("Value", "home")]);
    assert_eq!(set.get("Response").map(String::as_str), Some("Success"), "{set:?}");
    let set = ami.action("MultiregSetRingMode", &[("Extension", "103"), ("Mode", "both")]);
    assert_eq!(set.get("Response").map(String::as_str), Some("Success"), "{set:?}");
    // An address blocked for 101 after two wrong passwords.
    let mut guesser = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "wrong");
    assert_eq!(guesser.register(), 401);
    assert_eq!(guesser.register(), 401);
    let blocks = wait_for(Duration::from_secs(5), || {
        Some(asterisk.cli("multireg show blocks")).filter(|b| b.contains("1 blocked addresses"))
    });
    assert!(blocks.is_some_and(|b| b.contains("127.0.0.2")), "{}", asterisk.cli("multireg show blocks"));
    guesser.password = "pass101".into();
    assert_eq!(guesser.register(), 403, "blocked before the restart");

    let before_devices: Vec<_> = ["101", "102", "103"].iter().map(|e| devices(&asterisk, e)).collect();
    let before_contacts = contacts(&asterisk);
    let before_modes = astdb(&asterisk, "multireg");
    let before_registrar = astdb(&asterisk, "registrar");
    assert_eq!(before_contacts.len(), 5, "{before_contacts:?}");
    assert_eq!(before_modes.len(), 3, "{before_modes:?}");
    assert_eq!(before_devices[0].len(), 4, "three on 101, one on 101r: {:?}", before_devices[0]);
    assert!(
        before_devices[0].iter().any(|d| d.starts_with("desktop client") && d.contains("transport=TCP")),
        "{:?}",
        before_devices[0]
    );
    drop(ami);

    asterisk.core_restart();

    // Registrations: the UDP contacts come back, each once. Asterisk itself drops contacts
    // registered over TCP, TLS or WebSocket at boot (their connection is gone: prune_on_boot),
    // and the module's view follows the store: the laptop is gone from both.
    let over_udp: Vec<String> = before_contacts.iter().filter(|c| !c.contains("transport=TCP")).cloned().collect();
    let after_contacts = wait_for(Duration::from_secs(10), || Some(contacts(&asterisk)).filter(|c| c.len() >= over_udp.len()));
    assert_eq!(after_contacts.as_ref(), Some(&over_udp), "contacts after the restart: {}", asterisk.cli("pjsip show contacts"));
    let unique: BTreeSet<_> = over_udp.iter().collect();
    assert_eq!(unique.len(), over_udp.len(), "no contact twice");
    let after_devices: Vec<_> = ["101", "102", "103"].iter().map(|e| devices(&asterisk, e)).collect();
    let mut expected = before_devices.clone();
    expected[0].retain(|device| !device.contains("transport=TCP"));
    assert_eq!(expected[0].len(), 3, "{:?}", before_devices[0]);
    assert_eq!(after_devices, expected, "multireg show extension after the restart");
    // The laptop registers again on a new connection: its desktop slot is free.
    let mut laptop = asterisk.agent(Transport::Tcp, "127.0.0.1", "101", "pass101");
    laptop.user_agent = "Z 5.6.1 v2.10.19.5".into();
    assert_eq!(laptop.register(), 200, "the laptop comes back");
    // Ring modes: each as chosen, not the configured default; astdb holds each key once.
    assert_eq!(ring_mode(&asterisk, "101"), "remote");
    assert_eq!(ring_mode(&asterisk, "102"), "home");
    assert_eq!(ring_mode(&asterisk, "103"), "both", "the stored mode, not ring_mode_default");
    assert_eq!(astdb(&asterisk, "multireg"), before_modes, "the module's astdb entries");
    let registrar = astdb(&asterisk, "registrar");
    assert_eq!(registrar.len(), before_registrar.len(), "the registrar's astdb entries: {registrar:#?}");
    // The limits count the restored devices: 101 has three IP phones' room and two in use.
    let mut third = asterisk.agent(Transport::Udp, "127.0.0.3", "101", "pass101");
    assert_eq!(third.register(), 200, "third IP phone");
    let mut fourth = asterisk.agent(Transport::Udp, "127.0.0.3", "101", "pass101");
    assert_eq!(fourth.register(), 403, "limit of 3 IP phones holds after the restart");

    // Blocks live in memory only: a restart lifts them (README, Failed-authentication blocking).
    let blocks = asterisk.cli("multireg show blocks");
    assert!(blocks.contains("0 blocked addresses"), "{blocks}");
    assert_eq!(third.unregister(), 200);
    assert_eq!(guesser.register(), 200, "the formerly blocked address registers with the right password");
    assert!(asterisk.errors().is_empty(), "{:?}", asterisk.errors());
}
