//! Per-client-type registration limits (issue 3), against a real Asterisk with real SIP.
mod common;

use std::time::Duration;

use common::{wait_for, Agent, Asterisk, Config, Transport};

const YEASTAR_POLICY: &str = "[101]
type = multireg
max_ip_phones = 3
max_web_clients = 3
max_desktop_clients = 3
max_mobile_clients = 2
";

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => 101,1,MultiregDial(101,20)
 same => n,Hangup()
exten => 105,1,Dial(${MULTIREG_DIAL(101)},20)
 same => n,Hangup()
";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Phone,
    Web,
    Desktop,
    Mobile,
}

fn device(asterisk: &Asterisk, kind: Kind, n: usize) -> Agent {
    let transport = if kind == Kind::Web { Transport::Ws } else { Transport::Udp };
    let mut agent = asterisk.agent(transport, "127.0.0.1", "101", "pass101");
    match kind {
        Kind::Phone => agent.user_agent = format!("Yealink SIP-T46U 108.86.0.{n}"),
        Kind::Web => agent.user_agent = "JsSIP 3.10.1".into(),
        Kind::Desktop => agent.user_agent = format!("MicroSIP/3.21.{n}"),
        Kind::Mobile => {
            agent.user_agent = "PushPhone 2.0".into();
            agent.contact_params = format!(";pn-provider=apns;pn-prid=token{n};pn-param=ABCD1234.com.example.voip");
        }
    }
    agent
}

fn start(policy: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: policy.into(), extensions: Some(DIALPLAN.into()), ..Config::default() })
}

fn contact_count(asterisk: &Asterisk, aor: &str) -> usize {
    asterisk.cli("pjsip show contacts").lines().filter(|l| l.trim_start().starts_with(&format!("Contact:  {aor}/"))).count()
}

fn register_all(asterisk: &Asterisk, kind: Kind, count: usize) -> Vec<Agent> {
    (0..count)
        .map(|n| {
            let mut agent = device(asterisk, kind, n);
            assert_eq!(agent.register(), 200, "{kind:?} #{n} should register");
            agent
        })
        .collect()
}

