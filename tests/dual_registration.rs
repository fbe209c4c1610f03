//! Dual registration (issue 4): the "<ext>r" secondary endpoint, against a real Asterisk.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{wait_for, Agent, Asterisk, Config, Transport};

const POLICY: &str = "[101]
type = multireg
dual_registration = yes
max_ip_phones = 2
";

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => _10X,1,UserEvent(CallerDevice,Extension: ${MULTIREG_EXTENSION},Device: ${MULTIREG_DEVICE},Endpoint: ${CHANNEL(endpoint)})
 same => n,MultiregDial(${EXTEN},15)
 same => n,UserEvent(DialResult,Target: ${EXTEN},Status: ${DIALSTATUS})
 same => n,Hangup()
exten => 8101,1,Answer()
 same => n,VoiceMail(101@default,s)
 same => n,Hangup()
exten => *45,1,Answer()
 same => n,AddQueueMember(support,PJSIP/${CHANNEL(endpoint)})
 same => n,UserEvent(QueueAdd,Status: ${AQMSTATUS})
 same => n,Hangup()
";

fn start(policy: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: policy.into(), extensions: Some(DIALPLAN.into()), ..Config::default() })
}

fn agent(asterisk: &Asterisk, ip: &str, user: &str, password: &str) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, ip, user, password);
    assert_eq!(agent.register(), 200, "{user} registers from {ip}");
    agent
}

