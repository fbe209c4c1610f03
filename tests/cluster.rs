//! Two Asterisk nodes sharing PJSIP objects, contacts, multireg policies, ring modes, push
//! bindings and logouts through
//! realtime PostgreSQL (issue 14): a private PostgreSQL server (tests/common/postgres.rs) and two
//! real Asterisk 22 instances, real SIP over loopback.
mod common;

use std::time::Duration;

use common::postgres::Postgres;
use common::{Agent, Ami, Asterisk, Config, Transport};

const SCHEMA: [&str; 2] = ["tests/fixtures/pjsip-realtime.sql", "contrib/realtime/postgresql/multireg.sql"];

const SORCERY: &str = "[res_pjsip]\nendpoint = realtime,ps_endpoints\nauth = realtime,ps_auths\naor = realtime,ps_aors\n\
                       contact = realtime,ps_contacts\n\n[res_pjsip_multireg]\nmultireg = realtime,ps_multireg\n\
                       multireg_ringmode = realtime,ps_multireg_ringmode\nmultireg_push = realtime,ps_multireg_push\n\
                       multireg_logout = realtime,ps_multireg_logout\n";

const EXTCONFIG: &str = "[settings]\nps_endpoints => pgsql,postgres\nps_auths => pgsql,postgres\nps_aors => pgsql,postgres\n\
                         ps_contacts => pgsql,postgres\nps_multireg => pgsql,postgres\nps_multireg_ringmode => pgsql,postgres\n\
                         ps_multireg_push => pgsql,postgres\nps_multireg_logout => pgsql,postgres\n";

fn node(postgres: &Postgres, name: &str) -> Asterisk {
    Asterisk::start_with(Config {
        files: vec![
            ("sorcery.conf".into(), SORCERY.into()),
            ("extconfig.conf".into(), EXTCONFIG.into()),
            ("res_pgsql.conf".into(), postgres.res_pgsql_conf()),
        ],
        modules_extra: "preload => res_config_pgsql.so\npreload => res_sorcery_realtime.so\n".into(),
        systemname: Some(name.into()),
        ..Config::default()
    })
}

/// PostgreSQL with the schema and `policies` (SQL run before the nodes start), and two nodes.
fn cluster(policies: &str) -> (Postgres, Asterisk, Asterisk) {
    let postgres = Postgres::start(&SCHEMA);
    if !policies.is_empty() {
        postgres.sql(policies);
    }
    let a = node(&postgres, "node-a");
    let b = node(&postgres, "node-b");
    (postgres, a, b)
}

fn phone(node: &Asterisk, n: usize) -> Agent {
    let mut agent = node.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    agent.user_agent = format!("Yealink SIP-T46U 108.86.0.{n}");
    agent
}

fn registered(node: &Asterisk, user: &str, password: &str) -> Agent {
    let mut agent = node.agent(Transport::Udp, "127.0.0.1", user, password);
    assert_eq!(agent.register(), 200, "{user} registers through {}", node.ip);
    agent
}

fn detail(node: &Asterisk) -> String {
    node.cli("multireg show extension 101")
}

#[test]
fn a_policy_row_applies_after_module_reload_on_both_nodes_and_its_secondary_registers_on_either() {
    let (postgres, a, b) = cluster("");
    for node in [&a, &b] {
        assert!(!detail(node).contains("IP phones:"), "no policy yet: {}", detail(node));
    }
    postgres.sql("INSERT INTO ps_multireg (id, max_ip_phones, dual_registration) VALUES ('101', '2', 'yes')");
    for node in [&a, &b] {
        assert!(node.cli("module reload res_pjsip_multireg.so").contains("reloaded successfully"));
        let shown = detail(node);
        assert!(shown.contains("IP phones:") && shown.contains("0 of 2"), "{shown}");
    }

    // 101r is derived on each node from the realtime 101; one device at a time (secondary_max_devices=1).
    let mut remote = registered(&a, "101r", "pass101");
    let mut second = b.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(second.register(), 403, "node B counts the secondary device registered through node A");
    assert_eq!(remote.unregister(), 200);
    assert_eq!(second.register(), 200, "101r registers through node B once the slot is free");
    let stored = postgres.sql("SELECT endpoint || ' ' || reg_server FROM ps_contacts ORDER BY 1");
    assert_eq!(stored, "101r node-b", "{stored}");

    // A bad value in the row: reported with section and option, last good settings kept.
    postgres.sql("UPDATE ps_multireg SET max_ip_phones = '9' WHERE id = '101'");
    a.cli("module reload res_pjsip_multireg.so");
    let log = a.messages_log_with("option 'max_ip_phones'");
    assert!(log.contains("section [101], option 'max_ip_phones': 9 is out of range 0-5"), "{log}");
    assert!(detail(&a).contains("0 of 2"), "last good limit stays: {}", detail(&a));
}

