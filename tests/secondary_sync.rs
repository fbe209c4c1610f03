//! The derived secondary ("101r") across reloads of res_pjsip: always in line with the primary
//! and the policy, never left behind, never clobbering hand-made objects, and never more
//! permissive than the primary.
mod common;

use std::time::Duration;

use common::{wait_for, Asterisk, Config, Transport};

const DUAL_ON: &str = "[101]\ntype = multireg\ndual_registration = yes\n";
const DUAL_OFF: &str = "[101]\ntype = multireg\ndual_registration = no\n";

fn start(policy: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: policy.into(), ..Config::default() })
}

/// How many endpoints named exactly `name` `pjsip show endpoints` lists.
fn endpoint_count(asterisk: &Asterisk, name: &str) -> usize {
    let needle = format!(" Endpoint:  {name}/");
    asterisk.cli("pjsip show endpoints").lines().filter(|l| l.starts_with(&needle)).count()
}

/// The final answer to a REGISTER (after the digest challenge); a registered device is
/// unregistered again so it does not hold the secondary's one device slot. An address refused by
/// an endpoint ACL is challenged again and again: 401.
fn register_status(asterisk: &Asterisk, ip: &str, user: &str, password: &str) -> u16 {
    let mut device = asterisk.agent(Transport::Udp, ip, user, password);
    let status = device.register();
    if status == 200 {
        device.unregister();
    }
    status
}

/// Waits until the secondary's state settles as wanted, then checks it stays so for a while
/// (a reload's effects may land after the reload command returns).
fn settles(asterisk: &Asterisk, name: &str, wanted: usize) {
    let reached = wait_for(Duration::from_secs(5), || (endpoint_count(asterisk, name) == wanted).then_some(()));
    assert!(reached.is_some(), "{name} listed {wanted} times: {}", asterisk.cli("pjsip show endpoints"));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(endpoint_count(asterisk, name), wanted, "{name} changed again after settling");
}

#[test]
fn dual_registration_off_and_on_through_res_pjsip_reloads() {
    let asterisk = start(DUAL_ON);
    settles(&asterisk, "101r", 1);
    let mut remote = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(remote.register(), 200);
    for round in 0..6 {
        asterisk.rewrite_pjsip_extra(DUAL_OFF);
        asterisk.cli("module reload res_pjsip.so");
        settles(&asterisk, "101r", 0);
        let contacts = asterisk.cli("pjsip show contacts");
        assert!(!contacts.contains("101r/"), "round {round}: registrations of 101r removed: {contacts}");
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", "pass101"), 401, "round {round}: 101r refused");

        asterisk.rewrite_pjsip_extra(DUAL_ON);
        asterisk.cli("module reload res_pjsip.so");
        settles(&asterisk, "101r", 1);
        assert_eq!(remote.register(), 200, "round {round}: 101r registers again");
    }
}

#[test]
fn rapid_reloads_leave_the_secondary_matching_the_last_configuration() {
    // Each res_pjsip reload announces endpoints, auths and AORs from three threads, after the
    // reload command returned: back-to-back reloads overlap those notifications. The last step of
    // each phase reloads res_pjsip (a reload of this module alone does not re-read passwords).
    let asterisk = start(DUAL_ON);
    settles(&asterisk, "101r", 1);
    for round in 0..4 {
        for step in 0..9 {
            let (policy, password) = if step % 2 == 0 { (DUAL_OFF, "pass101") } else { (DUAL_ON, "other101") };
            asterisk.rewrite_pjsip(|base| base.replace("password = pass101", &format!("password = {password}")), policy);
            asterisk.cli(if step % 3 == 1 { "module reload res_pjsip_multireg.so" } else { "module reload res_pjsip.so" });
        }
        // The last step (8) turned dual registration off.
        settles(&asterisk, "101r", 0);
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", "pass101"), 401, "round {round}: no 101r");
        for step in 0..9 {
            let (policy, password) =
                if step % 2 == 0 { (DUAL_ON, format!("final{round}")) } else { (DUAL_OFF, "pass101".into()) };
            asterisk.rewrite_pjsip(|base| base.replace("password = pass101", &format!("password = {password}")), policy);
            asterisk.cli(if step % 3 == 1 { "module reload res_pjsip_multireg.so" } else { "module reload res_pjsip.so" });
        }
        settles(&asterisk, "101r", 1);
        let new = format!("final{round}");
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", &new), 200, "round {round}: 101r has the last password");
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", "pass101"), 401, "round {round}: not an older one");
    }
}