fn baresip(asterisk: &Asterisk, user: &str, password: &str, home: &std::path::Path) -> Child {
    std::fs::write(home.join("config"), "poll_method epoll\nsip_listen 127.0.0.3:0\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_app account.so\n").unwrap();
    // A blank authorization user name: baresip authenticates as the user ID itself (101r).
    std::fs::write(
        home.join("accounts"),
        format!("<sip:{user}@{};transport=udp>;auth_pass={password};regint=600\n", asterisk.ip),
    )
    .unwrap();
    Command::new("baresip")
        .args(["-f", home.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip")
}

#[test]
fn primary_and_secondary_register_and_both_are_listed() {
    let asterisk = start(POLICY);
    let endpoints = asterisk.cli("pjsip show endpoints");
    assert!(endpoints.contains("Endpoint:  101/101") && endpoints.contains("Endpoint:  101r/101"), "{endpoints}");
    let _primary = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let home = tempfile::tempdir().unwrap();
    let mut secondary = baresip(&asterisk, "101r", "pass101", home.path());
    let contacts = wait_for(Duration::from_secs(10), || {
        let contacts = asterisk.cli("pjsip show contacts");
        contacts.contains("101r/sip:101r").then_some(contacts)
    });
    let _ = secondary.kill();
    let _ = secondary.wait();
    let contacts = contacts.expect("baresip registered as 101r with the primary's password");
    assert!(contacts.contains("101/sip:101@"), "{contacts}");
    let detail = asterisk.cli("multireg show extension 101");
    assert!(detail.contains("on 101r"), "the secondary's device is shown: {detail}");
}

#[test]
fn secondary_calls_present_the_primary_caller_id_and_device_variables() {
    let asterisk = start(POLICY);
    let mut ami = asterisk.ami();
    let mut remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let callee = agent(&asterisk, "127.0.0.2", "102", "pass102");
    let handle = std::thread::spawn(move || {
        let call = remote.call("102", Duration::from_secs(10));
        (remote, call)
    });
    let invite = callee.wait_invite(Duration::from_secs(8)).expect("102 rings");
    assert_eq!(invite.invite.caller_user(), "101", "{}", invite.invite.raw);
    assert_eq!(invite.invite.caller_display(), "Alice", "{}", invite.invite.raw);
    let event =
        ami.wait_event("UserEvent", Duration::from_secs(3), |e| e.get("UserEvent").map(String::as_str) == Some("CallerDevice"));
    let event = event.expect("UserEvent from the dialplan");
    assert_eq!(event.get("Extension").map(String::as_str), Some("101"));
    assert_eq!(event.get("Device").map(String::as_str), Some("remote"));
    assert_eq!(event.get("Endpoint").map(String::as_str), Some("101r"));
    callee.reject(&invite, 486, "Busy Here");
    let _ = handle.join();
}

#[test]
fn reload_after_changing_the_primary_changes_the_secondary() {
    let asterisk = start(POLICY);
    assert!(asterisk.cli("pjsip show endpoint 101r").contains("\"Alice\" <101>"));
    asterisk.rewrite_pjsip(|base| base.replace("\"Alice\" <101>", "\"Alicia\" <101>"), POLICY);
    asterisk.cli("module reload res_pjsip.so");
    let changed =
        wait_for(Duration::from_secs(5), || asterisk.cli("pjsip show endpoint 101r").contains("\"Alicia\" <101>").then_some(()));
    assert!(changed.is_some(), "{}", asterisk.cli("pjsip show endpoint 101r"));

    // Turning dual registration off removes the secondary and its registrations.
    let _remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    asterisk.rewrite_pjsip_extra("[101]\ntype = multireg\ndual_registration = no\n");
    asterisk.cli("module reload res_pjsip_multireg.so");
    let endpoints = asterisk.cli("pjsip show endpoints");
    assert!(!endpoints.contains("101r/"), "{endpoints}");
    assert!(!asterisk.cli("pjsip show contacts").contains("101r/"), "registrations removed");
}

#[test]
fn voicemail_notification_reaches_both_devices() {
    let asterisk = start(POLICY);
    let home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let mut caller = agent(&asterisk, "127.0.0.2", "102", "pass102");
    let mut call = caller.call("8101", Duration::from_secs(10));
    assert_eq!(call.final_status, 200, "voicemail answers");
    caller.send_audio(&call, 2500);
    caller.hangup(&mut call);
    for (name, device) in [("101", &home), ("101r", &remote)] {
        let notified = wait_for(Duration::from_secs(10), || {
            device.notifies().into_iter().find(|n| n.body().contains("Messages-Waiting: yes"))
        });
        assert!(
            notified.is_some(),
            "{name} gets MWI: {:?}",
            device.notifies().iter().map(|n| n.body().to_string()).collect::<Vec<_>>()
        );
    }
}

#[test]
fn concurrent_call_limit_counts_both_devices() {
    let asterisk = start("[101]\ntype = multireg\ndual_registration = yes\nmax_concurrent_calls = 1\n");
    let mut ami = asterisk.ami();
    let mut home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let mut remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let callee = agent(&asterisk, "127.0.0.2", "102", "pass102");
    let handle = std::thread::spawn(move || {
        let call = home.call("102", Duration::from_secs(10));
        (home, call)
    });
    let incoming = callee.wait_invite(Duration::from_secs(8)).expect("102 rings");
    let _media = callee.answer(&incoming);
    let (home, mut first) = handle.join().unwrap();
    assert_eq!(first.final_status, 200);

    // The secondary's new call is over the limit: 486.
    let second = remote.call("103", Duration::from_secs(5));
    assert_eq!(second.final_status, 486, "{:?}", second.response.map(|r| r.raw));

    // An incoming call through MultiregDial gets BUSY without ringing.
    let mut outsider = agent(&asterisk, "127.0.0.2", "104", "pass104");
    let third = outsider.call("101", Duration::from_secs(5));
    assert_ne!(third.final_status, 200);
    let result = ami.wait_event("UserEvent", Duration::from_secs(5), |e| {
        e.get("UserEvent").map(String::as_str) == Some("DialResult") && e.get("Target").map(String::as_str) == Some("101")
    });
    assert_eq!(result.and_then(|e| e.get("Status").cloned()).as_deref(), Some("BUSY"));
    assert!(remote.wait_invite(Duration::from_millis(500)).is_none(), "nothing rang");

    home.hangup(&mut first);
}

fn queue_members(ami: &mut common::Ami) -> String {
    ami.action("Getvar", &[("Variable", "QUEUE_MEMBER_LIST(support)")]).get("Value").cloned().unwrap_or_default()
}

#[test]
fn only_one_device_of_an_extension_per_queue() {
    let asterisk = start(POLICY);
    let mut ami = asterisk.ami();
    let added = ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "PJSIP/101")]);
    assert_eq!(added.get("Response").map(String::as_str), Some("Success"), "{added:?}");

    // Through AMI.
    ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "PJSIP/101r")]);
    let refused = ami.wait_event("MultiregQueueMemberRefused", Duration::from_secs(5), |e| {
        e.get("Interface").map(String::as_str) == Some("PJSIP/101r")
    });
    assert!(refused.is_some(), "{:?}", ami.pending_events());
    let members = wait_for(Duration::from_secs(3), || {
        let members = queue_members(&mut ami);
        (members == "PJSIP/101").then_some(members)
    });
    assert!(members.is_some(), "{}", queue_members(&mut ami));
    // Asterisk's logger thread writes messages.log asynchronously: wait for the line.
    let logged = wait_for(Duration::from_secs(5), || {
        asterisk.messages_log().contains("Refusing to add PJSIP/101r to the queue").then_some(())
    });
    assert!(logged.is_some(), "clear message logged");

    // Through the dialplan (AddQueueMember from the secondary device).
    let mut remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let mut call = remote.call("*45", Duration::from_secs(5));
    assert!(ami
        .wait_event("MultiregQueueMemberRefused", Duration::from_secs(5), |e| e.get("Interface").map(String::as_str)
            == Some("PJSIP/101r"))
        .is_some());
    let members = wait_for(Duration::from_secs(3), || {
        let members = queue_members(&mut ami);
        (members == "PJSIP/101").then_some(members)
    });
    assert!(members.is_some(), "{}", queue_members(&mut ami));
    if call.final_status == 200 {
        remote.hangup(&mut call);
    }

    // Another extension's devices are unaffected.
    ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "PJSIP/102")]);
    std::thread::sleep(Duration::from_millis(500));
    let mut members: Vec<String> = queue_members(&mut ami).split(',').map(str::to_string).collect();
    members.sort();
    assert_eq!(members, ["PJSIP/101", "PJSIP/102"]);
}

