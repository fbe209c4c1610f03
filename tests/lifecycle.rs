//! The module's life cycle under load: 200 cycles of `module unload`/`load`, `module reload` and
//! `module reload res_pjsip.so` while devices register and calls are placed. No crash, no
//! deadlock, no stuck registration, and the state is rebuilt right after every load.
//!
//! Calls are paused for each unload: Asterisk's dialplan runs an application through a pointer it
//! holds without a reference and frees the application when its module unregisters it, so a call
//! routed into MultiregDial during `module unload` can crash Asterisk (true of every module with
//! applications). The module refuses to unload while calls use its applications; see
//! `unload_is_refused_while_calls_use_the_applications`.
mod common;

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{Asterisk, Config, Transport};

const CYCLES: usize = 200;

const POLICY: &str = "[101]
type = multireg
max_ip_phones = 3
dual_registration = yes
";

const DIALPLAN: &str = "[general]
static = yes

[internal]
exten => 101,1,MultiregDial(101,1)
 same => n,Hangup()
";

fn contact_count(asterisk: &Asterisk, aor: &str) -> usize {
    asterisk.cli("pjsip show contacts").lines().filter(|l| l.trim_start().starts_with(&format!("Contact:  {aor}/"))).count()
}

#[test]
fn two_hundred_cycles_of_unload_load_and_reloads_under_load() {
    let asterisk = Arc::new(Asterisk::start_with(Config {
        pjsip_extra: POLICY.into(),
        extensions: Some(DIALPLAN.into()),
        ..Config::default()
    }));
    let errors_before = asterisk.errors().len();
    let stop = Arc::new(AtomicBool::new(false));
    let calls_paused = Arc::new(AtomicBool::new(false));
    let (answered, calls) = (Arc::new(AtomicU32::new(0)), Arc::new(AtomicU32::new(0)));
    let mut workers = Vec::new();
    // Two phones of 101 refreshing, one device of 101r, all the time (bounded by count).
    for (n, user) in [(0, "101"), (1, "101"), (2, "101r")] {
        let (asterisk, stop, answered) = (asterisk.clone(), stop.clone(), answered.clone());
        workers.push(std::thread::spawn(move || {
            let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", user, "pass101");
            agent.user_agent = format!("CyclePhone {n}");
            for _ in 0..5000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if agent.register_with_expires(120).is_some() {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }));
    }
    // A caller placing short calls to 101 (rung through MultiregDial, which may be unloaded).
    {
        let (asterisk, stop, calls, paused) = (asterisk.clone(), stop.clone(), calls.clone(), calls_paused.clone());
        workers.push(std::thread::spawn(move || {
            let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
            for _ in 0..500 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                while paused.load(Ordering::Relaxed) && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let mut call = caller.call("101", Duration::from_secs(3));
                if call.final_status > 0 {
                    calls.fetch_add(1, Ordering::Relaxed);
                }
                if call.final_status == 200 {
                    caller.hangup(&mut call);
                }
            }
        }));
    }
    // The cycles run under catch_unwind so a failure stops the workers first: the instance is
    // then dropped by this thread while panicking, which prints its log and keeps its folder.
    let cycles = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let cli = |command: &str, cycle: usize| {
            asterisk.try_cli(command).unwrap_or_else(|| {
                let log = asterisk.messages_log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "cycle {cycle}: `{command}` failed; last log lines:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                )
            })
        };
        for cycle in 0..CYCLES {
            match cycle % 4 {
                0 => {
                    // No new call meanwhile. Asterisk refuses to unload a module while a channel
                    // runs one of its applications (a call in MultiregDial), and the module for a
                    // second after: try again until the call in progress ended and that passed.
                    calls_paused.store(true, Ordering::Relaxed);
                    let unloaded = (0..400).any(|_| {
                        let done =
                            asterisk.try_cli("module unload res_pjsip_multireg.so").is_some_and(|o| o.contains("Unloaded"));
                        if !done {
                            std::thread::sleep(Duration::from_millis(25));
                        }
                        done
                    });
                    assert!(unloaded, "cycle {cycle}: never unloaded; {}", asterisk.cli("core show channels"));
                    let out = cli("module load res_pjsip_multireg.so", cycle);
                    assert!(out.contains("Loaded"), "cycle {cycle}: {out}");
                    calls_paused.store(false, Ordering::Relaxed);
                }
                1 => {
                    assert!(cli("module reload res_pjsip_multireg.so", cycle).contains("reloaded successfully"), "cycle {cycle}")
                }
                2 => {
                    cli("module reload res_pjsip.so", cycle);
                }
                _ => {
                    // State rebuilt: the policy is in force and the secondary exists.
                    let table = asterisk.cli("multireg show extensions");
                    assert!(table.lines().any(|l| l.starts_with("101 ")), "cycle {cycle}: {table}");
                }
            }
            assert!(asterisk.cli("module show like multireg").contains("Running"), "cycle {cycle}");
        }
    }));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker");
    }
    if let Err(failure) = cycles {
        std::panic::resume_unwind(failure);
    }
    assert!(answered.load(Ordering::Relaxed) > 100, "REGISTERs kept being answered ({})", answered.load(Ordering::Relaxed));
    assert!(calls.load(Ordering::Relaxed) > 5, "calls kept being answered ({})", calls.load(Ordering::Relaxed));

    // No stuck registration: the limit still holds exactly and new devices still register.
    assert!(asterisk.cli("pjsip show endpoints").contains("101r/"), "the secondary is back");
    let mut third = asterisk.agent(Transport::Udp, "127.0.0.3", "101", "pass101");
    third.user_agent = "CyclePhone 3".into();
    assert_eq!(third.register(), 200, "a third phone fits max_ip_phones = 3");
    let mut fourth = asterisk.agent(Transport::Udp, "127.0.0.4", "101", "pass101");
    fourth.user_agent = "CyclePhone 4".into();
    assert_eq!(fourth.register(), 403, "a fourth does not");
    assert_eq!(contact_count(&asterisk, "101"), 3);
    let detail = asterisk.cli("multireg show extension 101");
    assert!(detail.contains("Devices: 4"), "3 phones of 101 and the device of 101r: {detail}");
    // Not the module's errors: res_pjsip's own reload looks up host names (no DNS in this
    // sandbox); and a call that MultiregDial was setting up while the module unloaded (unload waits
    // for it to return) cannot reach 101r, whose objects the unload has just removed.
    let errors: Vec<_> = asterisk
        .errors()
        .into_iter()
        .skip(errors_before)
        .filter(|line| !line.contains("getaddrinfo(") && !line.contains("Unable to lookup"))
        .filter(|line| !line.contains("Unable to create PJSIP channel - endpoint '101r' was not found"))
        .collect();
    assert!(errors.is_empty(), "errors logged: {errors:#?}");
}

