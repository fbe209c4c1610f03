//! Which channels count as calls of an extension (All Busy Mode, max_concurrent_calls): only the
//! extension's own endpoints, matched exactly, and only channels past the ringing stage.
mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Agent, Asterisk, Config, Transport};

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => _10X,1,MultiregDial(${EXTEN},20)
 same => n,UserEvent(DialResult,Target: ${EXTEN},Status: ${DIALSTATUS},Multireg: ${MULTIREG_DIAL_STATUS})
 same => n,Hangup()
";

fn start(extra: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: extra.into(), extensions: Some(DIALPLAN.into()), ..Config::default() })
}

fn agent(asterisk: &Asterisk, ip: &str, user: &str, password: &str) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, ip, user, password);
    assert_eq!(agent.register(), 200, "{user} registers from {ip}");
    agent
}

/// Calls `number` from `caller` in the background.
fn call_in_background(mut caller: Agent, number: &str) -> std::thread::JoinHandle<(Agent, common::sip::Call)> {
    let number = number.to_string();
    std::thread::spawn(move || {
        let call = caller.call(&number, Duration::from_secs(25));
        (caller, call)
    })
}

/// Distinct Call-IDs of the INVITEs `device` received within `timeout` (retransmissions count once).
fn invites_within(device: &Agent, wanted: usize, timeout: Duration) -> HashSet<String> {
    let deadline = Instant::now() + timeout;
    let mut calls = HashSet::new();
    while calls.len() < wanted && Instant::now() < deadline {
        if let Some(invite) = device.wait_invite(Duration::from_millis(200)) {
            calls.insert(invite.invite.call_id());
        }
    }
    calls
}

#[test]
fn a_call_of_an_endpoint_whose_name_only_starts_like_the_extension_does_not_make_it_busy() {
    // Endpoint "101-x" is not extension 101, although its channels are named PJSIP/101-x-0000000N.
    let asterisk = start(
        "[101-x](endpoint-common)\nauth = 101-x\naors = 101-x\n[101-x](aor-common)\n[101-x](auth-common)\n\
         username = 101-x\npassword = passx\n\n[101]\ntype = multireg\nall_busy_mode = yes\n",
    );
    let mut ami = asterisk.ami();
    let home = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let other = agent(&asterisk, "127.0.0.1", "101-x", "passx");
    let callee = agent(&asterisk, "127.0.0.2", "102", "pass102");
    let first = call_in_background(other, "102");
    let incoming = callee.wait_invite(Duration::from_secs(8)).expect("102 rings");
    let _media = callee.answer(&incoming);
    let (other, mut established) = first.join().unwrap();
    assert_eq!(established.final_status, 200, "101-x is in a call with 102");
    let channels = asterisk.cli("core show channels concise");
    assert!(channels.contains("PJSIP/101-x-"), "{channels}");

    let caller = agent(&asterisk, "127.0.0.2", "103", "pass103");
    let second = call_in_background(caller, "101");
    let rang = home.wait_invite(Duration::from_secs(8));
    let busy = ami.wait_event("UserEvent", Duration::from_millis(300), |e| {
        e.get("UserEvent").map(String::as_str) == Some("DialResult") && e.get("Status").map(String::as_str) == Some("BUSY")
    });
    assert!(rang.is_some(), "101 rings although 101-x is in a call (All Busy Mode counts only 101): {busy:?}");
    let rang = rang.unwrap();
    home.reject(&rang, 486, "Busy Here");
    let _ = second.join();
    other.hangup(&mut established);
}

#[test]
fn a_device_not_yet_ringing_does_not_make_the_extension_busy() {
    let asterisk = start("[101]\ntype = multireg\nall_busy_mode = yes\nmax_ip_phones = 2\n");
    let mut ami = asterisk.ami();
    // The device never answers an INVITE with 100/180: its outbound channel stays in state Down.
    let slow = agent(&asterisk, "127.0.0.1", "101", "pass101");
    slow.set_silent(true);
    let first = call_in_background(agent(&asterisk, "127.0.0.2", "102", "pass102"), "101");
    let got = invites_within(&slow, 1, Duration::from_secs(8));
    assert_eq!(got.len(), 1, "the first call reaches the device");
    let channels = asterisk.cli("core show channels concise");
    assert!(channels.lines().any(|l| l.starts_with("PJSIP/101-") && l.contains("!Down!")), "{channels}");

    // A second caller while the first call has not even started ringing: not busy.
    let second = call_in_background(agent(&asterisk, "127.0.0.2", "103", "pass103"), "101");
    let both = invites_within(&slow, 2, Duration::from_secs(8));
    let busy = ami.wait_event("UserEvent", Duration::from_millis(300), |e| {
        e.get("UserEvent").map(String::as_str) == Some("DialResult") && e.get("Status").map(String::as_str) == Some("BUSY")
    });
    assert!(busy.is_none(), "a call that is not even ringing is not a call: {busy:?}");
    assert_eq!(both.len(), 2, "the second call rings the device too");
    // Both callers give up (CANCEL); the dial ends.
    asterisk.cli("channel request hangup all");
    let _ = first.join();
    let _ = second.join();
}
