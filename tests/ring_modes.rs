//! Ring modes by feature code 36 and All Busy Mode (issue 5), with real calls and RFC 4733 DTMF,
//! using the sample dialplan and policies shipped in asterisk-conf/.
mod common;

use std::time::Duration;

use common::{wait_for, Agent, Ami, Asterisk, Config, Transport};

fn start_sample() -> Asterisk {
    Asterisk::start_with(Config { sample_policy: true, ..Config::default() })
}

fn agent(asterisk: &Asterisk, ip: &str, user: &str, password: &str) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, ip, user, password);
    assert_eq!(agent.register(), 200, "{user} registers");
    agent
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

fn changed_to(ami: &mut Ami, mode: &str) -> common::ami::AmiMessage {
    ami.wait_event("MultiregRingModeChanged", Duration::from_secs(10), |e| e.get("NewMode").map(String::as_str) == Some(mode))
        .unwrap_or_else(|| panic!("no MultiregRingModeChanged to {mode}: {:?}", ami.pending_events()))
}

/// Calls `number` from `caller`; returns the caller and which of `devices` got an INVITE (each
/// INVITE is then rejected, so the call ends).
fn who_rings(caller: Agent, number: &str, devices: &[&Agent]) -> (Agent, Vec<bool>) {
    let number = number.to_string();
    let handle = std::thread::spawn(move || {
        let mut caller = caller;
        let call = caller.call(&number, Duration::from_secs(10));
        (caller, call)
    });
    let invites: Vec<_> = devices.iter().map(|d| d.wait_invite(Duration::from_secs(3))).collect();
    for (device, invite) in devices.iter().zip(&invites) {
        if let Some(invite) = invite {
            device.reject(invite, 486, "Busy Here");
        }
    }
    let (caller, mut call) = handle.join().unwrap();
    if call.final_status == 200 {
        caller.hangup(&mut call);
    }
    (caller, invites.iter().map(Option::is_some).collect())
}

/// The value the dialplan gave `variable` on a channel of endpoint `caller` (e.g. "104").
fn dial_status(ami: &mut Ami, variable: &str, caller: &str) -> String {
    let prefix = format!("PJSIP/{caller}-");
    ami.wait_event("VarSet", Duration::from_secs(10), |e| {
        e.get("Variable").map(String::as_str) == Some(variable) && e.get("Channel").is_some_and(|c| c.starts_with(&prefix))
    })
    .and_then(|e| e.get("Value").cloned())
    .unwrap_or_else(|| panic!("no {variable} on {prefix}: {:?}", ami.pending_events()))
}

#[test]
fn feature_code_from_home_and_remote_selects_exactly_which_devices_ring() {
    let asterisk = start_sample();
    let mut ami = asterisk.ami();
    let mut home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let mut remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let mut caller = agent(&asterisk, "127.0.0.2", "104", "pass104");

    let rang;
    (caller, rang) = who_rings(caller, "101", &[&home, &remote]);
    assert_eq!(rang, [true, true], "default mode: both");

    feature_code(&mut home, "36", &['1']);
    let event = changed_to(&mut ami, "home");
    assert_eq!(event.get("Extension").map(String::as_str), Some("101"));
    assert_eq!(event.get("OldMode").map(String::as_str), Some("both"));
    assert!(event.get("ChangedBy").is_some_and(|c| c.starts_with("PJSIP/101-")), "{event:?}");
    let rang;
    (caller, rang) = who_rings(caller, "101", &[&home, &remote]);
    assert_eq!(rang, [true, false], "home only");

    feature_code(&mut remote, "36#", &['2']);
    let event = changed_to(&mut ami, "remote");
    assert!(event.get("ChangedBy").is_some_and(|c| c.starts_with("PJSIP/101r-")), "changed from the secondary: {event:?}");
    let rang;
    (caller, rang) = who_rings(caller, "101", &[&home, &remote]);
    assert_eq!(rang, [false, true], "remote only");

    feature_code(&mut remote, "36", &['3']);
    changed_to(&mut ami, "both");
    let (_, rang) = who_rings(caller, "101", &[&home, &remote]);
    assert_eq!(rang, [true, true], "both");
    assert!(asterisk.cli("multireg show extension 101").contains("Ring mode:        both"));
}