#[test]
fn yeastar_example_eleven_devices_limits_refresh_unregister_and_ringing() {
    let asterisk = start(YEASTAR_POLICY);
    let mut ami = asterisk.ami();
    let mut phones = register_all(&asterisk, Kind::Phone, 3);
    let webs = register_all(&asterisk, Kind::Web, 3);
    let desktops = register_all(&asterisk, Kind::Desktop, 3);
    let mobiles = register_all(&asterisk, Kind::Mobile, 2);
    assert_eq!(contact_count(&asterisk, "101"), 11);

    let table = asterisk.cli("multireg show extensions");
    let row = table.lines().find(|l| l.starts_with("101 ")).unwrap_or_else(|| panic!("{table}"));
    assert_eq!(row.split_whitespace().take(5).collect::<Vec<_>>(), ["101", "3/3", "3/3", "3/3", "2/2"], "{table}");

    // The next device of each type meets the limit.
    for (kind, label, limit) in [
        (Kind::Phone, "IP phone", 3),
        (Kind::Web, "web client", 3),
        (Kind::Desktop, "desktop client", 3),
        (Kind::Mobile, "mobile client", 2),
    ] {
        let mut extra = device(&asterisk, kind, 9);
        let response = extra.register_with_expires(3600).expect("an answer");
        assert_eq!(response.status(), 403, "{kind:?}");
        assert!(response.reason().contains(&format!("{label} limit {limit} reached")), "{kind:?}: {}", response.reason());
        let event = ami.wait_event("MultiregRegistrationRejected", Duration::from_secs(3), |e| {
            e.get("ClientType").map(String::as_str) == Some(kind_name(kind))
        });
        assert!(event.is_some(), "AMI event for refused {kind:?}");
    }
    assert_eq!(contact_count(&asterisk, "101"), 11, "refused devices are not stored");
    assert!(
        asterisk.messages_log_with("SecurityEvent=\"FailedACL\"").contains("SecurityEvent=\"FailedACL\""),
        "security event for refusals"
    );

    // Refreshes of registered devices are not counted again.
    for agent in phones.iter_mut() {
        assert_eq!(agent.register(), 200, "refresh");
    }
    assert_eq!(contact_count(&asterisk, "101"), 11);

    // An unregister frees a slot for a new phone.
    assert_eq!(phones[0].unregister(), 200);
    assert_eq!(contact_count(&asterisk, "101"), 10);
    let mut newcomer = device(&asterisk, Kind::Phone, 7);
    assert_eq!(newcomer.register(), 200, "freed slot");

    // A call to 101 rings all 11 devices; the first to answer takes it, the others stop ringing.
    let mut all: Vec<&Agent> = phones[1..].iter().collect();
    all.push(&newcomer);
    all.extend(webs.iter());
    all.extend(desktops.iter());
    all.extend(mobiles.iter());
    assert_eq!(all.len(), 11);
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(caller.register(), 200);
    let handle = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(15));
        (caller, call)
    });
    let invites: Vec<_> = all.iter().map(|agent| agent.wait_invite(Duration::from_secs(8))).collect();
    let rung = invites.iter().filter(|i| i.is_some()).count();
    assert_eq!(rung, 11, "every registered device rings");
    let answering = invites[4].as_ref().unwrap();
    let _media = all[4].answer(answering);
    let (caller, mut call) = handle.join().unwrap();
    assert_eq!(call.final_status, 200, "the caller is connected");
    for (index, agent) in all.iter().enumerate() {
        if index != 4 {
            assert!(agent.wait_request("CANCEL", Duration::from_secs(5)).is_some(), "device {index} stops ringing");
        }
    }
    caller.hangup(&mut call);
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Phone => "ip_phone",
        Kind::Web => "web",
        Kind::Desktop => "desktop",
        Kind::Mobile => "mobile",
    }
}

#[test]
fn replace_oldest_removes_the_longest_registered_device_of_that_type() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 2\nat_limit = replace_oldest\n");
    let mut ami = asterisk.ami();
    let mut first = device(&asterisk, Kind::Phone, 1);
    assert_eq!(first.register(), 200);
    std::thread::sleep(Duration::from_millis(1100));
    let mut second = device(&asterisk, Kind::Phone, 2);
    assert_eq!(second.register(), 200);
    let mut third = device(&asterisk, Kind::Phone, 3);
    assert_eq!(third.register(), 200, "replace_oldest admits the newcomer");
    let contacts = asterisk.cli("pjsip show contacts");
    assert_eq!(contact_count(&asterisk, "101"), 2, "{contacts}");
    assert!(!contacts.contains(&format!(":{}", first.local.port())), "the oldest phone was removed: {contacts}");
    assert!(
        contacts.contains(&format!(":{}", second.local.port())) && contacts.contains(&format!(":{}", third.local.port())),
        "{contacts}"
    );
    let event = ami.wait_event("MultiregDeviceReplaced", Duration::from_secs(3), |e| {
        e.get("ClientType").map(String::as_str) == Some("ip_phone")
    });
    assert!(event.is_some());
    // The replaced device's own refresh is a new registration now, and replaces the next oldest.
    assert_eq!(first.register(), 200);
    assert_eq!(contact_count(&asterisk, "101"), 2);
    drop((second, third));
}

#[test]
fn endpoint_without_policy_keeps_stock_behaviour() {
    let asterisk = start(YEASTAR_POLICY);
    let agents: Vec<Agent> = (0..6)
        .map(|n| {
            let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", "102", "pass102");
            agent.user_agent = format!("Yealink {n}");
            assert_eq!(agent.register(), 200);
            agent
        })
        .collect();
    assert_eq!(contact_count(&asterisk, "102"), agents.len());
}

