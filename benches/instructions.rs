//! `make bench-instructions`: what a registration costs Asterisk, counted in instructions.
//!
//! Wall-clock throughput on a shared 2-core VM moves by ±20-30 % between rounds, more than the
//! difference this benchmark is after (a few per cent). Instructions executed do not depend on what
//! else the machine is doing: the same binary, configuration and requests give the same count.
//! So both instances (stock with hand-written secondaries, and the module: the same configuration
//! as `make bench-scale`) run under callgrind, the same devices register and refresh, and the
//! instructions Asterisk executed for them (all threads, counters zeroed just before and dumped
//! just after each workload) are divided by the registrations. The ratio module / stock of those
//! counts is the module's CPU cost per registration; throughput on a CPU-bound machine is its
//! inverse. The module's own share is the inclusive cost of its entry points (every PJSIP hook,
//! the security-event observer, the contact observer), read with callgrind_annotate.
//!
//! Callgrind runs one thread at a time and ~50× slower, so this measures cost, not concurrency
//! (lock contention and waiting show in `make bench-scale`, not here).
//!
//! Environment: BENCH_IR_EXTENSIONS (200), BENCH_DEVICES (5), BENCH_IR_WINDOW (4 registrations in
//! flight: small, so no request is retransmitted under callgrind's slowness), BENCH_TIMEOUT (900 s),
//! BENCH_IR_CACHE_SIM (unset; 1 adds callgrind's cache simulation and prints the simulated
//! first-level instruction and data misses per registration beside the instructions).
mod bench_support;

use std::net::SocketAddrV4;
use std::process::Command;
use std::time::{Duration, Instant};

use bench_support::config::{self, Flavor};
use bench_support::env_count;
use bench_support::instance::Instance;
use bench_support::loadgen::{Action, LoadGen, Outcome};

/// The module's entry points: every way Asterisk calls into it on the REGISTER path.
const ENTRY_POINTS: &[&str] = &[
    "multireg_on_rx_early",
    "multireg_on_rx_request",
    "multireg_on_tx_response",
    "shim_guard_on_tx_response",
    "security_event_seen",
    "contact_deleted",
    "device_state_seen",
    "busy_lamp_state",
];

fn log(message: impl AsRef<str>) {
    eprintln!("[bench-instructions] {}", message.as_ref());
}

struct Measured {
    registrations: usize,
    retransmissions: usize,
    /// Instructions of the whole process while the workload ran.
    total: u64,
    /// Inclusive instructions of each module entry point found in the profile.
    entries: Vec<(String, u64)>,
    /// With the cache simulation: (event name, whole process, module's entry points together),
    /// e.g. ("I1mr", ...), in callgrind's order.
    events: Vec<(String, u64, u64)>,
}

impl Measured {
    fn per_registration(&self) -> f64 {
        self.total as f64 / self.registrations.max(1) as f64
    }

    fn module_per_registration(&self) -> f64 {
        self.entries.iter().map(|(_, ir)| *ir).sum::<u64>() as f64 / self.registrations.max(1) as f64
    }
}

/// A callgrind_annotate line without its "( 1.27%)" shares, so only the counts remain before the
/// function's name.
fn without_percentages(line: &str) -> String {
    let mut kept = String::with_capacity(line.len());
    let mut depth = 0usize;
    for c in line.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => kept.push(c),
            _ => {}
        }
    }
    kept
}