#[test]
fn password_change_on_the_primary_reaches_the_secondary_on_res_pjsip_reload() {
    let asterisk = start(DUAL_ON);
    let mut password = "pass101".to_string();
    for round in 0..4 {
        let new = format!("changed{round}");
        let old = password.clone();
        asterisk.rewrite_pjsip(|base| base.replace("password = pass101", &format!("password = {new}")), DUAL_ON);
        asterisk.cli("module reload res_pjsip.so");
        let moved =
            wait_for(Duration::from_secs(5), || (register_status(&asterisk, "127.0.0.1", "101r", &new) == 200).then_some(()));
        assert!(moved.is_some(), "round {round}: 101r accepts the new password");
        std::thread::sleep(Duration::from_millis(700));
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", &new), 200, "round {round}: still the new password");
        assert_eq!(register_status(&asterisk, "127.0.0.1", "101r", &old), 401, "round {round}: old password refused");
        assert_eq!(endpoint_count(&asterisk, "101r"), 1);
        password = new;
    }
}

#[test]
fn an_unchanged_primary_does_not_recreate_the_secondary() {
    let asterisk = start(DUAL_ON);
    settles(&asterisk, "101r", 1);
    asterisk.cli("core set debug 1 res_pjsip_multireg.so");
    let before = asterisk.full_log().len();
    for _ in 0..3 {
        asterisk.cli("module reload res_pjsip.so");
    }
    asterisk.cli("module reload res_pjsip_multireg.so");
    // One comparison per res_pjsip reload (after all its object types loaded, not one per type)
    // plus the module's own reload (the log is written asynchronously by Asterisk's logger thread).
    let compared = wait_for(Duration::from_secs(10), || {
        (asterisk.full_log()[before..].matches("secondary objects of 101 unchanged").count() >= 4).then_some(())
    });
    std::thread::sleep(Duration::from_millis(500));
    let log = asterisk.full_log();
    let after = &log[before..];
    assert!(compared.is_some(), "each reload compared the objects: {after}");
    assert_eq!(after.matches("secondary objects of 101 unchanged").count(), 4, "exactly one sync per reload: {after}");
    assert!(!after.contains("secondary 101r: "), "nothing was put or deleted: {after}");
    assert_eq!(endpoint_count(&asterisk, "101r"), 1);
}

#[test]
fn a_hand_made_object_beside_the_derived_secondary_is_reported_and_keeps_its_registrations() {
    let asterisk = start(DUAL_ON);
    settles(&asterisk, "101r", 1);
    // The administrator adds their own 101r next to the derived one.
    let hand_made = "[101r](endpoint-common)\nauth = 101r\naors = 101r\ncallerid = \"Manual\" <999>\n\
                     [101r](aor-common)\n[101r](auth-common)\nusername = 101r\npassword = manualpw\n";
    asterisk.rewrite_pjsip_extra(&format!("{hand_made}\n{DUAL_ON}"));
    asterisk.cli("module reload res_pjsip.so");
    let reported = wait_for(Duration::from_secs(5), || {
        asterisk.messages_log().contains("'101r' is already configured as an endpoint").then_some(())
    });
    assert!(reported.is_some(), "collision reported: {}", asterisk.messages_log());
    assert!(asterisk.cli("pjsip show endpoint 101r").contains("\"Manual\" <999>"), "the hand-made object is in use");
    let mut manual = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "manualpw");
    assert_eq!(manual.register(), 200);

    // Turning dual registration off must not touch the hand-made object's registrations.
    asterisk.rewrite_pjsip_extra(&format!("{hand_made}\n{DUAL_OFF}"));
    asterisk.cli("module reload res_pjsip.so");
    std::thread::sleep(Duration::from_millis(1500));
    let contacts = asterisk.cli("pjsip show contacts");
    assert!(contacts.contains("101r/sip:101r@"), "the hand-made 101r keeps its device: {contacts}");
    assert_eq!(endpoint_count(&asterisk, "101r"), 1);
    assert!(asterisk.cli("pjsip show endpoint 101r").contains("\"Manual\" <999>"));
}