#[test]
fn reload_applies_new_limits_and_keeps_last_good_settings_on_errors() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 1\n");
    let mut one = device(&asterisk, Kind::Phone, 1);
    assert_eq!(one.register(), 200);
    let mut two = device(&asterisk, Kind::Phone, 2);
    assert_eq!(two.register(), 403);

    // Save and Apply through the module's own reload.
    asterisk.rewrite_pjsip_extra("[101]\ntype = multireg\nmax_ip_phones = 2\n");
    assert!(asterisk.cli("module reload res_pjsip_multireg.so").contains("reloaded successfully"));
    assert_eq!(two.register(), 200, "raised limit applies after reload");

    // Lowering below the registered count: registered devices stay and refresh, new ones are refused.
    asterisk.rewrite_pjsip_extra("[101]\ntype = multireg\nmax_ip_phones = 1\n");
    asterisk.cli("module reload res_pjsip.so");
    let applied = wait_for(Duration::from_secs(5), || (ip_phone_usage(&asterisk) == "2 of 1").then_some(()));
    assert!(applied.is_some(), "{}", asterisk.cli("multireg show extension 101"));
    assert_eq!(one.register(), 200, "existing device refreshes after the limit was lowered");
    assert_eq!(two.register(), 200, "existing device refreshes after the limit was lowered");
    let mut three = device(&asterisk, Kind::Phone, 3);
    assert_eq!(three.register(), 403, "new device refused while over the limit");

    // A bad value is reported with section, option and reason; the last good settings stay.
    asterisk.rewrite_pjsip_extra("[101]\ntype = multireg\nmax_ip_phones = 9\nmax_web_clients = 4\n");
    asterisk.cli("module reload res_pjsip_multireg.so");
    let log = asterisk.messages_log_with("option 'max_web_clients'");
    assert!(log.contains("section [101], option 'max_ip_phones'") && log.contains("out of range 0-5"), "{log}");
    assert!(log.contains("option 'max_web_clients'"), "{log}");
    assert_eq!(ip_phone_usage(&asterisk), "2 of 1", "last good limit (1) still in force");
    assert_eq!(three.register(), 403);
}

/// "2 of 3" from `multireg show extension 101`.
fn ip_phone_usage(asterisk: &Asterisk) -> String {
    let detail = asterisk.cli("multireg show extension 101");
    detail
        .lines()
        .find_map(|l| l.trim().strip_prefix("IP phones:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{detail}"))
}

#[test]
fn bad_section_is_ignored_with_a_clear_error_at_start() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = lots\n\n[102]\ntype = multireg\nmax_ip_phones = 1\n");
    let log = asterisk.messages_log();
    assert!(log.contains("ERROR") && log.contains("section [101], option 'max_ip_phones'"), "{log}");
    let table = asterisk.cli("multireg show extensions");
    assert!(table.contains("102 ") && !table.lines().any(|l| l.starts_with("101 ")), "{table}");
    assert!(asterisk.cli("module show like multireg").contains("Running"));
}

#[test]
fn aor_max_contacts_below_the_limits_is_reported_at_load() {
    let asterisk = start(
        "[105](endpoint-common)\nauth = 105\naors = 105\n[105](aor-common)\nmax_contacts = 2\n[105](auth-common)\nusername = 105\npassword = pass105\n\
         [105]\ntype = multireg\nmax_ip_phones = 3\nmax_web_clients = 1\n",
    );
    let log = asterisk.messages_log();
    assert!(log.contains("AOR '105' has max_contacts=2 but multireg [105] allows"), "{log}");
}

