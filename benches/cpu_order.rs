//! `make bench-cpu-order`: Asterisk's CPU time for the same registrations, stock vs module, with
//! the instances taking turns every BENCH_BLOCK rounds (ABBA order, so drift cancels).
//!
//! Why: `make bench-scale` alternates the instances every round and finds the module instance
//! using 8-15 % more CPU per registration at 1,000 contacts, while callgrind counts 1-3 % more
//! instructions. Run with BENCH_BLOCK=1 (turns every round, as bench-scale) and with a larger block
//! (each instance keeps running for several rounds) to see whether the gap belongs to the
//! registrations or to switching between the instances.
//!
//! A round: every device unregisters (untimed), mass registration (BENCH_MASS_WINDOW in flight,
//! timed), refresh (BENCH_WINDOW in flight, timed); CPU is the process's user + system time over
//! the timed parts. Environment: BENCH_EXTENSIONS (200), BENCH_DEVICES (5),
//! BENCH_BLOCKS (4), BENCH_BLOCK (1), BENCH_MASS_WINDOW (500), BENCH_WINDOW (32).
//! BENCH_THREADS=1 also prints, per instance, the CPU time and context switches of its busiest
//! threads over the timed mass registrations (by thread id, sorted by CPU).
//! BENCH_BOOTS (1) boots a fresh pair of instances that many times and sums over all of them: a
//! boot fixes how Asterisk's threads share glibc's malloc arenas, which moves the ratio by several
//! per cent either way (docs/benchmarks.md); each boot's ratios are printed too.
//! BENCH_CLI=<command> runs that CLI command on each instance just before each timed workload.
//! BENCH_SAME=1 (calibration) boots stock in both places: the "module" column is then a second
//! stock instance, and its ratio shows what the method itself puts between two equal instances.
//! BENCH_PERF=<folder> also records each instance's timed mass registrations with
//! `perf record -e cpu-clock` (software clock: this VM has no hardware counters), one file per
//! instance and round, for `perf report --symfs <runtime root> --sort dso,sym` afterwards.
mod bench_support;

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_support::config::{self, Flavor};
use bench_support::env_count;
use bench_support::instance::{process_cpu_split, process_minor_faults, thread_cpu_by_id, Instance};
use bench_support::loadgen::{Action, LoadGen};

struct Settings {
    extensions: usize,
    devices: usize,
    blocks: usize,
    block: usize,
    mass_window: usize,
    window: usize,
    timeout: Duration,
    perf_folder: Option<PathBuf>,
    by_thread: bool,
    cli_before: Option<String>,
    /// Both instances stock (BENCH_SAME): the method's own bias between the two places.
    same: bool,
}

/// What one or more boots measured, per instance (0 = stock, 1 = module).
#[derive(Default)]
struct Totals {
    /// [instance][0 = mass, 1 = refresh]: (user seconds, system seconds, registrations)
    used: [[(f64, f64, usize); 2]; 2],
    /// [instance][workload]: minor page faults
    faults: [[u64; 2]; 2],
    /// [instance]: thread id -> (CPU seconds, voluntary, involuntary switches) over the mass registrations
    thread_use: [HashMap<u32, (f64, u64, u64)>; 2],
}

impl Totals {
    /// CPU per registration, module / stock, of a workload.
    fn ratio(&self, workload: usize) -> f64 {
        let per = |i: usize| {
            let (user, system, registrations) = self.used[i][workload];
            (user + system) / registrations.max(1) as f64
        };
        per(1) / per(0)
    }

    fn add(&mut self, other: Totals) {
        for i in 0..2 {
            for workload in 0..2 {
                let (total, more) = (&mut self.used[i][workload], other.used[i][workload]);
                *total = (total.0 + more.0, total.1 + more.1, total.2 + more.2);
                self.faults[i][workload] += other.faults[i][workload];
            }
            // Thread ids of different boots are different threads.
            self.thread_use[i].extend(other.thread_use[i].iter().map(|(tid, used)| (*tid, *used)));
        }
    }
}

