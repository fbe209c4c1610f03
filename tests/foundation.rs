//! The module loads into a real Asterisk 22, sees REGISTERs from real SIP clients, and survives
//! repeated unload/load.
mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{wait_for, Asterisk, Transport};

#[test]
fn module_is_listed_as_running() {
    let asterisk = Asterisk::start();
    let output = asterisk.cli("module show like multireg");
    assert!(output.contains("res_pjsip_multireg.so"), "{output}");
    assert!(output.contains("Running"), "{output}");
    assert!(output.contains("1 modules loaded"), "{output}");
}

#[test]
fn register_over_udp_tcp_and_websocket_reaches_the_hook_and_the_registrar() {
    let asterisk = Asterisk::start();
    asterisk.cli("core set debug 1 res_pjsip_multireg.so");
    // Agents stay connected: Asterisk drops a TCP/WS device's contact when its connection closes.
    let mut agents = Vec::new();
    for (transport, user, password) in
        [(Transport::Udp, "101", "pass101"), (Transport::Tcp, "102", "pass102"), (Transport::Ws, "103", "pass103")]
    {
        let mut agent = asterisk.agent(transport, "127.0.0.1", user, password);
        agent.user_agent = format!("HookProbe-{user}");
        assert_eq!(agent.register(), 200, "{transport:?} REGISTER for {user}");
        let contacts = asterisk.cli("pjsip show contacts");
        assert!(contacts.contains(&format!("{user}/sip:{user}@")), "{transport:?}: {contacts}");
        let expected = format!("endpoint={user} aor={user} user_agent=\"HookProbe-{user}\" transport={}", transport.via_name());
        let seen = wait_for(Duration::from_secs(3), || asterisk.full_log().contains(&expected).then_some(()));
        assert!(seen.is_some(), "hook did not log '{expected}':\n{}", asterisk.full_log());
        if transport == Transport::Ws {
            assert!(contacts.to_ascii_lowercase().contains("transport=ws"), "{contacts}");
        }
        agents.push(agent);
    }
}

#[test]
fn wrong_password_never_reaches_the_hook() {
    let asterisk = Asterisk::start();
    asterisk.cli("core set debug 1 res_pjsip_multireg.so");
    let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "wrong");
    assert_eq!(agent.register(), 401);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!asterisk.full_log().contains("REGISTER endpoint=101"), "unauthenticated REGISTER reached the hook");
}

#[test]
fn baresip_registers_through_the_hook() {
    let asterisk = Asterisk::start();
    asterisk.cli("core set debug 1 res_pjsip_multireg.so");
    let home = tempfile::tempdir().unwrap();
    std::fs::write(
        home.path().join("config"),
        "poll_method epoll\nsip_listen 127.0.0.3:0\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_app account.so\n",
    )
    .unwrap();
    std::fs::write(
        home.path().join("accounts"),
        format!("<sip:104@{};transport=udp>;auth_pass=pass104;regint=600\n", asterisk.ip),
    )
    .unwrap();
    let mut baresip = Command::new("baresip")
        .args(["-f", home.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("baresip (Debian package baresip-core) is installed by `make deps`");
    let registered = wait_for(Duration::from_secs(10), || {
        let contacts = asterisk.cli("pjsip show contacts");
        contacts.contains("104/sip:104").then_some(contacts)
    });
    // Asterisk's logger thread writes full.log asynchronously: wait for the hook's line.
    let logged = wait_for(Duration::from_secs(5), || {
        let log = asterisk.full_log();
        (log.contains("REGISTER endpoint=104") && log.contains("user_agent=\"baresip")).then_some(())
    });
    let _ = baresip.kill();
    let _ = baresip.wait();
    let contacts = registered.expect("baresip's contact in pjsip show contacts");
    assert!(contacts.contains("127.0.0.3"), "{contacts}");
    assert!(logged.is_some(), "{}", asterisk.full_log());
}

#[test]
fn hundred_unload_load_cycles_leave_asterisk_answering_without_errors() {
    let asterisk = Asterisk::start_with(common::Config {
        pjsip_extra: "[101]\ntype = multireg\ndual_registration = yes\nmax_ip_phones = 2\n".into(),
        ..Default::default()
    });
    // Use every entry point first (SIP, CLI, AMI, dialplan function, manager hook), so code that
    // leaves per-thread state behind in Asterisk's threads would show up as a module that cannot
    // be unloaded.
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
    let mut wrong = asterisk.agent(Transport::Udp, "127.0.0.2", "101r", "bad");
    assert_eq!(wrong.register(), 401);
    assert!(asterisk.cli("multireg show extension 101").contains("Devices: 1"));
    let mut ami = asterisk.ami();
    assert!(ami
        .action("Getvar", &[("Variable", "MULTIREG_DIAL(101)")])
        .get("Value")
        .is_some_and(|v| v.starts_with("PJSIP/101/")));
    ami.action_list("MultiregShowExtensions", &[]);
    drop(phone);
    let errors_before = asterisk.errors().len();
    for cycle in 0..100 {
        let unloaded = asterisk.cli("module unload res_pjsip_multireg.so");
        assert!(unloaded.contains("Unloaded"), "cycle {cycle}: {unloaded}");
        let loaded = asterisk.cli("module load res_pjsip_multireg.so");
        assert!(loaded.contains("Loaded"), "cycle {cycle}: {loaded}");
    }
    let reloaded = asterisk.cli("module reload res_pjsip_multireg.so");
    assert!(reloaded.contains("reloaded successfully"), "{reloaded}");
    assert!(asterisk.cli("module show like multireg").contains("Running"));
    assert!(asterisk.cli("core show uptime").contains("System uptime"));
    let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(agent.register(), 200, "registrations still work after the cycles");
    let errors: Vec<_> = asterisk.errors().into_iter().skip(errors_before).collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
    assert!(!asterisk.messages_log().contains("could not be completely unloaded"), "the module stays mapped after unload");
    // The secondary endpoint is back after the cycles.
    assert!(asterisk.cli("pjsip show endpoints").contains("101r/"));
}

#[test]
fn unload_and_load_while_devices_register_is_safe() {
    let asterisk = std::sync::Arc::new(Asterisk::start_with(common::Config {
        pjsip_extra: "[101]\ntype = multireg\nmax_ip_phones = 5\ndual_registration = yes\n".into(),
        ..Default::default()
    }));
    let errors_before = asterisk.errors().len();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|n| {
            let (asterisk, stop) = (asterisk.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
                agent.user_agent = format!("LoadPhone {n}");
                let mut answered = 0;
                // Bounded: stops when told, or after 2000 refreshes.
                for _ in 0..2000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    if agent.register() != 0 {
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    for cycle in 0..20 {
        assert!(asterisk.cli("module unload res_pjsip_multireg.so").contains("Unloaded"), "cycle {cycle}");
        std::thread::sleep(Duration::from_millis(20));
        assert!(asterisk.cli("module load res_pjsip_multireg.so").contains("Loaded"), "cycle {cycle}");
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answered: u32 = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert!(answered > 20, "REGISTERs kept being answered during the cycles ({answered})");
    assert!(asterisk.cli("module show like multireg").contains("Running"));
    let mut after = asterisk.agent(Transport::Udp, "127.0.0.1", "101r", "pass101");
    assert_eq!(after.register(), 200, "secondary is back and registers");
    let errors: Vec<_> = asterisk.errors().into_iter().skip(errors_before).collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}