#[test]
fn a_device_the_registrar_refuses_does_not_keep_a_slot() {
    // The AOR refuses every contact (max_contacts = 0): the registrar's own refusal must not leave
    // a reserved slot that makes the next device meet the multireg limit instead.
    let asterisk = start(
        "[105](endpoint-common)\nauth = 105\naors = 105\n[105](aor-common)\nmax_contacts = 0\n[105](auth-common)\nusername = 105\npassword = pass105\n\
         [105]\ntype = multireg\nmax_ip_phones = 1\n",
    );
    for n in 0..2 {
        let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "105", "pass105");
        phone.user_agent = format!("Yealink {n}");
        let response = phone.register_with_expires(3600).expect("an answer");
        assert_ne!(response.status(), 200, "the AOR refuses contacts");
        assert!(
            !response.reason().contains("limit 1 reached"),
            "device {n} met a slot held by a refused device: {}",
            response.reason()
        );
    }
}

#[test]
fn simultaneous_registers_never_exceed_the_limit() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 2\n");
    let asterisk = std::sync::Arc::new(asterisk);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(12));
    let threads: Vec<_> = (0..12)
        .map(|n| {
            let (asterisk, barrier) = (asterisk.clone(), barrier.clone());
            std::thread::spawn(move || {
                let mut agent = device(&asterisk, Kind::Phone, n);
                barrier.wait();
                let status = agent.register();
                (status, agent)
            })
        })
        .collect();
    let results: Vec<(u16, Agent)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let admitted = results.iter().filter(|(status, _)| *status == 200).count();
    let refused = results.iter().filter(|(status, _)| *status == 403).count();
    assert_eq!(admitted, 2, "exactly the limit is admitted");
    assert_eq!(refused, 10);
    assert_eq!(contact_count(&asterisk, "101"), 2);
}

#[test]
fn hostile_contact_cannot_inject_into_the_dial_string() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 3\n");
    let mut honest = device(&asterisk, Kind::Phone, 1);
    assert_eq!(honest.register(), 200);
    let mut hostile = device(&asterisk, Kind::Phone, 2);
    // Legal SIP (user part may hold , & ( ) and params & $), hostile to a Dial string.
    hostile.contact_uri_override =
        Some(format!("sip:101,5,G(evil)&Local/666@127.0.0.1:{};x=1&Local/667;y=$a", hostile.local.port()));
    assert_eq!(hostile.register(), 200);
    let mut ami = asterisk.ami();
    let response = ami.action("Getvar", &[("Variable", "MULTIREG_DIAL(101)")]);
    let dial = response.get("Value").cloned().unwrap_or_default();
    assert!(!dial.is_empty(), "{response:?}");
    for target in dial.split('&') {
        assert!(target.starts_with("PJSIP/101/sip:"), "every target is one of 101's contacts: {dial}");
    }
    assert_eq!(dial.split('&').count(), 2, "one target per registered device: {dial}");
    assert!(!dial.contains("${") && !dial.contains(',') && !dial.contains('('), "{dial}");
    // Both devices still ring through MultiregDial.
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(caller.register(), 200);
    let handle = std::thread::spawn(move || {
        let call = caller.call("101", Duration::from_secs(6));
        (caller, call)
    });
    assert!(honest.wait_invite(Duration::from_secs(5)).is_some());
    assert!(hostile.wait_invite(Duration::from_secs(5)).is_some());
    let _ = handle.join();
}