fn main() {
    let settings = Settings {
        extensions: env_count("BENCH_EXTENSIONS", 200).max(1),
        devices: env_count("BENCH_DEVICES", 5),
        blocks: env_count("BENCH_BLOCKS", 4).max(1),
        block: env_count("BENCH_BLOCK", 1).max(1),
        mass_window: env_count("BENCH_MASS_WINDOW", 500).max(1),
        window: env_count("BENCH_WINDOW", 32).max(1),
        timeout: Duration::from_secs(600),
        perf_folder: std::env::var_os("BENCH_PERF").filter(|v| !v.is_empty()).map(PathBuf::from),
        by_thread: env_count("BENCH_THREADS", 0) > 0,
        cli_before: std::env::var("BENCH_CLI").ok().filter(|c| !c.trim().is_empty()),
        same: env_count("BENCH_SAME", 0) > 0,
    };
    if let Some(folder) = &settings.perf_folder {
        std::fs::create_dir_all(folder).expect("BENCH_PERF folder");
    }
    let boots = env_count("BENCH_BOOTS", 1).max(1);
    let mut totals = Totals::default();
    // Per boot: (mass, refresh) CPU ratio module / stock.
    let mut boot_ratios: Vec<(f64, f64)> = Vec::new();
    for boot in 0..boots {
        eprintln!("boot {} of {boots}", boot + 1);
        let measured = run_boot(&settings);
        boot_ratios.push((measured.ratio(0), measured.ratio(1)));
        eprintln!(
            "boot {}: CPU per registration module / stock: mass {:.3}, refresh {:.3}",
            boot + 1,
            measured.ratio(0),
            measured.ratio(1)
        );
        totals.add(measured);
    }
    report(&settings, boots, &totals, &boot_ratios);
}

/// Boots a fresh pair of instances, registers every device once, runs the ABBA turns and stops
/// both.
fn run_boot(settings: &Settings) -> Totals {
    let Settings { extensions, devices, blocks, block, mass_window, window, timeout, .. } = *settings;
    let second = if settings.same { Flavor::Baseline } else { Flavor::Module };
    let mut instances: Vec<Instance> = [("stock", Flavor::Baseline), ("module", second)]
        .into_iter()
        .map(|(label, flavor)| {
            let mut instance =
                Instance::create(label, flavor == Flavor::Module, |ip| config::pjsip_conf(ip, extensions, devices, flavor, 0));
            instance.boot(timeout);
            instance
        })
        .collect();
    let mut generators: Vec<LoadGen> = instances
        .iter()
        .map(|i| {
            LoadGen::new(format!("{}:5060", i.ip).parse::<SocketAddrV4>().unwrap(), config::device_specs(extensions, devices), 0)
        })
        .collect();
    let all: Vec<usize> = (0..generators[0].len()).collect();
    for generator in generators.iter_mut() {
        generator.run(&all, Action::Register, window, timeout);
    }
    eprintln!("{} contacts, {blocks} blocks of {block} rounds per instance, ABBA", all.len());
    let mut totals = Totals::default();
    for turn in 0..blocks * 2 {
        // ABBA: 0 1 1 0 0 1 1 0 ...
        let i = [0, 1, 1, 0][turn % 4];
        for round in 0..block {
            let instance = &instances[i];
            generators[i].run(&all, Action::Unregister, mass_window, timeout);
            instance.wait_idle(Instant::now(), Duration::from_secs(60));
            for workload in [0, 1] {
                let perf_file = settings
                    .perf_folder
                    .as_ref()
                    .filter(|_| workload == 0)
                    .map(|folder| folder.join(format!("{}-{turn}-{round}.data", instance.label)));
                timed_workload(settings, instance, &mut generators[i], &all, perf_file, &mut totals, (i, workload));
                instance.wait_idle(Instant::now(), Duration::from_secs(60));
            }
        }
    }
    for instance in instances.iter_mut() {
        instance.stop();
    }
    totals
}

/// One timed registration of every device on instance `i` (mass registration or refresh, as
/// `workload` says), added to `totals`.
fn timed_workload(
    settings: &Settings,
    instance: &Instance,
    generator: &mut LoadGen,
    all: &[usize],
    perf_file: Option<PathBuf>,
    totals: &mut Totals,
    (i, workload): (usize, usize),
) {
    let in_flight = if workload == 0 { settings.mass_window } else { settings.window };
    let perf = perf_file.map(|file| start_perf(instance.pid(), &file));
    if let Some(command) = &settings.cli_before {
        let _ = instance.try_cli(command);
    }
    let threads_before = (settings.by_thread && workload == 0).then(|| thread_cpu_by_id(instance.pid()));
    let faults_before = process_minor_faults(instance.pid());
    let before = process_cpu_split(instance.pid());
    let outcome = generator.run(all, Action::Register, in_flight, settings.timeout);
    let after = process_cpu_split(instance.pid());
    totals.faults[i][workload] += process_minor_faults(instance.pid()) - faults_before;
    if let Some(threads_before) = threads_before {
        for (tid, (cpu, voluntary, involuntary)) in thread_cpu_by_id(instance.pid()) {
            let (cpu0, voluntary0, involuntary0) = threads_before.get(&tid).copied().unwrap_or_default();
            let total = totals.thread_use[i].entry(tid).or_default();
            total.0 += cpu - cpu0;
            total.1 += voluntary - voluntary0;
            total.2 += involuntary - involuntary0;
        }
    }
    if let Some(perf) = perf {
        stop_perf(perf);
    }
    let used = &mut totals.used[i][workload];
    used.0 += after.0 - before.0;
    used.1 += after.1 - before.1;
    used.2 += outcome.completed;
}

