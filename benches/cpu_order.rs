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
mod bench_support;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use bench_support::config::{self, Flavor};
use bench_support::env_count;
use bench_support::instance::{process_cpu, Instance};
use bench_support::loadgen::{Action, LoadGen};

fn main() {
    let extensions = env_count("BENCH_EXTENSIONS", 200).max(1);
    let devices = env_count("BENCH_DEVICES", 5);
    let blocks = env_count("BENCH_BLOCKS", 4).max(1);
    let block = env_count("BENCH_BLOCK", 1).max(1);
    let mass_window = env_count("BENCH_MASS_WINDOW", 500).max(1);
    let window = env_count("BENCH_WINDOW", 32).max(1);
    let timeout = Duration::from_secs(600);
    let mut instances: Vec<Instance> = [("stock", Flavor::Baseline), ("module", Flavor::Module)]
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
    // [instance][0 = mass, 1 = refresh]: (ticks, registrations)
    let mut used = [[(0f64, 0usize); 2]; 2];
    for turn in 0..blocks * 2 {
        // ABBA: 0 1 1 0 0 1 1 0 ...
        let i = [0, 1, 1, 0][turn % 4];
        for _ in 0..block {
            let instance = &instances[i];
            generators[i].run(&all, Action::Unregister, mass_window, timeout);
            instance.wait_idle(Instant::now(), Duration::from_secs(60));
            for (workload, in_flight) in [(0, mass_window), (1, window)] {
                let before = process_cpu(instance.pid());
                let outcome = generators[i].run(&all, Action::Register, in_flight, timeout);
                used[i][workload].0 += process_cpu(instance.pid()) - before;
                used[i][workload].1 += outcome.completed;
                instance.wait_idle(Instant::now(), Duration::from_secs(60));
            }
        }
    }
    let per_registration = |(seconds, n): (f64, usize)| seconds * 1e6 / n.max(1) as f64;
    println!("\nAsterisk CPU per registration (µs; BENCH_BLOCK={block}, {blocks} blocks per instance)");
    println!("| workload | stock | module | module / stock |\n|---|---:|---:|---:|");
    for (workload, name) in [(0, "mass registration"), (1, "refresh")] {
        let (s, m) = (per_registration(used[0][workload]), per_registration(used[1][workload]));
        println!("| {name} | {s:.0} | {m:.0} | {:.3} |", m / s);
    }
    for instance in instances.iter_mut() {
        instance.stop();
    }
}