/// Runs a tool of the runtime root (valgrind's) inside it.
fn in_root(instance: &Instance, args: &[&str]) -> String {
    let output = Command::new("chroot").arg(instance.root()).args(args).output().expect("run chroot");
    assert!(output.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The profile files callgrind wrote so far for this instance.
fn dumps(instance: &Instance) -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(instance.dir().join("log"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("callgrind.out."))
        .collect();
    found.sort();
    found
}

/// Zeroes the counters, runs `work`, dumps; returns the workload's outcome and its counts.
fn counted(instance: &Instance, workload: &str, work: impl FnOnce() -> Outcome) -> Measured {
    let pid = instance.pid().to_string();
    in_root(instance, &["callgrind_control", "--zero", &pid]);
    let before = dumps(instance);
    let outcome = work();
    in_root(instance, &["callgrind_control", "--dump", &pid]);
    let deadline = Instant::now() + Duration::from_secs(120);
    let dump = loop {
        if let Some(new) = dumps(instance).into_iter().find(|d| !before.contains(d)) {
            break new;
        }
        assert!(Instant::now() < deadline, "{}: callgrind wrote no dump", instance.label);
        std::thread::sleep(Duration::from_millis(200));
    };
    // The dump is complete once its totals line is written.
    let path = instance.dir().join("log").join(&dump);
    let (names, totals) = loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let numbers = |t: &str| t.split_whitespace().map(|n| n.parse::<u64>().ok()).collect::<Option<Vec<u64>>>();
        let totals = text.lines().find_map(|l| l.strip_prefix("totals: ")).and_then(numbers).filter(|t| !t.is_empty());
        let names =
            text.lines().find_map(|l| l.strip_prefix("events: ")).map(|e| e.split_whitespace().map(String::from).collect());
        if let (Some(names), Some(totals)) = (names, totals) {
            break (names, totals) as (Vec<String>, Vec<u64>);
        }
        assert!(Instant::now() < deadline, "{}: callgrind's dump has no totals", instance.label);
        std::thread::sleep(Duration::from_millis(200));
    };
    // Kept for reading with callgrind_annotate after the instance is gone.
    let kept = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/callgrind");
    let _ = std::fs::create_dir_all(&kept);
    let _ = std::fs::copy(&path, kept.join(format!("{}-{workload}.out", instance.label)));
    let inside = format!("{}/log/{dump}", instance.inside());
    let annotated = in_root(instance, &["callgrind_annotate", "--inclusive=yes", "--threshold=100", &inside]);
    // Each line: one count per event (callgrind's order), then "file:function".
    let entry_counts: Vec<(String, Vec<u64>)> = ENTRY_POINTS
        .iter()
        .filter_map(|name| {
            let line = annotated.lines().find(|l| l.contains(&format!(":{name} ")) || l.ends_with(&format!(":{name}")))?;
            let counts: Vec<u64> = without_percentages(line)
                .split_whitespace()
                .take(names.len())
                // callgrind_annotate writes a zero count as ".".
                .map_while(|n| if n == "." { Some(0) } else { n.replace(',', "").parse::<u64>().ok() })
                .collect();
            (counts.len() == names.len()).then(|| (name.to_string(), counts))
        })
        .collect();
    let entries = entry_counts.iter().map(|(name, counts)| (name.clone(), counts[0])).collect();
    let events = names
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, event)| (event.clone(), totals[i], entry_counts.iter().map(|(_, counts)| counts[i]).sum()))
        .collect();
    assert_eq!(outcome.failed, 0, "{}: {} registrations failed: {:?}", instance.label, outcome.failed, outcome.failures);
    Measured { registrations: outcome.completed, retransmissions: outcome.retransmissions, total: totals[0], entries, events }
}

/// valgrind reads /proc/self/maps: the runtime root gets /proc for the run (unmounted after).
struct ProcMount(Option<std::path::PathBuf>);

impl ProcMount {
    fn ensure(root: &std::path::Path) -> ProcMount {
        let proc = root.join("proc");
        if proc.join("self/maps").exists() {
            return ProcMount(None);
        }
        let status = Command::new("mount").args(["-t", "proc", "proc"]).arg(&proc).status().expect("run mount");
        assert!(status.success(), "could not mount /proc in {}", root.display());
        ProcMount(Some(proc))
    }
}

impl Drop for ProcMount {
    fn drop(&mut self) {
        if let Some(proc) = &self.0 {
            let _ = Command::new("umount").arg(proc).status();
        }
    }
}

