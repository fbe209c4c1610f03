//! Shared pieces of `make bench-scale` (benches/scale.rs): Asterisk instances of the benchmark's
//! own (127.78.x.y), the pjsip.conf generators, the UDP load generator (devices on 127.77.x.y) and
//! the report.
#![allow(dead_code)]

pub mod config;
pub mod instance;
pub mod loadgen;
pub mod report;

use std::time::Duration;

/// A count from the environment, or `default`.
pub fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().replace('_', "").parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a count"))
        }
        _ => default,
    }
}

/// A list of counts from the environment ("1000,10000"), or `default`.
pub fn env_counts(name: &str, default: &[usize]) -> Vec<usize> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => value
            .split([',', ' '])
            .filter(|v| !v.is_empty())
            .map(|v| v.replace('_', "").parse().unwrap_or_else(|_| panic!("{name}: {v:?} is not a count")))
            .collect(),
        _ => default.to_vec(),
    }
}

/// Nearest-rank percentile of unsorted durations, in milliseconds (NaN when empty).
pub fn percentile_ms(values: &[Duration], q: f64) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort();
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1000.0
}

/// The 1, 5 and 15 minute load averages, as `uptime` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU time (user + system) this thread has used so far.
pub fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct we pass; RUSAGE_THREAD is valid on Linux.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_THREAD, &mut usage);
        usage
    };
    let micros = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    Duration::from_micros(micros(usage.ru_utime) + micros(usage.ru_stime))
}

/// A one-line description of the machine: CPU model, cores, memory, kernel.
pub fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| m.lines().next().map(|l| l.split_whitespace().nth(1).unwrap_or("0").parse::<u64>().unwrap_or(0)))
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{model}, {cores} cores, {:.1} GB RAM, Linux {}", memory as f64 / 1048576.0, kernel.trim())
}
