//! MULTIREG_DIAL with more targets than Asterisk's fixed 4 KB function buffer: whole targets only,
//! the status says when some were left out, and callers with a growable buffer get everything.
mod common;

use std::time::Duration;

use common::{Agent, Asterisk, Config, Transport};

const POLICY: &str = "[104]
type = multireg
max_ip_phones = 5
max_web_clients = 3
max_desktop_clients = 3
web_user_agents = ^Web
desktop_user_agents = ^Desk
remote_destination = PJSIP/0044123456@trunk
";

const DIALPLAN: &str = "[general]
static = yes

[internal]
; Through Asterisk's fixed-size buffer (VAR_BUF_SIZE, 4096 bytes).
exten => 500,1,Set(D=${MULTIREG_DIAL(104)})
 same => n,UserEvent(DialValue,Path: fixed,Status: ${MULTIREG_DIAL_STATUS},Value: ${D})
 same => n,Hangup()
; Through ast_str_substitute_variables (Exec), which reads functions with a growable buffer.
exten => 501,1,Set(DOLLAR=$)
 same => n,Exec(Set(FULL=${DOLLAR}{MULTIREG_DIAL(104)}))
 same => n,Exec(UserEvent(DialValue,Path: growable,Status: ${DOLLAR}{MULTIREG_DIAL_STATUS},Value: ${DOLLAR}{FULL}))
 same => n,Hangup()
";

const REMOTE: &str = "PJSIP/0044123456@trunk";

/// 11 devices, each with a 400-character user part in its Contact.
fn register_long_contacts(asterisk: &Asterisk) -> (Vec<Agent>, Vec<String>) {
    let mut devices = Vec::new();
    let mut users = Vec::new();
    for (index, user_agent) in ["Yealink"; 5].iter().chain(&["WebPhone"; 3]).chain(&["Desk Softphone"; 3]).enumerate() {
        let mut device = asterisk.agent(Transport::Udp, "127.0.0.1", "104", "pass104");
        let user = format!("{index:02}{}", "u".repeat(398));
        device.user_agent = user_agent.to_string();
        device.contact_uri_override = Some(format!("sip:{user}@{};transport=udp", device.local));
        assert_eq!(device.register(), 200, "device {index} ({user_agent}) registers");
        devices.push(device);
        users.push(user);
    }
    (devices, users)
}

/// Checks that every '&'-separated target is whole: the remote destination or a contact of one
/// of the devices, each at most once. Returns how many device contacts are in it.
fn whole_targets(value: &str, users: &[String]) -> usize {
    let mut seen = Vec::new();
    for target in value.split('&') {
        if target == REMOTE {
            continue;
        }
        let whole = |user: &str| {
            let Some(port) = target.strip_prefix(&format!("PJSIP/104/sip:{user}@127.0.0.1:")) else { return false };
            let port = port.strip_suffix(";transport=udp").unwrap_or(port);
            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        };
        let user = users.iter().find(|u| whole(u)).unwrap_or_else(|| {
            let end: String = target.chars().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
            panic!("partial or unknown target of {} bytes ending {end:?} (value of {} bytes)", target.len(), value.len())
        });
        assert!(!seen.contains(user), "target twice: {target}");
        seen.push(user.clone());
    }
    seen.len()
}

fn dial_value(asterisk: &Asterisk, number: &str) -> (String, String) {
    let mut ami = asterisk.ami();
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(caller.register(), 200);
    let _ = caller.call(number, Duration::from_secs(5));
    let event = ami
        .wait_event("UserEvent", Duration::from_secs(10), |e| e.get("UserEvent").map(String::as_str) == Some("DialValue"))
        .expect("the dialplan reports the value");
    (event.get("Status").cloned().unwrap_or_default(), event.get("Value").cloned().unwrap_or_default())
}

#[test]
fn a_fixed_buffer_gets_whole_targets_and_the_status_says_some_were_left_out() {
    let asterisk =
        Asterisk::start_with(Config { pjsip_extra: POLICY.into(), extensions: Some(DIALPLAN.into()), ..Config::default() });
    let (_devices, users) = register_long_contacts(&asterisk);
    let (status, value) = dial_value(&asterisk, "500");
    assert!(value.len() <= 4095, "{}", value.len());
    let contacts = whole_targets(&value, &users);
    assert!(value.split('&').any(|t| t == REMOTE), "the remote destination is kept: {value}");
    assert!((5..11).contains(&contacts), "as many whole contacts as fit ({contacts})");
    assert_eq!(status, "PARTIAL", "the status says targets were left out");

    // AMI Getvar reads functions into 1 KB: still whole targets only.
    let mut ami = asterisk.ami();
    let small = ami.action("Getvar", &[("Variable", "MULTIREG_DIAL(104)")]);
    let small = small.get("Value").cloned().unwrap_or_default();
    assert!(!small.is_empty() && small.len() < 1024, "{small}");
    whole_targets(&small, &users);
    assert!(small.split('&').any(|t| t == REMOTE), "{small}");
}