fn main() {
    let extensions = env_count("BENCH_IR_EXTENSIONS", 200).max(1);
    let devices = env_count("BENCH_DEVICES", 5);
    let window = env_count("BENCH_IR_WINDOW", 4).max(1);
    let timeout = Duration::from_secs(env_count("BENCH_TIMEOUT", 900) as u64);
    let cache_sim = env_count("BENCH_IR_CACHE_SIM", 0) > 0;
    let contacts = extensions * devices;
    log(format!("{contacts} contacts = {extensions} extensions x {devices} devices, {window} in flight, under callgrind"));
    let mut results = Vec::new();
    let mut _proc = None;
    for (label, flavor) in [("stock", Flavor::Baseline), ("module", Flavor::Module)] {
        let mut instance = Instance::create(label, flavor == Flavor::Module, |ip| {
            // The registrar's periodic scan of the whole location store for expired contacts
            // (every 30 s by default) would land in one instance's counted window and not the
            // other's; both check twice a day here instead.
            config::pjsip_conf(ip, extensions, devices, flavor, 0).replacen(
                "type = global\n",
                "type = global\ncontact_expiration_check_interval = 43200\n",
                1,
            )
        });
        _proc.get_or_insert_with(|| ProcMount::ensure(instance.root()));
        let out = format!("--callgrind-out-file={}/log/callgrind.out.%p", instance.inside());
        let mut wrapper: Vec<String> =
            ["/usr/bin/valgrind", "--tool=callgrind", "--quiet", &out].iter().map(|s| s.to_string()).collect();
        if cache_sim {
            wrapper.push("--cache-sim=yes".into());
        }
        let booted = instance.boot_under(&wrapper, timeout);
        log(format!("{label}: booted under callgrind in {:.0} s", booted.as_secs_f64()));
        let server: SocketAddrV4 = format!("{}:5060", instance.ip).parse().unwrap();
        let mut generator = LoadGen::new(server, config::device_specs(extensions, devices), 0);
        let all: Vec<usize> = (0..generator.len()).collect();
        // Warm-up, not counted: each of Asterisk's threads builds its caches (the regex engines'
        // lazy DFAs among them) once. Then every device unregisters and registers again, as
        // after an outage: the mass registration counted below.
        let warm = generator.run(&all, Action::Register, window, timeout);
        assert_eq!(warm.failed, 0, "{label}: warm-up registrations failed: {:?}", warm.failures);
        let gone = generator.run(&all, Action::Unregister, window, timeout);
        assert_eq!(gone.failed, 0, "{label}: unregistrations failed: {:?}", gone.failures);
        let first = counted(&instance, "mass", || generator.run(&all, Action::Register, window, timeout));
        log(format!("{label}: mass registration: {:.0} instructions per registration", first.per_registration()));
        let refresh = counted(&instance, "refresh", || generator.run(&all, Action::Register, window, timeout));
        log(format!("{label}: refresh: {:.0} instructions per registration", refresh.per_registration()));
        instance.stop();
        results.push((label, first, refresh));
    }
    let commit = Command::new("git")
        .args(["log", "-1", "--format=%h %s"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!();
    println!(
        "Instructions Asterisk executed per registration (REGISTER, 401, REGISTER with credentials, 200), counted by callgrind"
    );
    println!("{contacts} contacts ({extensions} extensions x {devices} devices, dual registration), {window} in flight; commit {commit}");
    println!();
    println!("| workload | stock | module | ratio | module's own (entry points, inclusive) | retransmissions stock / module |");
    println!("|---|---:|---:|---:|---:|---|");
    let (stock, module) = (&results[0], &results[1]);
    for (name, s, m) in [("mass registration (all unregistered first)", &stock.1, &module.1), ("refresh", &stock.2, &module.2)] {
        println!(
            "| {name} | {:.0} | {:.0} | {:.4} | {:.0} ({:.2} %) | {} / {} |",
            s.per_registration(),
            m.per_registration(),
            m.per_registration() / s.per_registration(),
            m.module_per_registration(),
            100.0 * m.module_per_registration() / m.per_registration(),
            s.retransmissions,
            m.retransmissions
        );
    }
    println!();
    for (workload, measured) in [("mass registration", &module.1), ("refresh", &module.2)] {
        println!("Module entry points, instructions per registration ({workload}):");
        for (name, ir) in &measured.entries {
            println!("  {name}: {:.0}", *ir as f64 / measured.registrations.max(1) as f64);
        }
    }
    if cache_sim {
        println!();
        println!("Simulated cache events per registration (callgrind --cache-sim=yes: I1/D1 = first level, LL = last level)");
        println!();
        println!("| workload | event | stock | module | module - stock | module's own (entry points) |");
        println!("|---|---|---:|---:|---:|---:|");
        for (name, s, m) in [("mass registration", &stock.1, &module.1), ("refresh", &stock.2, &module.2)] {
            for ((event, stock_total, _), (_, module_total, own)) in s.events.iter().zip(&m.events) {
                let per = |count: u64, of: &Measured| count as f64 / of.registrations.max(1) as f64;
                println!(
                    "| {name} | {event} | {:.1} | {:.1} | {:+.1} | {:.1} |",
                    per(*stock_total, s),
                    per(*module_total, m),
                    per(*module_total, m) - per(*stock_total, s),
                    per(*own, m)
                );
            }
        }
    }
    println!("Profiles kept in target/callgrind/ (callgrind_annotate --inclusive=yes FILE).");
    println!("Stock's hooks of the same names (should be none):");
    for (name, ir) in &stock.2.entries {
        println!("  {name}: {:.0}", *ir as f64 / stock.2.registrations.max(1) as f64);
    }
}
