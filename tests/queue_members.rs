//! The queue rule (the two devices of one extension are never in the same queue) judged on
//! app_queue's live membership, also for `Local/` members and members that predate the module.
mod common;

use std::time::Duration;

use common::{wait_for, Asterisk, Config};

fn members(ami: &mut common::Ami) -> String {
    ami.action("Getvar", &[("Variable", "QUEUE_MEMBER_LIST(support)")]).get("Value").cloned().unwrap_or_default()
}

#[test]
fn local_members_count_by_their_device_and_never_leave_stale_entries() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\ndual_registration = yes\n".into(),
        ..Config::default()
    });
    let mut ami = asterisk.ami();
    // A Local member standing for 101 (its state follows PJSIP/101), there before the module loads.
    let added =
        ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "Local/101@internal/n"), ("StateInterface", "PJSIP/101")]);
    assert_eq!(added.get("Response").map(String::as_str), Some("Success"), "{added:?}");
    asterisk.cli("module unload res_pjsip_multireg.so");
    asterisk.cli("module load res_pjsip_multireg.so");
    assert!(asterisk.cli("module show like multireg").contains("Running"));

    // The other device of 101 is refused while the Local member is there...
    ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "PJSIP/101r")]);
    let refused = ami.wait_event("MultiregQueueMemberRefused", Duration::from_secs(5), |e| {
        e.get("Interface").map(String::as_str) == Some("PJSIP/101r")
    });
    assert!(refused.is_some(), "{:?}", ami.pending_events());
    let only_local = wait_for(Duration::from_secs(3), || (members(&mut ami) == "Local/101@internal/n").then_some(()));
    assert!(only_local.is_some(), "{}", members(&mut ami));

    // ...and once it has left, nothing of it remains: 101r may join.
    ami.action("QueueRemove", &[("Queue", "support"), ("Interface", "Local/101@internal/n")]);
    ami.action("QueueAdd", &[("Queue", "support"), ("Interface", "PJSIP/101r")]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(members(&mut ami), "PJSIP/101r");
    assert!(ami.wait_event("MultiregQueueMemberRefused", Duration::from_millis(500), |_| true).is_none(), "no second refusal");
}