#[test]
fn ip_phones_registering_alternately_through_both_nodes_stop_at_the_limit() {
    let (postgres, a, b) = cluster("INSERT INTO ps_multireg (id, max_ip_phones) VALUES ('101', '2')");
    let mut first = phone(&a, 1);
    assert_eq!(first.register(), 200);
    let mut second = phone(&b, 2);
    assert_eq!(second.register(), 200);
    let mut third = phone(&a, 3);
    assert_eq!(third.register(), 403, "node A counts the phone registered through node B");
    let mut fourth = phone(&b, 4);
    assert_eq!(fourth.register(), 403, "node B counts both phones");
    assert_eq!(postgres.sql("SELECT count(*) FROM ps_contacts WHERE endpoint = '101'"), "2");
    // Refreshes of registered phones stay accepted on either node.
    assert_eq!(first.register(), 200);
    assert_eq!(second.register(), 200);
    // Every device is listed on both nodes, with the node it registered through.
    for node in [&a, &b] {
        let shown = detail(node);
        assert!(shown.contains("2 of 2"), "{shown}");
        assert!(shown.contains("node-a") && shown.contains("node-b"), "{shown}");
    }
    // A freed slot is seen by the other node.
    assert_eq!(first.unregister(), 200);
    assert_eq!(fourth.register(), 200, "node B admits once node A's phone left");
}

/// Calls the feature code from `device`, presses `digits` and waits for the call to end.
fn feature_code(device: &mut Agent, code: &str, digits: &[char]) {
    let mut call = device.call(code, Duration::from_secs(5));
    assert_eq!(call.final_status, 200, "{code} answers");
    std::thread::sleep(Duration::from_millis(700));
    for digit in digits {
        device.send_dtmf(&call, *digit);
        std::thread::sleep(Duration::from_millis(400));
    }
    if device.wait_request("BYE", Duration::from_secs(20)).is_none() {
        device.hangup(&mut call);
    }
}

/// Calls `number` from `caller`; which of `devices` got an INVITE (each is then rejected).
fn who_rings(caller: Agent, number: &str, devices: &[&Agent]) -> (Agent, Vec<bool>) {
    let number = number.to_string();
    let handle = std::thread::spawn(move || {
        let mut caller = caller;
        let call = caller.call(&number, Duration::from_secs(10));
        (caller, call)
    });
    // Each device answers its INVITE at once (no retransmission is left to be taken for the next call).
    let rang: Vec<bool> = std::thread::scope(|scope| {
        let waits: Vec<_> = devices
            .iter()
            .map(|device| {
                scope.spawn(move || {
                    let invite = device.wait_invite(Duration::from_secs(3));
                    if let Some(invite) = &invite {
                        eprintln!(
                            "DEBUG invite: {} {:?} {:?}",
                            invite.invite.request_uri(),
                            invite.invite.call_id(),
                            invite.invite.header("Via")
                        );
                        device.reject(invite, 486, "Busy Here");
                    }
                    invite.is_some()
                })
            })
            .collect();
        waits.into_iter().map(|wait| wait.join().unwrap()).collect()
    });
    let (caller, mut call) = handle.join().unwrap();
    if call.final_status == 200 {
        caller.hangup(&mut call);
    }
    (caller, rang)
}