#[test]
fn wrong_passwords_block_one_address_only() {
    let asterisk = start("[101]\ntype = multireg\ndual_registration = yes\nauth_fail_limit = 3\nauth_block_time = 60\n");
    let mut ami = asterisk.ami();
    let mut mistyped = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "pass1O1");
    for _ in 0..3 {
        assert_eq!(mistyped.register(), 401);
    }
    let blocked = ami.wait_event("MultiregAddressBlocked", Duration::from_secs(5), |e| {
        e.get("Address").map(String::as_str) == Some("127.0.0.2")
    });
    assert!(blocked.is_some(), "block event");
    mistyped.password = "pass101".into();
    let refused = mistyped.register_with_expires(3600).expect("an answer");
    assert_eq!(refused.status(), 403, "blocked address refused even with the right password");
    assert!(refused.reason().contains("blocked"), "{}", refused.reason());

    let mut elsewhere = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(elsewhere.register(), 200, "other addresses are unaffected");

    let list = asterisk.cli("multireg show blocks");
    assert!(list.contains("127.0.0.2") && list.contains("1 blocked addresses"), "{list}");
    let logged = wait_for(Duration::from_secs(5), || asterisk.messages_log().contains("blocking 127.0.0.2").then_some(()));
    assert!(logged.is_some(), "block logged");
    let cleared = asterisk.cli("multireg clear blocks 127.0.0.2");
    assert!(cleared.contains("Cleared 1"), "{cleared}");
    assert_eq!(mistyped.register(), 200, "unblocked");
}

#[test]
fn exempt_addresses_are_never_blocked() {
    let asterisk =
        start("[101]\ntype = multireg\ndual_registration = yes\nauth_fail_limit = 2\nauth_block_exempt = 127.0.0.0/24\n");
    let mut mistyped = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "wrong");
    for _ in 0..4 {
        assert_eq!(mistyped.register(), 401);
    }
    std::thread::sleep(Duration::from_millis(500));
    mistyped.password = "pass101".into();
    assert_eq!(mistyped.register(), 200);
    assert!(asterisk.cli("multireg show blocks").contains("0 blocked addresses"));
}

#[test]
fn hand_configured_secondary_name_is_reported_and_never_overwritten() {
    let asterisk =
        start("[104r](endpoint-common)\ncallerid = \"Manual\" <999>\n\n[104]\ntype = multireg\ndual_registration = yes\n");
    let log = asterisk.messages_log();
    assert!(log.contains("104r") && log.contains("already"), "collision reported: {log}");
    assert!(asterisk.cli("pjsip show endpoint 104r").contains("\"Manual\" <999>"), "hand-made object kept");
}

#[test]
fn tenant_prefixed_extension_gets_its_secondary_and_a_default_one_device_limit() {
    let asterisk = start(
        "[12345101](endpoint-common)\nauth = 12345101\naors = 12345101\ncallerid = \"Tenant\" <12345101>\n\
         [12345101](aor-common)\n[12345101](auth-common)\nusername = 12345101\npassword = tenantpw\n\
         [12345101]\ntype = multireg\ndual_registration = yes\n",
    );
    assert!(asterisk.cli("pjsip show endpoints").contains("12345101r/"), "secondary created");
    let _first = agent(&asterisk, "127.0.0.1", "12345101r", "tenantpw");
    let mut second = asterisk.agent(Transport::Udp, "127.0.0.1", "12345101r", "tenantpw");
    let response = second.register_with_expires(3600).expect("an answer");
    assert_eq!(response.status(), 403, "secondary allows one device by default");
    assert!(response.reason().contains("limit 1"), "{}", response.reason());
}

/// The secondaries' store answers lookups by the last byte of the ids it holds (most lookups
/// that reach it are other objects' misses): secondaries whose suffixes end in a digit and in a
/// letter other than the default register, and the other primary's "r" name is still unknown.
#[test]
fn secondaries_with_other_suffixes_register() {
    let asterisk = start(
        "[101]\ntype = multireg\ndual_registration = yes\nsecondary_suffix = -2\n\n\
         [102]\ntype = multireg\ndual_registration = yes\nsecondary_suffix = m\n",
    );
    let endpoints = asterisk.cli("pjsip show endpoints");
    assert!(endpoints.contains("Endpoint:  101-2/101") && endpoints.contains("Endpoint:  102m/102"), "{endpoints}");
    let _digit = agent(&asterisk, "127.0.0.1", "101-2", "pass101");
    let _letter = agent(&asterisk, "127.0.0.2", "102m", "pass102");
    let mut unknown = asterisk.agent(Transport::Udp, "127.0.0.3", "101r", "pass101");
    assert_ne!(unknown.register(), 200, "101r is no endpoint when 101's suffix is -2");
    let contacts = asterisk.cli("pjsip show contacts");
    assert!(contacts.contains("101-2/sip:101-2@") && contacts.contains("102m/sip:102m@"), "{contacts}");
}