#[test]
fn direct_mode_cli_and_ring_mode_function() {
    let asterisk = start_sample();
    let mut ami = asterisk.ami();
    let mut remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let mut call = remote.call("*362", Duration::from_secs(5));
    changed_to(&mut ami, "remote");
    if call.final_status == 200 {
        remote.hangup(&mut call);
    }
    let value = ami.action("Getvar", &[("Variable", "RING_MODE(101)")]);
    assert_eq!(value.get("Value").map(String::as_str), Some("remote"));
    let set = ami.action("Setvar", &[("Variable", "RING_MODE(101)"), ("Value", "1")]);
    assert_eq!(set.get("Response").map(String::as_str), Some("Success"));
    changed_to(&mut ami, "home");
    assert!(asterisk.cli("multireg set ringmode 101 both").contains("changed from home to both"));
    changed_to(&mut ami, "both");
    let refused = asterisk.cli("multireg set ringmode 101 sideways");
    assert!(refused.contains("Unknown ring mode"), "{refused}");
    let documented = asterisk.cli("core show application RingMode");
    assert!(documented.contains("RingMode([extension][,mode])") && documented.contains("three tries"), "{documented}");
    let function = asterisk.cli("core show function RING_MODE");
    assert!(function.contains("Reads or sets the ring mode"), "{function}");
    let event = asterisk.cli("manager show event MultiregRingModeChanged");
    assert!(event.contains("The ring mode of an extension changed") && event.contains("ChangedBy"), "{event}");
}

#[test]
fn invalid_keys_and_silence_end_the_call_with_the_mode_unchanged() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\ndual_registration = yes\nring_mode_prompt = beep\nring_mode_timeout = 1\n".into(),
        ..Config::default()
    });
    let mut ami = asterisk.ami();
    let mut home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    feature_code(&mut home, "36", &['9', '8', '7']);
    let status = dial_status(&mut ami, "RINGMODE_STATUS", "101");
    assert_eq!(status, "TIMEOUT", "three invalid keys give up");
    // Silence: three timeouts.
    let mut call = home.call("36", Duration::from_secs(5));
    assert_eq!(call.final_status, 200);
    let ended = home.wait_request("BYE", Duration::from_secs(15));
    assert!(ended.is_some(), "Asterisk ends the call after three silent tries");
    let _ = &mut call;
    assert_eq!(dial_status(&mut ami, "RINGMODE_STATUS", "101"), "TIMEOUT");
    assert!(ami.wait_event("MultiregRingModeChanged", Duration::from_millis(300), |_| true).is_none(), "mode never changed");
    assert_eq!(ami.action("Getvar", &[("Variable", "RING_MODE(101)")]).get("Value").map(String::as_str), Some("both"));
}

#[test]
fn mode_survives_core_restart_and_a_full_stop_and_start() {
    let mut asterisk = start_sample();
    assert!(asterisk.cli("multireg set ringmode 101 home").contains("to home"));
    asterisk.core_restart();
    assert!(asterisk.cli("multireg show extension 101").contains("Ring mode:        home"), "after core restart now");
    assert!(asterisk.cli("module reload res_pjsip_multireg.so").contains("reloaded successfully"));
    assert!(asterisk.cli("multireg show extension 101").contains("Ring mode:        home"), "after module reload");
    assert!(asterisk.cli("multireg set ringmode 101 remote").contains("to remote"));
    // A stopped and started process, as after a host reboot.
    let asterisk = asterisk.restart();
    let mut ami = asterisk.ami();
    assert_eq!(ami.action("Getvar", &[("Variable", "RING_MODE(101)")]).get("Value").map(String::as_str), Some("remote"));
    let home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let caller = agent(&asterisk, "127.0.0.2", "104", "pass104");
    let (_, rang) = who_rings(caller, "101", &[&home, &remote]);
    assert_eq!(rang, [false, true]);
}

