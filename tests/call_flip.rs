//! Call flip (issue 12): MultiregFlip (*01 in the sample dialplan) from another device of the
//! extension takes over an answered call; the far party now talks to the dialling device and the
//! old device's leg ends. Without a call in progress it plays a prompt and hangs up.
mod common;

use std::time::Duration;

use common::media::rtp_packets_received;
use common::{Agent, Asterisk, Config, Transport};

fn agent(asterisk: &Asterisk, ip: &str, user: &str, password: &str) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, ip, user, password);
    assert_eq!(agent.register(), 200, "{user} registers");
    agent
}

#[test]
fn a_call_moves_from_the_desk_phone_to_the_secondary_and_audio_follows() {
    let asterisk = Asterisk::start_with(Config { sample_policy: true, ..Config::default() });
    let desk = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let mut mobile = agent(&asterisk, "127.0.0.1", "101r", "pass101");
    let mut caller = agent(&asterisk, "127.0.0.2", "102", "pass102");

    let handle = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(15));
        (caller, call)
    });
    let desk_invite = desk.wait_invite(Duration::from_secs(5)).expect("the desk phone rings");
    let mobile_invite = mobile.wait_invite(Duration::from_secs(5)).expect("the secondary rings too");
    let _desk_media = desk.answer(&desk_invite);
    assert!(mobile.wait_request("CANCEL", Duration::from_secs(3)).is_some());
    let _ = mobile_invite;
    let (caller, call) = handle.join().unwrap();
    assert_eq!(call.final_status, 200, "102 talks to the desk phone");
    std::thread::sleep(Duration::from_millis(500));

    let flip = mobile.call("*01", Duration::from_secs(10));
    assert_eq!(flip.final_status, 200, "MultiregFlip answers the secondary");
    assert!(desk.wait_request("BYE", Duration::from_secs(5)).is_some(), "the desk phone's leg ends");
    assert!(asterisk.messages_log_with("takes over the call of PJSIP/101-").contains("MultiregFlip, extension 101"));

    // Audio both ways between 102 and the secondary.
    let (socket, _) = flip.rtp.as_ref().expect("media for the secondary");
    let socket = socket.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        caller.send_audio(&call, 1500);
        (caller, call)
    });
    let to_mobile = rtp_packets_received(&socket, Duration::from_millis(1500));
    let (caller, mut call) = sending.join().unwrap();
    assert!(to_mobile >= 10, "102's audio reaches the secondary: {to_mobile} RTP packets");
    let (caller_socket, _) = call.rtp.as_ref().expect("caller media");
    let caller_socket = caller_socket.try_clone().unwrap();
    let sending = std::thread::spawn(move || {
        mobile.send_audio(&flip, 1500);
        (mobile, flip)
    });
    let to_caller = rtp_packets_received(&caller_socket, Duration::from_millis(1500));
    let (mobile, mut flip) = sending.join().unwrap();
    assert!(to_caller >= 10, "the secondary's audio reaches 102: {to_caller} RTP packets");

    caller.hangup(&mut call);
    assert!(mobile.wait_request("BYE", Duration::from_secs(5)).is_some(), "the flipped call ends with 102's hangup");
    let _ = &mut flip;
    no_errors(&asterisk);
}

#[test]
fn without_a_call_in_progress_flip_plays_a_prompt_and_hangs_up() {
    let asterisk = Asterisk::start_with(Config { sample_policy: true, ..Config::default() });
    let mut ami = asterisk.ami();
    let mut desk = agent(&asterisk, "127.0.0.1", "101", "pass101");
    let mut call = desk.call("*01", Duration::from_secs(10));
    assert_eq!(call.final_status, 200, "the prompt is played on an answered channel");
    let status = ami
        .wait_event("VarSet", Duration::from_secs(5), |e| e.get("Variable").map(String::as_str) == Some("MULTIREG_FLIP_STATUS"))
        .and_then(|e| e.get("Value").cloned());
    assert_eq!(status.as_deref(), Some("NOCALL"));
    if desk.wait_request("BYE", Duration::from_secs(10)).is_none() {
        desk.hangup(&mut call);
        panic!("the call did not end after the prompt");
    }
}

/// No ERROR lines but the host's name lookups (this machine resolves no names).
fn no_errors(asterisk: &Asterisk) {
    let errors: Vec<String> = asterisk.errors().into_iter().filter(|l| !l.contains("getaddrinfo")).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}