fn changed_to(ami: &mut Ami, mode: &str) {
    ami.wait_event("MultiregRingModeChanged", Duration::from_secs(10), |e| e.get("NewMode").map(String::as_str) == Some(mode))
        .unwrap_or_else(|| panic!("no MultiregRingModeChanged to {mode}: {:?}", ami.pending_events()));
}

#[test]
fn a_ring_mode_set_on_one_node_decides_who_rings_on_the_other() {
    let (postgres, a, b) = cluster("INSERT INTO ps_multireg (id, dual_registration) VALUES ('101', 'yes')");
    let mut ami_a = a.ami();
    // The devices are registered through node B, which rings them (the test agents answer only
    // the node they talk to); the home phone's owner dials the feature code through node A.
    let home = registered(&b, "101", "pass101");
    let remote = registered(&b, "101r", "pass101");
    let caller_b = registered(&b, "104", "pass104");
    let (caller_b, rang) = who_rings(caller_b, "101", &[&home, &remote]);
    assert_eq!(rang, [true, true], "default mode on node B: both");

    let mut home_via_a = a.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    feature_code(&mut home_via_a, "36", &['1']);
    changed_to(&mut ami_a, "home");
    assert_eq!(postgres.sql("SELECT mode FROM ps_multireg_ringmode WHERE id = '101'"), "home");
    let (_, rang) = who_rings(caller_b, "101", &[&home, &remote]);
    assert_eq!(rang, [true, false], "home only, on node B");

    // And back: set on node B, read on node A.
    assert!(b.cli("multireg set ringmode 101 remote").contains("to remote"));
    let dial = a.ami().action("Getvar", &[("Variable", "MULTIREG_DIAL(101)")]);
    let targets = dial.get("Value").cloned().unwrap_or_default();
    assert!(targets.starts_with("PJSIP/101r/") && !targets.contains("PJSIP/101/"), "remote only, on node A: {targets}");
    assert!(detail(&a).contains("Ring mode:        remote"), "{}", detail(&a));
}

#[test]
fn phones_registering_at_the_same_instant_through_both_nodes_never_exceed_the_limit() {
    let (postgres, a, b) = cluster("INSERT INTO ps_multireg (id, max_ip_phones) VALUES ('101', '1')");
    for round in 0..6 {
        let (mut via_a, mut via_b) = (phone(&a, 10 + round), phone(&b, 20 + round));
        let barrier = std::sync::Barrier::new(2);
        let (status_a, status_b) = std::thread::scope(|scope| {
            let first = scope.spawn(|| {
                barrier.wait();
                via_a.register()
            });
            let second = scope.spawn(|| {
                barrier.wait();
                via_b.register()
            });
            (first.join().unwrap(), second.join().unwrap())
        });
        let mut statuses = [status_a, status_b];
        statuses.sort();
        assert_eq!(statuses, [200, 403], "round {round}: one admitted, one refused");
        assert_eq!(postgres.sql("SELECT count(*) FROM ps_contacts WHERE endpoint = '101'"), "1", "round {round}");
        let winner = if status_a == 200 { &mut via_a } else { &mut via_b };
        assert_eq!(winner.unregister(), 200);
    }
    let log = a.messages_log_with("advisory locks");
    assert!(log.contains("serialised across nodes with PostgreSQL advisory locks"), "{log}");

    // While another node holds the AOR's lock (here a psql session, for 1.5 s), a REGISTER waits for it.
    let key = fnv1a64("multireg:101");
    std::thread::scope(|scope| {
        scope.spawn(|| postgres.sql(&format!("SELECT pg_advisory_lock({key}); SELECT pg_sleep(1.5);")));
        std::thread::sleep(Duration::from_millis(300));
        let mut late = phone(&a, 99);
        let started = std::time::Instant::now();
        assert_eq!(late.register(), 200);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(800), "the REGISTER waited for the other node's lock: {waited:?}");
    });
}