#[test]
fn chosen_side_without_devices_is_unavailable() {
    let asterisk = start_sample();
    let mut ami = asterisk.ami();
    let _home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    asterisk.cli("multireg set ringmode 101 remote");
    let mut caller = agent(&asterisk, "127.0.0.2", "104", "pass104");
    let mut call = caller.call("101", Duration::from_secs(8));
    assert_eq!(dial_status(&mut ami, "MULTIREG_DIAL_STATUS", "104"), "UNAVAILABLE");
    assert_eq!(dial_status(&mut ami, "DIALSTATUS", "104"), "CHANUNAVAIL");
    if call.final_status == 200 {
        caller.hangup(&mut call);
    }
}

#[test]
fn all_busy_mode_off_rings_during_a_call_and_on_returns_busy() {
    // 101: All Busy Mode off (call waiting); 102: on (sample policies).
    let asterisk = start_sample();
    for (extension, busy_mode) in [("101", false), ("102", true)] {
        // A fresh AMI session per round, so only this round's events are seen.
        let mut ami = asterisk.ami();
        let password = format!("pass{extension}");
        let mut home = agent(&asterisk, "127.0.0.1", extension, &password);
        let remote = agent(&asterisk, "127.0.0.1", &format!("{extension}r"), &password);
        let peer = agent(&asterisk, "127.0.0.4", "103", "pass103");
        // A live call on the home device.
        let handle = std::thread::spawn(move || {
            let call = home.call("103", Duration::from_secs(8));
            (home, call)
        });
        let incoming = peer.wait_invite(Duration::from_secs(5)).expect("103 rings");
        let _media = peer.answer(&incoming);
        let (home, mut live) = handle.join().unwrap();
        assert_eq!(live.final_status, 200);
        let busy_shown = wait_for(Duration::from_secs(3), || {
            asterisk.cli(&format!("multireg show extension {extension}")).contains("busy: yes").then_some(())
        });
        assert!(busy_shown.is_some(), "CLI shows the extension busy");

        let caller = agent(&asterisk, "127.0.0.2", "104", "pass104");
        let (_caller, rang) = who_rings(caller, extension, &[&remote]);
        let status = dial_status(&mut ami, "MULTIREG_DIAL_STATUS", "104");
        if busy_mode {
            assert_eq!(rang, [false], "All Busy Mode: nothing rings");
            assert_eq!(status, "BUSY");
            assert_eq!(dial_status(&mut ami, "DIALSTATUS", "104"), "BUSY");
        } else {
            assert_eq!(rang, [true], "call waiting: the other device rings");
            assert_eq!(status, "OK");
        }
        home.hangup(&mut live);
    }
}

#[test]
fn remote_destination_replaces_the_secondary_on_the_remote_side() {
    // Endpoint 104 stands in for a trunk: the remote side dials 5550123 through it.
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\ndual_registration = yes\nring_mode_default = remote\nremote_destination = PJSIP/5550123@104\n".into(),
        ..Config::default()
    });
    let home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let remote = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let trunk = agent(&asterisk, "127.0.0.4", "104", "pass104");
    let mut caller = agent(&asterisk, "127.0.0.2", "102", "pass102");
    let handle = std::thread::spawn(move || caller.call("101", Duration::from_secs(10)));
    let external = trunk.wait_invite(Duration::from_secs(4)).expect("the external number rings through the trunk");
    assert!(external.invite.request_uri().starts_with("sip:5550123@"), "{}", external.invite.request_uri());
    assert!(home.wait_invite(Duration::from_millis(500)).is_none(), "home does not ring in remote mode");
    assert!(remote.wait_invite(Duration::from_millis(500)).is_none(), "the secondary is replaced by the destination");
    trunk.reject(&external, 486, "Busy Here");
    let _ = handle.join();
}