#[test]
fn cli_and_ami_show_each_device_and_why_it_was_classified() {
    let asterisk = start(YEASTAR_POLICY);
    let mut phone = device(&asterisk, Kind::Phone, 1);
    let mut web = device(&asterisk, Kind::Web, 1);
    let mut mobile = device(&asterisk, Kind::Mobile, 1);
    assert_eq!(phone.register(), 200);
    assert_eq!(web.register(), 200);
    assert_eq!(mobile.register(), 200);
    let detail = asterisk.cli("multireg show extension 101");
    assert!(detail.contains("User-Agent: Yealink SIP-T46U 108.86.0.1"), "{detail}");
    assert!(detail.contains("web client on 101") && detail.to_ascii_lowercase().contains("transport ws"), "{detail}");
    assert!(detail.contains("mobile client on 101") && detail.contains("pn-"), "{detail}");
    assert!(detail.contains("127.0.0.1:"), "source address shown: {detail}");
    let mut ami = asterisk.ami();
    let (response, events) = ami.action_list("MultiregShowExtension", &[("Extension", "101")]);
    assert_eq!(response.get("Response").map(String::as_str), Some("Success"));
    let types: Vec<_> = events.iter().filter_map(|e| e.get("ClientType").cloned()).collect();
    assert_eq!(types.len(), 3, "{events:?}");
    assert!(
        types.contains(&"web".to_string()) && types.contains(&"mobile".to_string()) && types.contains(&"ip_phone".to_string())
    );
    let completion = asterisk.cli("_command matchesarray \"multireg show extension 1\" \"1\"");
    assert!(completion.split_whitespace().any(|w| w == "101"), "tab completion offers 101: {completion}");
    let modes = asterisk.cli("_command matchesarray \"multireg set ringmode 101 \" \"\"");
    assert!(["home", "remote", "both"].iter().all(|m| modes.split_whitespace().any(|w| w == *m)), "{modes}");
    let (_, list) = ami.action_list("MultiregShowExtensions", &[]);
    let row = list.iter().find(|e| e.get("Extension").map(String::as_str) == Some("101")).expect("101 listed");
    assert_eq!(row.get("WebClients").map(String::as_str), Some("1"));
    assert_eq!(row.get("WebClientLimit").map(String::as_str), Some("3"));
}

#[test]
fn documentation_is_installed_for_dialplan_items() {
    let asterisk = start(YEASTAR_POLICY);
    let function = asterisk.cli("core show function MULTIREG_DIAL");
    assert!(function.contains("Returns the dial string that rings every registered device"), "{function}");
    assert!(function.contains("MULTIREG_DIAL(extension)"), "{function}");
    let application = asterisk.cli("core show application MultiregDial");
    assert!(application.contains("MultiregDial(extension[,timeout[,options]])"), "{application}");
    assert!(application.contains("voicemail"), "{application}");
    // As for Asterisk's own modules: the module attribute and <since> of the XML.
    let after = |text: &str, heading: &str| {
        let mut lines = text.lines().map(str::trim);
        lines.by_ref().find(|line| line.contains(heading));
        // Without the terminal colours Asterisk puts around the text.
        let plain = |line: &str| {
            let mut parts = line.split('\u{1b}');
            let first = parts.next().unwrap_or("").to_string();
            first + &parts.map(|part| part.split_once('m').map_or(part, |(_, rest)| rest)).collect::<String>()
        };
        lines.next().map(plain)
    };
    assert_eq!(after(&application, "[Provided By]").as_deref(), Some("res_pjsip_multireg"), "{application}");
    assert_eq!(after(&application, "[Since]").as_deref(), Some("0.1.0"), "{application}");
    let function = asterisk.cli("core show function RING_MODE");
    assert_eq!(after(&function, "[Since]").as_deref(), Some("0.1.0"), "{function}");
    // The AMI actions' ActionID parameter is written out (an XInclude of it made libxml2 2.9 drop
    // the whole file).
    let action = asterisk.cli("manager show command MultiregShowExtension");
    assert!(action.contains("ActionID for this transaction") && action.contains("Extension"), "{action}");
}

fn stat(asterisk: &Asterisk, name: &str) -> u64 {
    let text = asterisk.cli("multireg show stats");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in: {text}"))
}

