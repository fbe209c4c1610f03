//! Staggered ring by device type (issue 12): the desk phone rings at once, the secondary (remote
//! side) after ring_delay_remote, the mobile app after ring_delay_mobile, and a delayed device never
//! when the phone answered first or the call's timeout (which counts from the start) ran out.
mod common;

use std::time::{Duration, Instant};

use common::{Agent, Asterisk, Config, Transport};

const DELAY: Duration = Duration::from_secs(3);
const REMOTE_DELAY: Duration = Duration::from_secs(1);

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => _10X,1,MultiregDial(${EXTEN},20)
 same => n,Hangup()
; The same call with a 2 s timeout: shorter than the mobile app's delay.
exten => _9XXX,1,MultiregDial(${EXTEN:1},2)
 same => n,Hangup()
";

fn setup() -> (Asterisk, Agent, Agent, Agent) {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\nmax_mobile_clients = 1\nring_delay_mobile = 3\ndual_registration = yes\n\
                      ring_delay_remote = 1\n"
            .into(),
        extensions: Some(DIALPLAN.into()),
        ..Config::default()
    });
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    phone.user_agent = "Yealink SIP-T46U 108.86.0.20".into();
    assert_eq!(phone.register(), 200);
    let mut mobile = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    mobile.user_agent = "Groundwire/24.1 (iPhone)".into();
    assert_eq!(mobile.register(), 200);
    let mut remote = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(remote.register(), 200);
    let cli = asterisk.cli("multireg show extension 101");
    assert!(cli.contains("Ring delays (s):  ip_phone 0, web 0, desktop 0, mobile 3, remote 1"), "{cli}");
    (asterisk, phone, mobile, remote)
}

fn call_in_background(asterisk: &Asterisk, number: &str) -> std::thread::JoinHandle<(Agent, common::sip::Call)> {
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(caller.register(), 200);
    let number = number.to_string();
    std::thread::spawn(move || {
        let call = caller.call(&number, Duration::from_secs(25));
        (caller, call)
    })
}

#[test]
fn the_mobile_app_rings_after_its_delay_and_the_phone_at_once() {
    let (asterisk, phone, mobile, remote) = setup();
    // The module's own context survives a reload of extensions.conf.
    asterisk.cli("dialplan reload");
    assert!(asterisk.cli("dialplan show multireg-delayed-ring").contains("MultiregDelayedRing"));
    // The caller registers first; the call starts with the thread.
    let caller = call_in_background(&asterisk, "101");
    let started = Instant::now();
    let phone_invite = phone.wait_invite(Duration::from_secs(3)).expect("the phone rings");
    let phone_after = started.elapsed();
    remote.wait_invite(Duration::from_secs(4)).expect("the secondary rings later");
    let remote_after = started.elapsed();
    let mobile_invite = mobile.wait_invite(Duration::from_secs(8)).expect("the mobile app rings later");
    let mobile_after = started.elapsed();
    eprintln!("phone INVITE after {phone_after:?}, secondary after {remote_after:?}, mobile after {mobile_after:?}");
    assert!(phone_after < Duration::from_millis(900), "the phone rings at once: {phone_after:?}");
    assert!(
        remote_after >= REMOTE_DELAY - Duration::from_millis(300) && remote_after <= REMOTE_DELAY + Duration::from_millis(1500),
        "the secondary rings about {REMOTE_DELAY:?} after the start: {remote_after:?}"
    );
    assert!(
        mobile_after >= DELAY - Duration::from_millis(300) && mobile_after <= DELAY + Duration::from_millis(1500),
        "the mobile app rings about {DELAY:?} after the start: {mobile_after:?}"
    );
    // The mobile app answers: the first to answer takes the call; the phone stops ringing.
    let _media = mobile.answer(&mobile_invite);
    assert!(phone.wait_request("CANCEL", Duration::from_secs(3)).is_some(), "the phone stops ringing");
    assert!(remote.wait_request("CANCEL", Duration::from_secs(3)).is_some(), "the secondary stops ringing");
    let _ = phone_invite;
    let (caller_agent, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200, "the caller is connected to the mobile app");
    caller_agent.hangup(&mut call);
    assert!(mobile.wait_request("BYE", Duration::from_secs(3)).is_some());
    no_errors(&asterisk);
}

#[test]
fn a_delayed_type_is_never_rung_when_someone_answered_or_the_timeout_ran_out() {
    let (asterisk, phone, mobile, remote) = setup();
    let caller = call_in_background(&asterisk, "101");
    let invite = phone.wait_invite(Duration::from_secs(3)).expect("the phone rings");
    let _media = phone.answer(&invite);
    let (caller_agent, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200);
    assert!(mobile.wait_invite(DELAY + Duration::from_secs(2)).is_none(), "the mobile app never rings after the phone answered");
    assert!(remote.wait_invite(Duration::from_millis(100)).is_none(), "nor does the secondary");
    caller_agent.hangup(&mut call);

    // Timeout 2 s from the start, mobile delay 3 s: the mobile app's turn never comes.
    let caller = call_in_background(&asterisk, "9101");
    assert!(phone.wait_invite(Duration::from_secs(3)).is_some(), "the phone rings");
    assert!(mobile.wait_invite(DELAY + Duration::from_secs(2)).is_none(), "the mobile app never rings after the timeout");
    let (_, call) = caller.join().unwrap();
    assert_ne!(call.final_status, 200);
    no_errors(&asterisk);
}

/// No ERROR lines but the host's name lookups (this machine resolves no names).
fn no_errors(asterisk: &Asterisk) {
    let errors: Vec<String> = asterisk.errors().into_iter().filter(|l| !l.contains("getaddrinfo")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
