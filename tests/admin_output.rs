//! What the CLI and AMI show administrators: only to the session that asked, never raw terminal
//! control sequences from devices, and tab completion that works.
mod common;

use std::time::Duration;

use common::{Asterisk, Config, Transport};

fn start(policy: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: policy.into(), ..Config::default() })
}

#[test]
fn show_extension_answers_only_the_requesting_session_inside_its_list() {
    let asterisk = start("[101]\ntype = multireg\ndual_registration = yes\nmax_ip_phones = 2\n");
    let mut device = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(device.register(), 200);
    let mut requester = asterisk.ami();
    let mut bystander = asterisk.ami();
    let (response, events) = requester.action_list("MultiregShowExtension", &[("Extension", "101")]);
    assert_eq!(response.get("Response").map(String::as_str), Some("Success"), "{response:?}");
    assert_eq!(response.get("EventList").map(String::as_str), Some("start"), "{response:?}");
    let names: Vec<&str> = events.iter().map(|e| e.get("Event").map(String::as_str).unwrap_or("")).collect();
    assert_eq!(names, ["MultiregExtensionDetail", "MultiregDevice", "MultiregDevicesComplete"], "{events:?}");
    let detail = &events[0];
    assert_eq!(detail.get("Extension").map(String::as_str), Some("101"));
    assert_eq!(detail.get("Secondary").map(String::as_str), Some("101r"));
    assert_eq!(events[2].get("ListItems").map(String::as_str), Some("2"), "{:?}", events[2]);
    let leaked = bystander.wait_event("MultiregExtensionDetail", Duration::from_secs(1), |_| true);
    assert!(leaked.is_none(), "another AMI session saw the answer: {leaked:?}");
}

#[test]
fn device_text_with_terminal_escapes_is_shown_escaped() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 2\nmax_desktop_clients = 1\n");
    let mut watcher = asterisk.ami();
    let mut device = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    device.user_agent = "\u{1b}[2J\u{1b}[31mZoiper rv2.10\u{7}".into();
    assert_eq!(device.register(), 200);
    let cli = asterisk.cli("multireg show extension 101");
    assert!(cli.contains("Zoiper"), "{cli}");
    assert!(!cli.bytes().any(|b| b < 0x20 && b != b'\n' && b != b'\r' && b != b'\t'), "raw control bytes in the CLI: {cli:?}");
    assert!(cli.contains("\\x1b[2J\\x1b[31mZoiper rv2.10\\x07"), "escapes shown as text: {cli}");
    let mut ami = asterisk.ami();
    let (_, events) = ami.action_list("MultiregShowExtension", &[("Extension", "101")]);
    let agent = events.iter().find_map(|e| e.get("UserAgent")).expect("a device with its User-Agent");
    assert_eq!(agent, "\\x1b[2J\\x1b[31mZoiper rv2.10\\x07");

    // A second such device is refused: the event and the log line carry the text escaped too.
    let mut second = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    second.user_agent = "\u{1b}]0;owned\u{7}Zoiper rv2.10".into();
    assert_eq!(second.register(), 403);
    let refused = watcher.wait_event("MultiregRegistrationRejected", Duration::from_secs(5), |_| true).expect("event");
    assert_eq!(refused.get("UserAgent").map(String::as_str), Some("\\x1b]0;owned\\x07Zoiper rv2.10"));
    let logged = common::wait_for(Duration::from_secs(5), || {
        let log = asterisk.messages_log();
        log.contains("\\x1b]0;owned\\x07Zoiper").then_some(log)
    });
    let log = logged.expect("the refusal is logged with the User-Agent escaped");
    assert!(!log.contains('\u{1b}'), "no raw escape in messages.log");
}

#[test]
fn tab_completion_offers_whole_candidates_every_time() {
    let asterisk = start("[101]\ntype = multireg\n[102]\ntype = multireg\n");
    for _ in 0..20 {
        let modes = asterisk.cli("_command matchesarray \"multireg set ringmode 101 \" \"\"");
        let mut words: Vec<&str> = modes.split_whitespace().filter(|w| *w != "_EOF_").collect();
        words.sort();
        assert_eq!(words, ["both", "home", "remote"], "{modes:?}");
        let extensions = asterisk.cli("_command matchesarray \"multireg show extension 10\" \"10\"");
        let mut words: Vec<&str> = extensions.split_whitespace().collect();
        words.sort();
        words.dedup();
        assert!(words.contains(&"101") && words.contains(&"102"), "{extensions:?}");
    }
    assert!(asterisk.cli("core show uptime").contains("uptime"), "Asterisk still answers");
}