#[test]
fn unload_is_refused_while_calls_use_the_applications() {
    // 104 has a policy and no device: MultiregDial returns at once and the call ends.
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[104]\ntype = multireg\n".into(),
        extensions: Some(
            "[general]\nstatic = yes\n\n[internal]\nexten => 104,1,MultiregDial(104,1)\n same => n,Hangup()\n".into(),
        ),
        ..Config::default()
    });
    let mut caller = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    let call = caller.call("104", Duration::from_secs(5));
    assert!(call.final_status >= 400, "the call ended: {}", call.final_status);
    let refused = asterisk.cli("module unload res_pjsip_multireg.so");
    assert!(!refused.contains("Unloaded"), "unload right after a call used MultiregDial: {refused}");
    // The logger writes on its own thread: give the line a moment to reach the file.
    let said_why = (0..100).any(|_| {
        let found = asterisk.messages_log().contains("unload refused: a call used MultiregDial");
        if !found {
            std::thread::sleep(Duration::from_millis(20));
        }
        found
    });
    assert!(said_why, "the refusal says why: {}", asterisk.messages_log());
    assert!(asterisk.cli("module show like multireg").contains("Running"), "the module stays in force");
    let mut again = asterisk.agent(Transport::Udp, "127.0.0.3", "104", "pass104");
    assert_eq!(again.register(), 200, "and keeps working");
    std::thread::sleep(Duration::from_millis(1200));
    let unloaded = asterisk.cli("module unload res_pjsip_multireg.so");
    assert!(unloaded.contains("Unloaded"), "a second without calls through the applications: {unloaded}");
    assert!(asterisk.cli("module load res_pjsip_multireg.so").contains("Loaded"));
}