/// After the module loads, a background pass reads each policy AOR's device book once, so the
/// first REGISTER of an AOR with stored contacts decides without reading the store, and the
/// limits still count the devices registered before the load.
#[test]
fn books_read_ahead_after_load_spare_the_first_register_its_store_read() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 2\n");
    let mut phones = register_all(&asterisk, Kind::Phone, 2);
    asterisk.cli("module unload res_pjsip_multireg.so");
    asterisk.cli("module load res_pjsip_multireg.so");
    let warmed = wait_for(Duration::from_secs(10), || (stat(&asterisk, "books_read_ahead") >= 1).then_some(()));
    assert!(warmed.is_some(), "no book read ahead: {}", asterisk.cli("multireg show stats"));

    assert_eq!(phones[0].register(), 200, "a refresh of a device registered before the load");
    assert_eq!(stat(&asterisk, "register_decisions"), 1);
    assert_eq!(stat(&asterisk, "register_answers"), 1, "the registrar's 200 went to the book (its 401 did not count)");
    assert_eq!(stat(&asterisk, "register_store_reads"), 0, "the book was known: {}", asterisk.cli("multireg show stats"));

    let mut third = device(&asterisk, Kind::Phone, 9);
    assert_eq!(third.register(), 403, "the two devices from before the load still count");
    assert_eq!(contact_count(&asterisk, "101"), 2);
    assert_eq!(stat(&asterisk, "register_answers"), 1, "a refusal is the module's own answer, not the registrar's");
    phones.push(third);
    // What the books hold is shown too: the AOR's book with its two devices.
    assert_eq!((stat(&asterisk, "books"), stat(&asterisk, "book_devices")), (1, 2), "{}", asterisk.cli("multireg show stats"));
    assert!(stat(&asterisk, "book_bytes") > 2 * 200, "{}", asterisk.cli("multireg show stats"));
}

/// The read-ahead pass runs on a serializer of res_pjsip's thread pool in short tasks (16
/// policies each, so that SIP work queued behind that worker waits for one task, not for the
/// whole pass), each task queueing the next: every policy AOR is read, across the tasks.
#[test]
fn books_are_read_ahead_for_every_policy_across_short_tasks() {
    let extensions: Vec<u32> = (3000..3040).collect();
    let policies: String = extensions
        .iter()
        .map(|ext| {
            format!(
                "[{ext}]\ntype = endpoint\naors = {ext}\ncontext = default\nallow = ulaw\n\n\
                 [{ext}]\ntype = aor\nmax_contacts = 5\n\n[{ext}]\ntype = multireg\nmax_ip_phones = 2\n\n"
            )
        })
        .collect();
    let asterisk = start(&policies);
    let read = wait_for(Duration::from_secs(10), || {
        let read = stat(&asterisk, "books_read_ahead");
        (read >= extensions.len() as u64).then_some(read)
    });
    assert_eq!(read, Some(extensions.len() as u64), "{}", asterisk.cli("multireg show stats"));
    assert_eq!(stat(&asterisk, "books"), extensions.len() as u64, "one book per policy AOR");
    assert_eq!(stat(&asterisk, "register_store_reads"), 0, "the pass reads outside the SIP path");
}

/// A device that unregisters leaves the book known: the registrar deletes its contact before
/// its answer, and the module takes that removal as the unregister's own. The next device is
/// admitted, and refused at the limit, without reading the store until the limit is reached.
#[test]
fn a_device_unregistering_leaves_its_slot_free_without_a_store_read() {
    let asterisk = start("[101]\ntype = multireg\nmax_ip_phones = 2\n");
    let mut phones = register_all(&asterisk, Kind::Phone, 2);
    let reads = stat(&asterisk, "register_store_reads");
    assert_eq!(phones[0].unregister(), 200);
    assert_eq!(contact_count(&asterisk, "101"), 1);
    let mut third = device(&asterisk, Kind::Phone, 9);
    assert_eq!(third.register(), 200, "the unregistered phone's slot is free");
    assert_eq!(
        stat(&asterisk, "register_store_reads"),
        reads,
        "the book stayed known through the unregister: {}",
        asterisk.cli("multireg show stats")
    );
    let mut fourth = device(&asterisk, Kind::Phone, 10);
    assert_eq!(fourth.register(), 403, "the limit holds: {}", asterisk.cli("pjsip show contacts"));
    assert_eq!(contact_count(&asterisk, "101"), 2);
    phones.extend([third, fourth]);
}