/// The module's advisory lock key (FNV-1a 64 of "multireg:" + AOR), as PostgreSQL's bigint.
fn fnv1a64(text: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

#[test]
fn a_push_device_registered_through_one_node_is_listed_and_woken_by_the_other() {
    let (postgres, a, b) = cluster("INSERT INTO ps_multireg (id, push_providers, push_wait) VALUES ('101', 'fcm', '2')");
    let mut ami_b = b.ami();
    let mut mobile = a.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    mobile.user_agent = "PushPhone/2.0".into();
    mobile.contact_uri_override =
        Some(format!("sip:101@{};transport=udp;pn-provider=fcm;pn-prid=fcm-token-101;pn-param=com.example.voip", mobile.local));
    assert_eq!(mobile.register(), 200, "push REGISTER through node A");
    assert_eq!(postgres.sql("SELECT endpoint || ' ' || provider || ' ' || prid FROM ps_multireg_push"), "101 fcm fcm-token-101");
    let shown = detail(&b);
    assert!(shown.contains("push devices: 1") && shown.contains("PushPhone/2.0"), "node B lists it: {shown}");

    // The app sleeps: its registration is gone (as when it lapses), its binding stays.
    postgres.sql("DELETE FROM ps_contacts WHERE endpoint = '101'");
    let mut caller = registered(&b, "104", "pass104");
    let call = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(10));
        (caller, call)
    });
    let event = ami_b
        .wait_event("MultiregPushRequest", Duration::from_secs(8), |e| e.get("Extension").map(String::as_str) == Some("101"))
        .unwrap_or_else(|| panic!("node B sends the push: {:?}", ami_b.pending_events()));
    assert_eq!(event.get("PRID").map(String::as_str), Some("fcm-token-101"), "{event:?}");
    assert_eq!(event.get("Provider").map(String::as_str), Some("fcm"), "{event:?}");
    let (caller, mut call) = call.join().unwrap();
    if call.final_status == 200 {
        caller.hangup(&mut call);
    }

    // An unregister of the device through node B removes the binding node A stored.
    assert_eq!(mobile.register(), 200);
    let mut again_via_b = b.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    again_via_b.contact_uri_override = mobile.contact_uri_override.clone();
    assert_eq!(again_via_b.unregister(), 200);
    assert_eq!(postgres.sql("SELECT count(*) FROM ps_multireg_push"), "0");
    assert!(detail(&a).contains("push devices: 0"), "{}", detail(&a));
}

#[test]
fn a_device_logged_out_on_one_node_is_refused_by_the_other_until_cleared() {
    let (postgres, a, b) = cluster("INSERT INTO ps_multireg (id, max_ip_phones, logout_block_time) VALUES ('101', '2', '60')");
    let instance = ";+sip.instance=\"<urn:uuid:6d3a8f2e-0000-4000-8000-00000000c101>\"";
    let mut via_a = phone(&a, 1);
    via_a.contact_params = instance.into();
    assert_eq!(via_a.register(), 200);
    let answer = a.cli("multireg logout 101 1");
    assert!(answer.contains("Logged out IP phone device"), "{answer}");
    assert_eq!(postgres.sql("SELECT extension || ' ' || (blocked_until::bigint > 0) FROM ps_multireg_logout"), "101 true");

    // The same device (its +sip.instance) fails over to node B: refused there too.
    let mut via_b = phone(&b, 1);
    via_b.contact_params = instance.into();
    let refused = via_b.register_with_expires(3600).expect("an answer");
    assert_eq!(refused.status(), 403, "node B refuses the device logged out on node A");
    assert!(refused.reason().to_lowercase().contains("logged out"), "{}", refused.reason());
    assert!(detail(&b).contains("(1 logged-out devices refused now)"), "{}", detail(&b));
    // Lifted on node B: node A admits it again.
    let cleared = b.cli("multireg clear logouts 101");
    assert!(cleared.contains("Cleared 1 logged-out devices"), "{cleared}");
    assert_eq!(postgres.sql("SELECT count(*) FROM ps_multireg_logout"), "0");
    assert_eq!(via_a.register(), 200);
}
