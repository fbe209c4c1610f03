//! One busy lamp per extension: `exten => 101,hint,Multireg:101` combines every device of 101 and
//! 101r. A BLF subscription (SUBSCRIBE, Event: dialog) sees idle → ringing → in use → idle.
mod common;

use std::time::Duration;

use common::subscribe::DialogState;
use common::{Asterisk, Config, Transport};

const DIALPLAN: &str = "[general]\nstatic = yes\n\n[internal]\nexten => 101,hint,Multireg:101\n\
exten => 101,1,MultiregDial(101,20)\n same => n,Hangup()\n";

fn hint(asterisk: &Asterisk) -> String {
    asterisk.cli("core show hint 101")
}

fn wait_states(watcher: &common::Agent, expected: &[DialogState]) -> Vec<DialogState> {
    common::wait_for(Duration::from_secs(5), || {
        let states = watcher.dialog_states();
        states.ends_with(expected).then_some(states)
    })
    .unwrap_or_else(|| watcher.dialog_states())
}

#[test]
fn the_hint_follows_every_device_of_the_extension() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\ndual_registration = yes\n".into(),
        extensions: Some(DIALPLAN.into()),
        ..Config::default()
    });
    // Nothing registered: unavailable.
    assert!(hint(&asterisk).contains("Unavailable"), "{}", hint(&asterisk));
    let mut home = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut remote = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(home.register(), 200);
    assert_eq!(remote.register(), 200);
    let idle = common::wait_for(Duration::from_secs(5), || hint(&asterisk).contains("Idle").then_some(()));
    assert!(idle.is_some(), "{}", hint(&asterisk));

    let mut watcher = asterisk.agent(Transport::Udp, "127.0.0.3", "103", "pass103");
    let subscribed = watcher.subscribe("101", "dialog", "application/dialog-info+xml", 600).expect("an answer");
    assert!((200..300).contains(&subscribed.status()), "{}", subscribed.raw);
    assert_eq!(wait_states(&watcher, &[DialogState::Idle]), [DialogState::Idle]);

    // 102 calls 101: home and remote ring, the lamp shows ringing; remote answers: in use.
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    let handle = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(10));
        (caller, call)
    });
    let _ringing_home = home.wait_invite(Duration::from_secs(5)).expect("101 rings");
    let ringing_remote = remote.wait_invite(Duration::from_secs(5)).expect("101r rings");
    assert_eq!(wait_states(&watcher, &[DialogState::Ringing]), [DialogState::Idle, DialogState::Ringing]);
    assert!(hint(&asterisk).contains("Ringing"), "{}", hint(&asterisk));
    let _media = remote.answer(&ringing_remote);
    let (caller, mut call) = handle.join().unwrap();
    assert_eq!(call.final_status, 200);
    let states = wait_states(&watcher, &[DialogState::InUse]);
    assert_eq!(states, [DialogState::Idle, DialogState::Ringing, DialogState::InUse]);
    assert!(hint(&asterisk).contains("InUse"), "{}", hint(&asterisk));
    let shown = asterisk.cli("multireg show extension 101");
    assert!(shown.contains("Busy lamp:        Multireg:101 (InUse)"), "{shown}");

    caller.hangup(&mut call);
    let states = wait_states(&watcher, &[DialogState::Idle]);
    assert_eq!(states, [DialogState::Idle, DialogState::Ringing, DialogState::InUse, DialogState::Idle]);

    // Both devices gone: unavailable again.
    assert_eq!(home.unregister(), 200);
    assert_eq!(remote.unregister(), 200);
    let gone = common::wait_for(Duration::from_secs(5), || hint(&asterisk).contains("Unavailable").then_some(()));
    assert!(gone.is_some(), "{}", hint(&asterisk));
}

/// Calls MultiregDial placed to the remote destination count too: ringing, then in use.
#[test]
fn calls_to_the_remote_destination_light_the_lamp() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\nremote_destination = PJSIP/104\nring_mode_default = remote\n".into(),
        extensions: Some(DIALPLAN.into()),
        ..Config::default()
    });
    let mut home = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut mobile = asterisk.agent(Transport::Udp, "127.0.0.4", "104", "pass104");
    assert_eq!(home.register(), 200);
    assert_eq!(mobile.register(), 200);
    let state = |word: &str| common::wait_for(Duration::from_secs(5), || hint(&asterisk).contains(word).then_some(()));
    assert!(state("Idle").is_some(), "{}", hint(&asterisk));
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    let handle = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(10));
        (caller, call)
    });
    let ringing = mobile.wait_invite(Duration::from_secs(5)).expect("the remote destination rings");
    assert!(state("Ringing").is_some(), "{}", hint(&asterisk));
    let _media = mobile.answer(&ringing);
    let (caller, mut call) = handle.join().unwrap();
    assert_eq!(call.final_status, 200);
    assert!(state("InUse").is_some(), "{}", hint(&asterisk));
    caller.hangup(&mut call);
    assert!(state("Idle").is_some(), "{}", hint(&asterisk));
}

