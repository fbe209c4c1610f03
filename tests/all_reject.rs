//! All Reject Mode (issue 12): one device declining a MultiregDial call stops every other device
//! at once and the caller gets BUSY; with the mode off the others keep ringing.
mod common;

use std::time::{Duration, Instant};

use common::{Agent, Asterisk, Config, Transport};

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => _10X,1,MultiregDial(${EXTEN},20)
 same => n,UserEvent(MultiregTestDial,Status: ${DIALSTATUS})
 same => n,GotoIf($[\"${DIALSTATUS}\" = \"BUSY\"]?busy)
 same => n,Hangup()
 same => n(busy),Busy(1)
";

fn start(all_reject_mode: &str) -> Asterisk {
    Asterisk::start_with(Config {
        pjsip_extra: format!("[101]\ntype = multireg\nmax_ip_phones = 3\nall_reject_mode = {all_reject_mode}\n"),
        extensions: Some(DIALPLAN.into()),
        ..Config::default()
    })
}

fn devices(asterisk: &Asterisk) -> Vec<Agent> {
    (0..3)
        .map(|n| {
            let mut device = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
            assert_eq!(device.register(), 200, "device {n} registers");
            device
        })
        .collect()
}

/// 102 calls 101 in the background; every device gets the INVITE.
fn ring_all(asterisk: &Asterisk, devices: &[Agent]) -> (std::thread::JoinHandle<u16>, Vec<common::sip::IncomingCall>) {
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(caller.register(), 200);
    let handle = std::thread::spawn(move || caller.call("101", Duration::from_secs(25)).final_status);
    let invites = devices
        .iter()
        .enumerate()
        .map(|(n, device)| device.wait_invite(Duration::from_secs(5)).unwrap_or_else(|| panic!("device {n} rings")))
        .collect();
    (handle, invites)
}

#[test]
fn one_decline_stops_the_other_devices_and_the_caller_gets_busy() {
    let asterisk = start("yes");
    assert!(asterisk.cli("multireg show extension 101").contains("All Reject Mode:  on (486,603)"));
    let mut ami = asterisk.ami();
    let devices = devices(&asterisk);
    let (caller, invites) = ring_all(&asterisk, &devices);
    std::thread::sleep(Duration::from_millis(300));
    let declined = Instant::now();
    devices[0].reject(&invites[0], 603, "Decline");
    for n in [1, 2] {
        let cancel = devices[n].wait_request("CANCEL", Duration::from_secs(1));
        assert!(cancel.is_some(), "device {n} got no CANCEL within a second of the decline");
    }
    eprintln!("both CANCELs within {:?} of the 603", declined.elapsed());
    assert_eq!(caller.join().unwrap(), 486, "the caller hears busy (Busy() after DIALSTATUS=BUSY)");
    let status = ami
        .wait_event("UserEvent", Duration::from_secs(5), |e| e.get("UserEvent").map(String::as_str) == Some("MultiregTestDial"))
        .and_then(|e| e.get("Status").cloned());
    assert_eq!(status.as_deref(), Some("BUSY"));
    assert!(asterisk.messages_log_with("All Reject Mode stops the 2 other ringing channel(s)").contains("declined with 603"));
    no_errors(&asterisk);
}

#[test]
fn without_all_reject_mode_the_others_keep_ringing() {
    let asterisk = start("no");
    let devices = devices(&asterisk);
    let (caller, invites) = ring_all(&asterisk, &devices);
    std::thread::sleep(Duration::from_millis(300));
    devices[0].reject(&invites[0], 603, "Decline");
    for n in [1, 2] {
        assert!(devices[n].wait_request("CANCEL", Duration::from_millis(1500)).is_none(), "device {n} keeps ringing");
    }
    devices[1].reject(&invites[1], 486, "Busy Here");
    devices[2].reject(&invites[2], 486, "Busy Here");
    caller.join().unwrap();
    no_errors(&asterisk);
}

/// No ERROR lines but the host's name lookups (this machine resolves no names).
fn no_errors(asterisk: &Asterisk) {
    let errors: Vec<String> = asterisk.errors().into_iter().filter(|l| !l.contains("getaddrinfo")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