#[test]
fn a_growable_buffer_gets_every_target() {
    let asterisk =
        Asterisk::start_with(Config { pjsip_extra: POLICY.into(), extensions: Some(DIALPLAN.into()), ..Config::default() });
    let (_devices, users) = register_long_contacts(&asterisk);
    let (status, value) = dial_value(&asterisk, "501");
    assert!(value.len() > 4096, "{}", value.len());
    assert_eq!(whole_targets(&value, &users), 11);
    assert!(value.split('&').any(|t| t == REMOTE));
    assert_eq!(status, "OK");
}

/// The dial path skips the location store only for an AOR whose device book knows it is empty:
/// a secondary registering after such a dial is dialled at once, one unregistering is dropped,
/// and a permanent contact from the configuration (which no REGISTER brings) is never missed.
#[test]
fn the_dial_string_follows_registrations_after_the_store_was_skipped() {
    const DUAL: &str = "[101]\ntype = multireg\ndual_registration = yes\n";
    let asterisk = Asterisk::start_with(Config { pjsip_extra: DUAL.into(), ..Config::default() });
    let mut ami = asterisk.ami();
    let mut dial = || ami.action("Getvar", &[("Variable", "MULTIREG_DIAL(101)")]).get("Value").cloned().unwrap_or_default();
    assert_eq!(dial(), "", "nothing registered yet");
    assert_eq!(dial(), "", "both books are now known to be empty");

    let mut secondary = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(secondary.register(), 200);
    let value = dial();
    assert!(value.starts_with("PJSIP/101r/sip:101r@127.0.0.1:"), "the new secondary device is dialled: {value:?}");
    assert_eq!(secondary.unregister(), 200);
    assert_eq!(dial(), "", "the unregistered device is not dialled");

    let permanent = "sip:101@127.9.9.9:5090";
    asterisk
        .rewrite_pjsip(|base| base.replace("[101](aor-common)\n", &format!("[101](aor-common)\ncontact = {permanent}\n")), DUAL);
    asterisk.cli("module reload res_pjsip.so");
    let wanted = format!("PJSIP/101/{permanent}");
    let seen = common::wait_for(Duration::from_secs(5), || dial().contains(&wanted).then_some(()));
    assert!(seen.is_some(), "the permanent contact is dialled: {}", dial());
    assert!(dial().contains(&wanted), "and again when the book is known");
}

/// With qualify on, a device that stopped answering is left out of MULTIREG_DIAL exactly as
/// PJSIP_DIAL_CONTACTS leaves it out; the device still answering stays in both.
#[test]
fn an_unreachable_contact_is_not_dialled_when_the_aor_qualifies() {
    const POLICY: &str = "[101]\ntype = multireg\nmax_ip_phones = 3\n";
    let asterisk = Asterisk::start_with(Config { pjsip_extra: POLICY.into(), ..Config::default() });
    asterisk.rewrite_pjsip(
        |base| base.replace("[101](aor-common)\n", "[101](aor-common)\nqualify_frequency = 1\nqualify_timeout = 0.5\n"),
        POLICY,
    );
    asterisk.cli("module reload res_pjsip.so");
    let mut ami = asterisk.ami();
    let mut read = |expression: &str| ami.action("Getvar", &[("Variable", expression)]).get("Value").cloned().unwrap_or_default();
    let sorted = |value: String| {
        let mut targets: Vec<String> = value.split('&').filter(|t| !t.is_empty()).map(str::to_string).collect();
        targets.sort();
        targets
    };

    let mut staying = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut leaving = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(staying.register(), 200);
    assert_eq!(leaving.register(), 200);
    // The registrar stores the Contact without its transport parameter for UDP.
    let (staying_target, leaving_target) =
        (format!("PJSIP/101/sip:101@{}", staying.local), format!("PJSIP/101/sip:101@{}", leaving.local));
    let both = common::wait_for(Duration::from_secs(10), || {
        let value = read("MULTIREG_DIAL(101)");
        (value.contains(&staying_target) && value.contains(&leaving_target)).then_some(value)
    });
    assert!(both.is_some(), "both devices are dialled while they answer: {}", read("MULTIREG_DIAL(101)"));

    drop(leaving);
    let settled = common::wait_for(Duration::from_secs(15), || {
        let value = read("PJSIP_DIAL_CONTACTS(101)");
        (!value.contains(&leaving_target)).then_some(value)
    });
    let stock = settled
        .unwrap_or_else(|| panic!("qualify never found the silent device unreachable: {}", asterisk.cli("pjsip show contacts")));
    let ours = read("MULTIREG_DIAL(101)");
    assert!(!ours.contains(&leaving_target), "the unreachable device is not dialled: {ours}");
    assert!(ours.contains(&staying_target), "the device still answering is dialled: {ours}");
    assert_eq!(sorted(ours), sorted(stock), "the same targets as PJSIP_DIAL_CONTACTS");
    assert_eq!(staying.register(), 200, "and the AOR keeps working");
}