#[test]
fn the_secondary_refuses_addresses_the_primary_refuses() {
    // Inline rules (the kind Asterisk reads back only as the word "deny/permit") plus a named ACL.
    let asterisk = start(
        "[105](endpoint-common)\nauth = 105\naors = 105\ncallerid = \"Eve\" <105>\n\
         deny = 0.0.0.0/0.0.0.0\npermit = 127.0.0.1/255.255.255.255\npermit = 127.0.0.3/32\npermit = fe80::/10\ncontact_deny = 127.0.0.3\n\
         [105](aor-common)\n[105](auth-common)\nusername = 105\npassword = pass105\n\
         [105]\ntype = multireg\ndual_registration = yes\nmax_ip_phones = 3\n",
    );
    settles(&asterisk, "105r", 1);
    assert_eq!(register_status(&asterisk, "127.0.0.2", "105", "pass105"), 401, "the primary refuses 127.0.0.2");
    assert_eq!(register_status(&asterisk, "127.0.0.2", "105r", "pass105"), 401, "so does the secondary");
    assert_eq!(register_status(&asterisk, "127.0.0.1", "105r", "pass105"), 200, "permitted address accepted");
    assert_eq!(register_status(&asterisk, "127.0.0.3", "105", "pass105"), 401, "the primary's contact ACL refuses 127.0.0.3");
    assert_eq!(register_status(&asterisk, "127.0.0.3", "105r", "pass105"), 401, "contact ACL copied too");
    let shown = asterisk.cli("pjsip show endpoint 105r");
    assert!(shown.contains("\"Eve\" <105>"), "{shown}");
}

/// The derived objects live in the module's own sorcery store: every kind of lookup Asterisk
/// makes finds them (by id, by regular expression, all of a type, by fields), and they go with
/// the module.
#[test]
fn derived_objects_answer_every_kind_of_lookup() {
    let asterisk = start("[101]\ntype = multireg\ndual_registration = yes\n[102]\ntype = multireg\ndual_registration = yes\n");
    settles(&asterisk, "101r", 1);
    assert!(asterisk.cli("pjsip show endpoint 101r").contains("Endpoint:  101r/"), "by id");
    assert!(asterisk.cli("pjsip show auth 101r").contains("101r"), "auth by id");
    assert!(asterisk.cli("pjsip show aor 101r").contains("Aor:  101r"), "aor by id");
    let like = asterisk.cli("pjsip show endpoints like 10[12]r");
    assert!(like.contains("Endpoint:  101r/") && like.contains("Endpoint:  102r/"), "by regular expression: {like}");
    assert!(!like.contains("Endpoint:  101/"), "{like}");
    let all = asterisk.cli("pjsip show aors");
    assert!(all.contains("Aor:  101r") && all.contains("Aor:  102r") && all.contains("Aor:  103 "), "all AORs: {all}");
    let mut ami = asterisk.ami();
    let (_, endpoints) = ami.action_list("PJSIPShowEndpoints", &[]);
    assert!(endpoints.iter().any(|e| e.get("ObjectName").map(String::as_str) == Some("102r")), "AMI lists the secondary");
    // A device of the secondary registers (the registrar reads the AOR by id).
    assert_eq!(register_status(&asterisk, "127.0.0.1", "102r", "pass102"), 200);
    asterisk.cli("module unload res_pjsip_multireg.so");
    assert_eq!(endpoint_count(&asterisk, "101r"), 0, "the objects go with the module");
    asterisk.cli("module load res_pjsip_multireg.so");
    settles(&asterisk, "102r", 1);
}