/// The device states Asterisk has cached (AMI DeviceStateList), as (device, state).
fn cached_states(asterisk: &Asterisk) -> Vec<(String, String)> {
    let (_, events) = asterisk.ami().action_list("DeviceStateList", &[]);
    events
        .iter()
        .filter(|event| event.get("Event").map(String::as_str) == Some("DeviceStateChange"))
        .map(|event| (event.get("Device").cloned().unwrap_or_default(), event.get("State").cloned().unwrap_or_default()))
        .collect()
}

fn cached_state(asterisk: &Asterisk, device: &str) -> Option<String> {
    cached_states(asterisk).into_iter().find(|(name, _)| name == device).map(|(_, state)| state)
}

/// Only lamps something asked for are announced (each announcement makes Asterisk tell every
/// device state watcher): 102 has no hint, so registering its phone changes PJSIP/102 but leaves
/// Multireg:102 out of Asterisk's device states until DEVICE_STATE() asks; from then on it follows.
#[test]
fn a_lamp_nobody_watches_is_not_announced_until_asked() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\n[102]\ntype = multireg\n".into(),
        extensions: Some(DIALPLAN.into()),
        modules_extra: "load => res_manager_devicestate.so\n".into(),
        ..Config::default()
    });
    let mut phone_101 = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    let mut phone_102 = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(phone_101.register(), 200);
    assert_eq!(phone_102.register(), 200);
    let watched = common::wait_for(Duration::from_secs(5), || {
        (cached_state(&asterisk, "Multireg:101").as_deref() == Some("NOT_INUSE")).then_some(())
    });
    assert!(watched.is_some(), "the hinted lamp is announced: {:?}", cached_states(&asterisk));
    assert_eq!(cached_state(&asterisk, "PJSIP/102").as_deref(), Some("NOT_INUSE"), "{:?}", cached_states(&asterisk));
    let announced = common::wait_for(Duration::from_secs(1), || cached_state(&asterisk, "Multireg:102"));
    assert_eq!(announced, None, "nobody watches 102's lamp");

    let asked = asterisk.ami().action("Getvar", &[("Variable", "DEVICE_STATE(Multireg:102)")]);
    assert_eq!(asked.get("Value").map(String::as_str), Some("NOT_INUSE"), "{asked:?}");
    let cached =
        common::wait_for(Duration::from_secs(5), || cached_state(&asterisk, "Multireg:102").filter(|s| s == "NOT_INUSE"));
    assert!(cached.is_some(), "asked once, announced: {:?}", cached_states(&asterisk));
    assert_eq!(phone_102.unregister(), 200);
    let gone =
        common::wait_for(Duration::from_secs(5), || cached_state(&asterisk, "Multireg:102").filter(|s| s == "UNAVAILABLE"));
    assert!(gone.is_some(), "then followed: {:?}", cached_states(&asterisk));
}

/// A hint made while the module was not loaded asked for Multireg:101 in vain; loading the module
/// finds it in the dialplan and lights it.
#[test]
fn a_hint_made_before_the_module_loaded_is_found() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\n".into(),
        extensions: Some(DIALPLAN.into()),
        without_module: true,
        ..Config::default()
    });
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
    assert!(hint(&asterisk).contains("Unavailable"), "no provider yet: {}", hint(&asterisk));
    assert!(asterisk.cli("module load res_pjsip_multireg.so").contains("Loaded"));
    let idle = common::wait_for(Duration::from_secs(5), || hint(&asterisk).contains("Idle").then_some(()));
    assert!(idle.is_some(), "{}", hint(&asterisk));
}

/// A hint on an extension that gets its policy only later (a reload) asked in vain as well: the
/// reload finds it.
#[test]
fn a_hint_on_an_extension_given_a_policy_later_is_found() {
    let dialplan = "[general]\nstatic = yes\n\n[internal]\nexten => 102,hint,Multireg:102\n";
    let asterisk = Asterisk::start_with(Config { extensions: Some(dialplan.into()), ..Config::default() });
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(phone.register(), 200);
    let lamp = || asterisk.cli("core show hint 102");
    assert!(lamp().contains("Unavailable"), "no policy, no lamp: {}", lamp());
    asterisk.rewrite_pjsip_extra("[102]\ntype = multireg\n");
    asterisk.cli("module reload res_pjsip.so");
    let idle = common::wait_for(Duration::from_secs(5), || lamp().contains("Idle").then_some(()));
    assert!(idle.is_some(), "{}", lamp());
    // And a reload that takes the policy away turns the lamp off again.
    asterisk.rewrite_pjsip_extra("");
    asterisk.cli("module reload res_pjsip.so");
    let off = common::wait_for(Duration::from_secs(5), || lamp().contains("Unavailable").then_some(()));
    assert!(off.is_some(), "{}", lamp());
}
