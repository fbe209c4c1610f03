//! Remote logout: `multireg logout <ext> <device>` / AMI `MultiregLogout` remove one device,
//! which is then refused (403 "Logged out ...") until logout_block_time ends or the block is
//! cleared; the extension's other devices stay.
mod common;

use std::time::Duration;

use common::{Agent, Asterisk, Config, Transport};

/// The number `multireg show extension` gives the device registered from `agent`.
fn device_number(asterisk: &Asterisk, agent: &Agent) -> String {
    let shown = asterisk.cli("multireg show extension 101");
    let port = format!(":{}", agent.local.port());
    let mut number = None;
    for line in shown.lines() {
        let trimmed = line.trim_start();
        if let Some((n, _)) = trimmed.split_once(". ").filter(|(n, _)| n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty()) {
            number = Some(n.to_string());
        }
        if trimmed.starts_with("Contact:") && trimmed.contains(&port) {
            return number.unwrap_or_else(|| panic!("no number before the device: {shown}"));
        }
    }
    panic!("device {port} not listed: {shown}");
}

fn registered(asterisk: &Asterisk, agent: &Agent) -> bool {
    asterisk.cli("pjsip show contacts").contains(&format!(":{}", agent.local.port()))
}

#[test]
fn a_logged_out_device_is_removed_and_refused_until_the_block_ends_or_is_cleared() {
    let policy = "[101]\ntype = multireg\nmax_ip_phones = 2\nlogout_block_time = 3\n";
    let asterisk = Asterisk::start_with(Config { pjsip_extra: policy.into(), ..Config::default() });
    let mut ami = asterisk.ami();
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut other = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
    assert_eq!(other.register(), 200);
    assert!(asterisk.cli("multireg show extension 101").contains("Logout block:     3 s"));

    let number = device_number(&asterisk, &phone);
    let answer = asterisk.cli(&format!("multireg logout 101 {number}"));
    assert!(answer.contains("Logged out IP phone device"), "{answer}");
    assert!(!registered(&asterisk, &phone), "the contact is gone");
    assert!(registered(&asterisk, &other), "the other device stays");
    let event = ami.wait_event("MultiregDeviceLoggedOut", Duration::from_secs(5), |_| true).expect("MultiregDeviceLoggedOut");
    assert_eq!(event.get("BlockSeconds").map(String::as_str), Some("3"), "{event:?}");
    let left = ami.wait_event("MultiregDeviceUnregistered", Duration::from_secs(5), |_| true).expect("unregistered");
    assert_eq!(left.get("Reason").map(String::as_str), Some("logged_out"), "{left:?}");

    let refused = phone.register_with_expires(3600).expect("an answer");
    assert_eq!(refused.status(), 403);
    assert!(refused.reason().to_lowercase().contains("logged out"), "{}", refused.reason());
    assert!(!registered(&asterisk, &phone));
    assert_eq!(other.register(), 200, "the other device refreshes as before");
    // The block ends by itself.
    std::thread::sleep(Duration::from_millis(3300));
    assert_eq!(phone.register(), 200);

    // Through AMI, then lifted at once with `multireg clear logouts`.
    let number = device_number(&asterisk, &phone);
    let response = ami.action("MultiregLogout", &[("Extension", "101"), ("Device", &number)]);
    assert_eq!(response.get("Response").map(String::as_str), Some("Success"), "{response:?}");
    assert_eq!(phone.register(), 403);
    let cleared = asterisk.cli("multireg clear logouts 101");
    assert!(cleared.contains("Cleared 1 logged-out devices"), "{cleared}");
    assert_eq!(phone.register(), 200);
    let unknown = ami.action("MultiregLogout", &[("Extension", "101"), ("Device", "9")]);
    assert_eq!(unknown.get("Response").map(String::as_str), Some("Error"), "{unknown:?}");
}

/// Logouts are kept through the sorcery type multireg_logout (astdb by default): a block
/// survives `core restart now`, and clearing it deletes it there too.
#[test]
fn a_logout_survives_core_restart() {
    let policy = "[101]\ntype = multireg\nmax_ip_phones = 2\nlogout_block_time = 600\n";
    let mut asterisk = Asterisk::start_with(Config { pjsip_extra: policy.into(), ..Config::default() });
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    phone.contact_params = ";+sip.instance=\"<urn:uuid:6d3a8f2e-0000-4000-8000-0000000a0101>\"".into();
    assert_eq!(phone.register(), 200);
    let number = device_number(&asterisk, &phone);
    assert!(asterisk.cli(&format!("multireg logout 101 {number}")).contains("Logged out"));
    let stored = asterisk.cli("database show multireg/multireg_logout");
    assert!(stored.contains("/multireg/multireg_logout/") && stored.contains("urn:uuid:6d3a8f2e"), "{stored}");
    asterisk.core_restart();
    assert!(asterisk.cli("multireg show extension 101").contains("(1 logged-out devices refused now)"));
    assert_eq!(phone.register(), 403, "still refused after the restart");
    assert!(asterisk.cli("multireg clear logouts 101").contains("Cleared 1 logged-out devices"));
    assert!(!asterisk.cli("database show multireg/multireg_logout").contains("urn:uuid:6d3a8f2e"));
    assert_eq!(phone.register(), 200);
}