fn report(settings: &Settings, boots: usize, totals: &Totals, boot_ratios: &[(f64, f64)]) {
    let Totals { used, faults, thread_use } = totals;
    let (blocks, block) = (settings.blocks, settings.block);
    let per_registration = |seconds: f64, n: usize| seconds * 1e6 / n.max(1) as f64;
    println!("\nAsterisk CPU per registration (µs; BENCH_BLOCK={block}, {blocks} blocks per instance, {boots} boots)");
    if settings.same {
        println!("BENCH_SAME: the \"module\" column is a second stock instance (calibration: equal instances)");
    }
    println!("| workload | time | stock | module | module / stock |\n|---|---|---:|---:|---:|");
    for (workload, name) in [(0, "mass registration"), (1, "refresh")] {
        let [(su, ss, sn), (mu, ms, mn)] = [used[0][workload], used[1][workload]];
        for (kind, s, m) in [("user + system", su + ss, mu + ms), ("user", su, mu), ("system", ss, ms)] {
            let (s, m) = (per_registration(s, sn), per_registration(m, mn));
            println!("| {name} | {kind} | {s:.0} | {m:.0} | {:.3} |", m / s);
        }
        let (s, m) = (faults[0][workload] as f64 / sn.max(1) as f64, faults[1][workload] as f64 / mn.max(1) as f64);
        println!("| {name} | minor page faults per registration | {s:.1} | {m:.1} | {:.3} |", m / s);
    }
    if settings.by_thread {
        for (i, label) in [(0, "stock"), (1, "module")] {
            let registrations = used[i][0].2.max(1) as f64;
            let mut threads: Vec<(u32, (f64, u64, u64))> = thread_use[i].iter().map(|(t, u)| (*t, *u)).collect();
            threads.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(b.1 .1.cmp(&a.1 .1)));
            let busy = threads.iter().filter(|(_, (cpu, v, n))| *cpu > 0.0 || v + n > 0).count();
            let sum = |f: &dyn Fn(&(f64, u64, u64)) -> f64| threads.iter().map(|(_, u)| f(u)).sum::<f64>() / registrations;
            println!(
                "\n{label}: {busy} threads ran; per registration: CPU {:.0} µs, voluntary switches {:.2}, involuntary {:.2}",
                sum(&|u| u.0 * 1e6),
                sum(&|u| u.1 as f64),
                sum(&|u| u.2 as f64)
            );
            println!("| thread | CPU µs/reg | voluntary/reg | involuntary/reg |\n|---|---:|---:|---:|");
            for (tid, (cpu, voluntary, involuntary)) in threads.iter().take(14) {
                println!(
                    "| {tid} | {:.1} | {:.3} | {:.3} |",
                    cpu * 1e6 / registrations,
                    *voluntary as f64 / registrations,
                    *involuntary as f64 / registrations
                );
            }
        }
    }
    if boots > 1 {
        println!("\nEach boot's CPU ratio module / stock (a boot fixes how Asterisk's threads share glibc's malloc arenas):");
        println!("| boot | mass registration | refresh |\n|---|---:|---:|");
        for (boot, (mass, refresh)) in boot_ratios.iter().enumerate() {
            println!("| {} | {mass:.3} | {refresh:.3} |", boot + 1);
        }
    }
    if let Some(folder) = &settings.perf_folder {
        println!("\nperf recordings in {}", folder.display());
    }
}

/// `perf record` of one process's CPU time (software clock), until `stop_perf`.
fn start_perf(pid: u32, output: &std::path::Path) -> Child {
    let child = Command::new("perf")
        .args(["record", "-q", "-e", "cpu-clock", "-F", "2000", "-p", &pid.to_string(), "-o"])
        .arg(output)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("perf record (install linux-perf)");
    // perf needs a moment to attach to every thread.
    std::thread::sleep(Duration::from_millis(300));
    child
}

fn stop_perf(mut perf: Child) {
    // SAFETY: kill only sends SIGINT to the perf process we started, which writes its file and exits.
    unsafe { libc::kill(perf.id() as i32, libc::SIGINT) };
    let _ = perf.wait();
}
