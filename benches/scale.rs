//! `make bench-scale`: res_pjsip_multireg against stock Asterisk 22 at 1,000 to 50,000 contacts.
//!
//! Method (docs/benchmarks.md has the long form):
//! - Two Asterisk instances from the same runtime, on 127.78.x.y: "module" (every extension has a
//!   `type=multireg` policy with `dual_registration = yes`) and "stock" (module not loaded, the
//!   same `<ext>r` secondaries written by hand in pjsip.conf: the fair baseline).
//! - The load generator (benches/bench_support/loadgen.rs) registers devices from 127.77.x.y with
//!   MD5 digest auth over UDP, pipelined with a bounded window; rounds alternate which instance goes
//!   first; ratios are module / stock from the same run.
//! - Per size (BENCH_SIZES contacts = extensions × BENCH_DEVICES): mass registration of every
//!   device (first registration, BENCH_MASS_WINDOW in flight), then a refresh of every device
//!   (BENCH_WINDOW in flight): registrations/s, p50/p99, Asterisk's CPU (cores used), the
//!   generator's own CPU, the module's own time per REGISTER when it offers `multireg show stats`,
//!   boot time and RSS idle / with the contacts. Then mass registration and refresh in short
//!   slices (BENCH_SLICE devices; a mass registration slice unregisters its devices first)
//!   alternating between the instances (BENCH_MASS_SLICE_PAIRS and BENCH_SLICE_PAIRS pairs), the
//!   order swapped each time:
//!   both instances see the same moments of a busy machine, so the ratio of the slices is the
//!   steadiest throughput figure here.
//! - Dial string: MULTIREG_DIAL vs PJSIP_DIAL_CONTACTS for an extension with 14 devices (AMI Getvar).
//! - Reload set (BENCH_RELOAD_EXTENSIONS, default 10,000, no contacts): boot, `module reload
//!   res_pjsip.so` with pjsip.conf unchanged and changed, module load (stock: a reload that adds
//!   the hand-written secondaries), RSS idle and after BENCH_RELOADS changed reloads.
//!
//! Environment: BENCH_SIZES (1000,10000,50000), BENCH_DEVICES (5, devices per extension, 1-5),
//! BENCH_ROUNDS (5), BENCH_ROUNDS_LARGE (3, for sizes above 10,000), BENCH_WINDOW (32),
//! BENCH_MASS_WINDOW (500), BENCH_SLICE (1000), BENCH_SLICE_PAIRS (40; 0 skips),
//! BENCH_MASS_SLICE_PAIRS (20; 0 skips), BENCH_DIAL_EVALS (500), BENCH_RELOAD_EXTENSIONS (10000; 0 skips),
//! BENCH_RELOAD_ROUNDS (2), BENCH_RELOADS (10), BENCH_TIMEOUT (900 s: boot, reload, one run),
//! BENCH_DOCS (1: write the results into docs/benchmarks.md).
mod bench_support;
#[path = "../tests/common/mod.rs"]
mod common;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use bench_support::config::{self, Flavor, DIAL_DEVICES, DIAL_EXTENSION};
use bench_support::instance::Instance;
use bench_support::loadgen::{Action, DeviceSpec, LoadGen, Outcome, MAX_DEVICES};
use bench_support::report::{self, Better, Row};
use bench_support::{env_count, env_counts, percentile_ms};

struct Settings {
    sizes: Vec<usize>,
    devices: usize,
    rounds: usize,
    rounds_large: usize,
    window: usize,
    mass_window: usize,
    slice: usize,
    slice_pairs: usize,
    mass_slice_pairs: usize,
    dial_evals: usize,
    reload_extensions: usize,
    reload_rounds: usize,
    reloads: usize,
    timeout: Duration,
    docs: bool,
}

impl Settings {
    fn from_env() -> Settings {
        let devices = env_count("BENCH_DEVICES", 5);
        assert!((1..=5).contains(&devices), "BENCH_DEVICES must be 1-5");
        Settings {
            sizes: env_counts("BENCH_SIZES", &[1000, 10000, 50000]),
            devices,
            rounds: env_count("BENCH_ROUNDS", 5).max(1),
            rounds_large: env_count("BENCH_ROUNDS_LARGE", 3).max(1),
            window: env_count("BENCH_WINDOW", 32).max(1),
            mass_window: env_count("BENCH_MASS_WINDOW", 500).max(1),
            slice: env_count("BENCH_SLICE", 1000).max(1),
            slice_pairs: env_count("BENCH_SLICE_PAIRS", 40),
            mass_slice_pairs: env_count("BENCH_MASS_SLICE_PAIRS", 20),
            dial_evals: env_count("BENCH_DIAL_EVALS", 500),
            reload_extensions: env_count("BENCH_RELOAD_EXTENSIONS", 10000),
            reload_rounds: env_count("BENCH_RELOAD_ROUNDS", 2).max(1),
            reloads: env_count("BENCH_RELOADS", 10),
            timeout: Duration::from_secs(env_count("BENCH_TIMEOUT", 900) as u64),
            docs: env_count("BENCH_DOCS", 1) != 0,
        }
    }
}

fn log(message: impl AsRef<str>) {
    eprintln!("[bench-scale {}] {}", chrono_like_now(), message.as_ref());
}

/// UTC wall-clock time as HH:MM:SS (no date crate needed).
fn chrono_like_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    format!("{:02}:{:02}:{:02}", secs / 3600 % 24, secs / 60 % 60, secs % 60)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn server(instance: &Instance) -> SocketAddrV4 {
    match instance.sip_addr() {
        std::net::SocketAddr::V4(v4) => v4,
        other => panic!("IPv4 expected, got {other}"),
    }
}

/// One reading of `multireg show stats`; None on stock.
struct Counters(String);

fn counters(instance: &Instance) -> Option<Counters> {
    instance.try_cli("multireg show stats").map(Counters)
}

impl Counters {
    /// One counter; None when this build lacks it.
    fn get(&self, name: &str) -> Option<u64> {
        self.0.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            (key.trim() == name).then(|| value.split_whitespace().next()?.parse::<u64>().ok()).flatten()
        })
    }
}

fn counter(reading: &Option<Counters>, name: &str) -> Option<u64> {
    reading.as_ref()?.get(name)
}

/// Adds to `total` (decisions, ns) what a counter pair grew by between two readings: the wall time
/// (`register_decisions`, `register_decision_ns`) or the thread CPU time of the sampled decisions
/// (`register_decisions_cpu_sampled`, `register_decision_cpu_ns`), which preemption does not
/// inflate.
fn add_decision_time(total: &mut (u64, f64), before: &Option<Counters>, after: &Option<Counters>, count: &str, nanos: &str) {
    let (Some(c0), Some(n0), Some(c1), Some(n1)) =
        (counter(before, count), counter(before, nanos), counter(after, count), counter(after, nanos))
    else {
        return;
    };
    total.0 += c1.saturating_sub(c0);
    total.1 += n1.saturating_sub(n0) as f64;
}

/// Decisions that read the location store between two readings (the book did not know enough).
fn store_reads(before: &Option<Counters>, after: &Option<Counters>) -> u64 {
    let reads = |reading| counter(reading, "register_store_reads").unwrap_or(0);
    reads(after).saturating_sub(reads(before))
}

/// One workload's rows, stock and module: throughput and latency, Asterisk's cores and CPU per
/// registration, and the median of the rounds' paired ratios.
fn workload_rows(name: &str, [stock, module]: [&Workload; 2], rows: &mut Vec<Row>) {
    let (s, m) = (&stock.outcome, &module.outcome);
    registration_rows(name, s, m, rows);
    let first = rows.len() - 3;
    rows[first].note = generator_note(s, m);
    rows.push(Row::new(format!("{name}, Asterisk CPU"), "cores", cores(stock.cpu, s), cores(module.cpu, m), Better::Higher));
    rows.push(Row::new(
        format!("{name}, Asterisk CPU per registration"),
        "µs",
        1e6 * stock.cpu / s.completed.max(1) as f64,
        1e6 * module.cpu / m.completed.max(1) as f64,
        Better::Lower,
    ));
    rows.push(paired_ratio_row(name, &stock.rates, &module.rates));
}

/// How `value` (ns) grew from the smallest size that measured it to the largest: None when no
/// size measured it, Some(None) when only one size did.
fn growth_line(what: &str, summaries: &[SizeSummary], value: impl Fn(&SizeSummary) -> Option<f64>) -> Option<Option<String>> {
    let measured: Vec<(usize, f64)> = summaries.iter().filter_map(|s| Some((s.contacts, value(s)?))).collect();
    let (&(first, a), &(last, b)) = (measured.first()?, measured.last()?);
    Some((first != last).then(|| {
        format!(
            "{what}: {:.1} µs at {first} contacts, {:.1} µs at {last} contacts: {:+.0} %",
            a / 1000.0,
            b / 1000.0,
            100.0 * (b / a - 1.0)
        )
    }))
}

/// The median over rounds of module/stock registrations per second, each round's pair measured
/// one right after the other: less swayed than the sums by a round that other jobs slowed down.
fn paired_ratio_row(name: &str, stock: &[f64], module: &[f64]) -> Row {
    median_ratio_row(name, "rounds", stock, module)
}

/// The median of paired module/stock rates (`pairs` names what was paired); the note lists each
/// ratio, or the quartiles when there are many.
fn median_ratio_row(name: &str, pairs: &str, stock: &[f64], module: &[f64]) -> Row {
    let mut ratios: Vec<f64> = stock.iter().zip(module).filter(|(s, _)| **s > 0.0).map(|(s, m)| m / s).collect();
    ratios.sort_by(|a, b| a.total_cmp(b));
    let quantile = |q: f64| {
        if ratios.is_empty() {
            return f64::NAN;
        }
        let at = q * (ratios.len() - 1) as f64;
        let (low, high) = (at.floor() as usize, at.ceil() as usize);
        ratios[low] + (ratios[high] - ratios[low]) * (at - low as f64)
    };
    let note = if ratios.len() <= 9 {
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        format!("{pairs}: {}", each.join(", "))
    } else {
        format!(
            "{} {pairs}: quartiles {:.2} / {:.2} / {:.2}, range {:.2}-{:.2}",
            ratios.len(),
            quantile(0.25),
            quantile(0.5),
            quantile(0.75),
            quantile(0.0),
            quantile(1.0)
        )
    };
    Row::module_only(format!("{name}, median of the {pairs}' module/stock ratios"), "ratio", quantile(0.5), note)
}

/// What a slice does: refresh its registered devices, or register them all at once after they
/// unregistered (a mass registration of `settings.slice` devices into the PBX's other contacts).
#[derive(Clone, Copy, PartialEq, Eq)]
enum SliceWork {
    Refresh,
    MassRegistration,
}

/// Slices of `settings.slice` devices, alternating between the two instances (order swapped every
/// pair), over every device in turn: registrations/s of each side over all slices, and the median
/// of the pairs' ratios. A mass registration slice unregisters its devices first (untimed, then
/// waits for Asterisk to go idle).
fn alternating_slices(sides: &mut [Side], settings: &Settings, name: &str, work: SliceWork, rows: &mut Vec<Row>) {
    let count = sides[0].generator.len().min(sides[1].generator.len());
    let (pairs, what, window) = match work {
        SliceWork::Refresh => (settings.slice_pairs, "refresh", settings.window),
        SliceWork::MassRegistration => (settings.mass_slice_pairs, "mass registration", settings.mass_window),
    };
    if pairs == 0 || count == 0 {
        return;
    }
    let slice = settings.slice.min(count);
    let slices: Vec<Vec<usize>> = (0..count).collect::<Vec<_>>().chunks(slice).map(<[usize]>::to_vec).collect();
    let mut totals = [Outcome::default(), Outcome::default()];
    let mut rates: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for pair in 0..pairs {
        let devices = &slices[pair % slices.len()];
        let order: [usize; 2] = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            let side = &mut sides[index];
            if work == SliceWork::MassRegistration {
                let outcome = side.generator.run(devices, Action::Unregister, window, settings.timeout);
                check_outcome(side.instance.label, "unregister slice", &outcome);
                side.instance.wait_idle(Instant::now(), Duration::from_secs(60));
            }
            let outcome = side.generator.run(devices, Action::Register, window, settings.timeout);
            check_outcome(side.instance.label, &format!("{what} slice"), &outcome);
            rates[index].push(outcome.per_second());
            totals[index].add(outcome);
        }
    }
    let [stock, module] = &totals;
    log(format!(
        "{what} in alternating slices of {slice}: stock {:.0} reg/s, module {:.0} reg/s over {pairs} pairs",
        stock.per_second(),
        module.per_second(),
    ));
    let prefix = format!("{name}: {what} in alternating slices of {slice} devices");
    rows.push(
        Row::new(prefix.clone(), "reg/s", stock.per_second(), module.per_second(), Better::Higher)
            .with_note(format!("{pairs} pairs, order swapped each pair")),
    );
    rows.push(median_ratio_row(&prefix, "slice pairs", &rates[0], &rates[1]));
}

/// What one instance measured at one size, summed over rounds.
/// One workload (mass registration or refresh) of one instance, summed over rounds.
#[derive(Default)]
struct Workload {
    outcome: Outcome,
    /// Asterisk's CPU seconds.
    cpu: f64,
    /// Registrations per second of each round, for the rounds' paired ratios.
    rates: Vec<f64>,
    /// (decisions, total ns) of the module: wall time, and the sampled thread CPU time.
    module: (u64, f64),
    module_cpu: (u64, f64),
    /// The same for the registrar's answers the module applied to its books.
    answer: (u64, f64),
    answer_cpu: (u64, f64),
}

#[derive(Default)]
struct SideResult {
    mass: Workload,
    refresh: Workload,
    boot: Duration,
    rss_idle: u64,
    rss_contacts: u64,
    /// `book_bytes` and `book_devices` of `multireg show stats` idle and with the contacts.
    book_bytes_idle: Option<u64>,
    book_bytes_contacts: Option<u64>,
    book_devices: Option<u64>,
}

struct Side {
    instance: Instance,
    generator: LoadGen,
    result: SideResult,
}

fn check_outcome(label: &str, what: &str, outcome: &Outcome) {
    if outcome.failed > 0 {
        log(format!("{label}: {what}: {} failed, first: {:?}", outcome.failed, outcome.failures));
    }
}

/// One round for one instance: unregister what is registered (untimed), mass registration, refresh.
fn size_round(side: &mut Side, settings: &Settings) {
    let all: Vec<usize> = (0..side.generator.len()).collect();
    let label = side.instance.label;
    let registered = side.generator.registered_devices();
    if !registered.is_empty() {
        let outcome = side.generator.run(&registered, Action::Unregister, settings.mass_window, settings.timeout);
        check_outcome(label, "unregister", &outcome);
        side.instance.wait_idle(Instant::now(), Duration::from_secs(60));
    }
    let (mass, reads) =
        timed_registrations(side, &all, settings.mass_window, settings.timeout, ("mass registration", |r| &mut r.mass));
    log(format!(
        "{label}: mass registration of {} devices: {:.0} reg/s, p50 {:.1} ms, p99 {:.1} ms, {} retransmissions, {} x 503, {reads} store reads",
        all.len(),
        mass.per_second(),
        percentile_ms(&mass.registrations, 0.5),
        percentile_ms(&mass.registrations, 0.99),
        mass.retransmissions,
        mass.overloaded,
    ));
    side.result.mass.outcome.add(mass);
    side.instance.wait_idle(Instant::now(), Duration::from_secs(60));
    if side.result.rss_contacts == 0 {
        // After the first registration of every device: later rounds (unregister, register again)
        // add allocator fragmentation on both sides.
        side.result.rss_contacts = side.instance.rss();
        let reading = counters(&side.instance);
        side.result.book_bytes_contacts = counter(&reading, "book_bytes");
        side.result.book_devices = counter(&reading, "book_devices");
    }

    let (refresh, reads) = timed_registrations(side, &all, settings.window, settings.timeout, ("refresh", |r| &mut r.refresh));
    log(format!(
        "{label}: refresh of {} devices: {:.0} reg/s, p50 {:.1} ms, p99 {:.1} ms, generator CPU {:.2} s of {:.2} s, {reads} store reads",
        all.len(),
        refresh.per_second(),
        percentile_ms(&refresh.registrations, 0.5),
        percentile_ms(&refresh.registrations, 0.99),
        refresh.generator_cpu.as_secs_f64(),
        refresh.wall.as_secs_f64(),
    ));
    side.result.refresh.outcome.add(refresh);
}

/// Registers `devices` with `window` in flight on one instance, adding Asterisk's CPU time, the
/// round's rate and the module's decision times to the workload `totals` picks (`what` names it
/// in the log). Returns the
/// outcome (for the log, then the totals) and the store reads it made.
fn timed_registrations(
    side: &mut Side,
    devices: &[usize],
    window: usize,
    timeout: Duration,
    (what, totals): (&str, fn(&mut SideResult) -> &mut Workload),
) -> (Outcome, u64) {
    let before = counters(&side.instance);
    let cpu = side.instance.cpu();
    let outcome = side.generator.run(devices, Action::Register, window, timeout);
    let cpu = side.instance.cpu() - cpu;
    let after = counters(&side.instance);
    check_outcome(side.instance.label, what, &outcome);
    let workload = totals(&mut side.result);
    workload.cpu += cpu;
    workload.rates.push(outcome.per_second());
    add_decision_time(&mut workload.module, &before, &after, "register_decisions", "register_decision_ns");
    add_decision_time(&mut workload.module_cpu, &before, &after, "register_decisions_cpu_sampled", "register_decision_cpu_ns");
    add_decision_time(&mut workload.answer, &before, &after, "register_answers", "register_answer_ns");
    add_decision_time(&mut workload.answer_cpu, &before, &after, "register_answers_cpu_sampled", "register_answer_cpu_ns");
    (outcome, store_reads(&before, &after))
}

/// The size workloads; returns rows plus (contacts, module ns per REGISTER) for the growth line and
/// the per-device memory figure.
struct SizeSummary {
    contacts: usize,
    module_ns: Option<f64>,
    module_cpu_ns: Option<f64>,
    stock_rss_delta: i64,
    module_rss_delta: i64,
    /// RSS with the contacts registered, module minus stock.
    rss_contacts_difference: i64,
}

fn registration_rows(prefix: &str, stock: &Outcome, module: &Outcome, rows: &mut Vec<Row>) {
    rows.push(Row::new(prefix, "reg/s", stock.per_second(), module.per_second(), Better::Higher));
    rows.push(Row::new(
        format!("{prefix}, p50"),
        "ms",
        percentile_ms(&stock.registrations, 0.5),
        percentile_ms(&module.registrations, 0.5),
        Better::Lower,
    ));
    rows.push(Row::new(
        format!("{prefix}, p99"),
        "ms",
        percentile_ms(&stock.registrations, 0.99),
        percentile_ms(&module.registrations, 0.99),
        Better::Lower,
    ));
}

fn cores(cpu: f64, outcome: &Outcome) -> f64 {
    cpu / outcome.wall.as_secs_f64().max(1e-9)
}

fn generator_note(stock: &Outcome, module: &Outcome) -> String {
    let cpu = (stock.generator_cpu + module.generator_cpu).as_secs_f64();
    let wall = (stock.wall + module.wall).as_secs_f64();
    let mut note = format!("generator CPU {:.0} % of its wall time", 100.0 * cpu / wall.max(1e-9));
    let (retransmissions, overloaded) = (stock.retransmissions + module.retransmissions, stock.overloaded + module.overloaded);
    if retransmissions + overloaded > 0 {
        note.push_str(&format!(
            "; retransmissions stock {} / module {}; 503 stock {} / module {}",
            stock.retransmissions, module.retransmissions, stock.overloaded, module.overloaded
        ));
    }
    if stock.failed + module.failed > 0 {
        note.push_str(&format!("; FAILED stock {} / module {}", stock.failed, module.failed));
    }
    note
}

fn size_workloads(size: usize, settings: &Settings, dial: bool, rows: &mut Vec<Row>) -> SizeSummary {
    let devices = settings.devices;
    let extensions = size.div_ceil(devices);
    let contacts = extensions * devices;
    assert!(contacts <= MAX_DEVICES - DIAL_DEVICES, "at most {} contacts", MAX_DEVICES - DIAL_DEVICES);
    let rounds = if contacts > 10_000 { settings.rounds_large } else { settings.rounds };
    log(format!("size {contacts} contacts = {extensions} extensions x {devices} devices, {rounds} rounds"));
    let mut sides: Vec<Side> = [("stock", Flavor::Baseline), ("module", Flavor::Module)]
        .into_iter()
        .map(|(label, flavor)| {
            let mut instance =
                Instance::create(label, flavor == Flavor::Module, |ip| config::pjsip_conf(ip, extensions, devices, flavor, 0));
            // Booted one after the other: the first is idle while the second boots.
            let boot = instance.boot(settings.timeout);
            log(format!("{label}: booted with {extensions} extensions in {:.1} s on {}", boot.as_secs_f64(), instance.ip));
            let generator = LoadGen::new(server(&instance), config::device_specs(extensions, devices), 0);
            Side { instance, generator, result: SideResult { boot, ..SideResult::default() } }
        })
        .collect();
    for side in sides.iter_mut() {
        side.result.rss_idle = side.instance.rss();
        side.result.book_bytes_idle = counter(&counters(&side.instance), "book_bytes");
        let secondary = format!("{}r", config::extension(0));
        let shown = side.instance.cli(&format!("pjsip show endpoint {secondary}"));
        assert!(shown.contains(&format!("Endpoint:  {secondary}")), "{}: no endpoint {secondary}:\n{shown}", side.instance.label);
    }
    let stats_available = counter(&counters(&sides[1].instance), "register_decision_ns").is_some();
    for round in 0..rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for index in order {
            log(format!("size {contacts}, round {} of {rounds}: {}", round + 1, sides[index].instance.label));
            size_round(&mut sides[index], settings);
        }
    }
    let rss_end = [sides[0].instance.rss(), sides[1].instance.rss()];
    let name = format!("{contacts} contacts ({extensions}×{devices})");
    let mut slice_rows = Vec::new();
    alternating_slices(&mut sides, settings, &name, SliceWork::MassRegistration, &mut slice_rows);
    alternating_slices(&mut sides, settings, &name, SliceWork::Refresh, &mut slice_rows);
    if dial {
        dial_workload(&sides[0].instance, &sides[1].instance, settings, rows);
    }
    let (s, m) = (&sides[0].result, &sides[1].result);
    workload_rows(&format!("{name}: mass registration"), [&s.mass, &m.mass], rows);
    workload_rows(&format!("{name}: refresh"), [&s.refresh, &m.refresh], rows);
    rows.append(&mut slice_rows);
    let mut module_ns = None;
    let mut module_cpu_ns = None;
    if stats_available {
        let per = |(count, total): (u64, f64)| if count > 0 { total / count as f64 } else { f64::NAN };
        let refresh_ns = per(m.refresh.module);
        module_ns = refresh_ns.is_finite().then_some(refresh_ns);
        let refresh_cpu_ns = per(m.refresh.module_cpu);
        module_cpu_ns = refresh_cpu_ns.is_finite().then_some(refresh_cpu_ns);
        let decision_rows = [
            ("module CPU time", "decision", "refresh", m.refresh.module_cpu, "sampled decisions (thread CPU time, 1 in 16)"),
            ("module CPU time", "decision", "mass registration", m.mass.module_cpu, "sampled decisions"),
            (
                "module CPU time",
                "answer",
                "refresh",
                m.refresh.answer_cpu,
                "sampled answers (the registrar's, applied to the book)",
            ),
            ("module CPU time", "answer", "mass registration", m.mass.answer_cpu, "sampled answers"),
            ("module time", "decision", "refresh", m.refresh.module, "decisions (multireg show stats)"),
            ("module time", "decision", "mass registration", m.mass.module, "decisions"),
            ("module time", "answer", "refresh", m.refresh.answer, "answers"),
            ("module time", "answer", "mass registration", m.mass.answer, "answers"),
        ];
        for (what, part, workload, measured, counted) in decision_rows {
            if measured.0 == 0 {
                continue; // a build without the counter
            }
            rows.push(Row::module_only(
                format!("{name}: {what} per REGISTER {part}, {workload}"),
                "µs",
                per(measured) / 1000.0,
                format!("{} {counted}", measured.0),
            ));
        }
    } else {
        rows.push(Row::module_only(
            format!("{name}: module time per REGISTER"),
            "µs",
            f64::NAN,
            "not measured: this build has no `multireg show stats` (register_decisions / register_decision_ns)",
        ));
    }
    rows.push(Row::new(format!("{name}: boot until idle"), "s", s.boot.as_secs_f64(), m.boot.as_secs_f64(), Better::Lower));
    rows.push(Row::new(format!("{name}: RSS idle"), "MB", mb(s.rss_idle), mb(m.rss_idle), Better::Lower));
    rows.push(Row::new(
        format!("{name}: RSS with the contacts (after the first registration)"),
        "MB",
        mb(s.rss_contacts),
        mb(m.rss_contacts),
        Better::Lower,
    ));
    rows.push(Row::new(format!("{name}: RSS after {rounds} rounds"), "MB", mb(rss_end[0]), mb(rss_end[1]), Better::Lower));
    if let (Some(idle), Some(with), Some(devices)) = (m.book_bytes_idle, m.book_bytes_contacts, m.book_devices) {
        rows.push(Row::module_only(
            format!("{name}: module's device books, bytes per registered device"),
            "B",
            with.saturating_sub(idle) as f64 / devices.max(1) as f64,
            format!("book_bytes {idle} idle, {with} with {devices} devices (multireg show stats)"),
        ));
        rows.push(Row::module_only(
            format!("{name}: module's device books, bytes per configured extension (idle)"),
            "B",
            idle as f64 / extensions.max(1) as f64,
            "an empty book per policy AOR, read ahead after load",
        ));
    }
    for side in &sides {
        let errors = side.instance.errors();
        if !errors.is_empty() {
            log(format!("{}: {} ERROR lines, first: {}", side.instance.label, errors.len(), errors[0]));
        }
    }
    SizeSummary {
        contacts,
        module_ns,
        module_cpu_ns,
        stock_rss_delta: s.rss_contacts as i64 - s.rss_idle as i64,
        module_rss_delta: m.rss_contacts as i64 - m.rss_idle as i64,
        rss_contacts_difference: m.rss_contacts as i64 - s.rss_contacts as i64,
    }
}

/// 14 devices on DIAL_EXTENSION: 5 IP phones, 3 web, 3 desktop, 3 mobile (by User-Agent).
fn dial_devices() -> Vec<DeviceSpec> {
    let agents = [("Yealink SIP-T46U 108.86.0.", 5), ("JsSIP 3.10.", 3), ("MicroSIP/3.21.", 3), ("Groundwire/6.3.", 3)];
    agents
        .iter()
        .flat_map(|(agent, count)| (0..*count).map(move |n| format!("{agent}{n}")))
        .map(|user_agent| DeviceSpec { user: DIAL_EXTENSION.into(), password: config::password(DIAL_EXTENSION), user_agent })
        .collect()
}

struct DialProbe {
    ami: common::Ami,
    expression: String,
    value: String,
}

impl DialProbe {
    fn new(instance: &Instance, expression: String) -> DialProbe {
        let mut ami = common::Ami::connect(instance.ami_addr(), "multireg", "multireg-ami");
        let check = ami.action("Getvar", &[("Variable", &expression)]);
        let value = check.get("Value").cloned().unwrap_or_default();
        let mut probe = DialProbe { ami, expression, value };
        probe.round(50);
        probe
    }

    fn targets(&self) -> usize {
        self.value.split('&').filter(|t| !t.is_empty()).count()
    }

    fn round(&mut self, evals: usize) -> (Vec<Duration>, Duration) {
        let mut latencies = Vec::with_capacity(evals);
        let start = Instant::now();
        for _ in 0..evals {
            let began = Instant::now();
            let response = self.ami.action("Getvar", &[("Variable", &self.expression)]);
            latencies.push(began.elapsed());
            assert_eq!(response.get("Value"), Some(&self.value), "{} changed during the run", self.expression);
        }
        (latencies, start.elapsed())
    }
}

fn dial_workload(stock: &Instance, module: &Instance, settings: &Settings, rows: &mut Vec<Row>) {
    if settings.dial_evals == 0 {
        return;
    }
    log(format!("dial string: {DIAL_DEVICES} devices on {DIAL_EXTENSION}, {} Getvar per round", settings.dial_evals));
    let mut generators = Vec::new();
    for instance in [stock, module] {
        let mut generator = LoadGen::new(server(instance), dial_devices(), MAX_DEVICES - DIAL_DEVICES);
        let all: Vec<usize> = (0..DIAL_DEVICES).collect();
        let outcome = generator.run(&all, Action::Register, DIAL_DEVICES, Duration::from_secs(60));
        assert_eq!(outcome.failed, 0, "{}: registering the {DIAL_DEVICES} dial devices: {:?}", instance.label, outcome.failures);
        generators.push(generator);
    }
    let mut probes = [
        DialProbe::new(stock, format!("PJSIP_DIAL_CONTACTS({DIAL_EXTENSION})")),
        DialProbe::new(module, format!("MULTIREG_DIAL({DIAL_EXTENSION})")),
        DialProbe::new(module, format!("PJSIP_DIAL_CONTACTS({DIAL_EXTENSION})")),
    ];
    let targets: Vec<usize> = probes.iter().map(DialProbe::targets).collect();
    let mut samples: [(Vec<Duration>, Duration); 3] = Default::default();
    for round in 0..settings.rounds {
        for step in 0..probes.len() {
            let index = (round + step) % probes.len();
            let (mut latencies, wall) = probes[index].round(settings.dial_evals);
            samples[index].0.append(&mut latencies);
            samples[index].1 += wall;
        }
    }
    let rate = |s: &(Vec<Duration>, Duration)| s.0.len() as f64 / s.1.as_secs_f64().max(1e-9);
    let note = format!("targets in the dial string: stock {} / module {}", targets[0], targets[1]);
    rows.push(
        Row::new(
            format!("MULTIREG_DIAL vs PJSIP_DIAL_CONTACTS, {DIAL_DEVICES} devices (AMI Getvar)"),
            "evals/s",
            rate(&samples[0]),
            rate(&samples[1]),
            Better::Higher,
        )
        .with_note(note),
    );
    rows.push(Row::new(
        "MULTIREG_DIAL vs PJSIP_DIAL_CONTACTS, p50",
        "ms",
        percentile_ms(&samples[0].0, 0.5),
        percentile_ms(&samples[1].0, 0.5),
        Better::Lower,
    ));
    rows.push(Row::new(
        "PJSIP_DIAL_CONTACTS on the module instance vs stock",
        "evals/s",
        rate(&samples[0]),
        rate(&samples[2]),
        Better::Higher,
    ));
}

/// Boot, reload, load and memory over reloads with `extensions` dual-registration extensions.
fn reload_workloads(settings: &Settings, rows: &mut Vec<Row>) -> Option<(usize, u64, u64)> {
    let extensions = settings.reload_extensions;
    if extensions == 0 {
        return None;
    }
    let devices = settings.devices;
    let timeout = settings.timeout;
    log(format!(
        "reload set: {extensions} extensions, {} rounds, {} reloads for memory",
        settings.reload_rounds, settings.reloads
    ));
    let flavors = [Flavor::Baseline, Flavor::Module];
    let mut instances: Vec<Instance> = [("stock", Flavor::Baseline), ("module", Flavor::Module)]
        .into_iter()
        .map(|(label, flavor)| {
            Instance::create(label, flavor == Flavor::Module, |ip| config::pjsip_conf(ip, extensions, devices, flavor, 0))
        })
        .collect();
    let mut marker = 0u32;
    let conf = |instance: &Instance, flavor: Flavor, marker: u32| {
        instance.write_pjsip(&config::pjsip_conf(&instance.ip, extensions, devices, flavor, marker));
    };
    // Boot, one instance at a time, alternating which goes first.
    let mut boot = [Duration::ZERO; 2];
    for round in 0..settings.reload_rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        let last = round + 1 == settings.reload_rounds;
        for i in order {
            let took = instances[i].boot(timeout);
            log(format!("{}: boot with {extensions} extensions: {:.2} s", instances[i].label, took.as_secs_f64()));
            boot[i] += took;
            // The last round's instances stay up for what follows (the first is idle while the
            // second boots).
            if !last {
                instances[i].stop();
            }
        }
    }
    let rss_idle = [instances[0].rss(), instances[1].rss()];
    let mut unchanged = [Duration::ZERO; 2];
    let mut changed = [Duration::ZERO; 2];
    let mut load = [Duration::ZERO; 2];
    for round in 0..settings.reload_rounds {
        let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            let instance = &instances[i];
            let (took, _) = instance.timed_cli("module reload res_pjsip.so", timeout);
            log(format!("{}: reload, pjsip.conf unchanged: {:.2} s", instance.label, took.as_secs_f64()));
            unchanged[i] += took;
            marker += 1;
            conf(instance, flavors[i], marker);
            let (took, _) = instance.timed_cli("module reload res_pjsip.so", timeout);
            log(format!("{}: reload, pjsip.conf changed: {:.2} s", instance.label, took.as_secs_f64()));
            changed[i] += took;
            let took = if instance.with_module {
                // `asterisk -rx` may return before a long command ends (its output is then
                // empty); the time runs until Asterisk is idle, and the result is checked after.
                instance.timed_cli("module unload res_pjsip_multireg.so", timeout);
                let (took, _) = instance.timed_cli("module load res_pjsip_multireg.so", timeout);
                let shown = instance.cli("module show like res_pjsip_multireg");
                if !shown.contains("res_pjsip_multireg.so") {
                    log(format!("module: res_pjsip_multireg is not loaded after `module load`:\n{shown}"));
                }
                took
            } else {
                marker += 1;
                conf(instance, Flavor::BaselineWithoutSecondaries, marker);
                instance.timed_cli("module reload res_pjsip.so", timeout);
                conf(instance, Flavor::Baseline, marker);
                instance.timed_cli("module reload res_pjsip.so", timeout).0
            };
            log(format!("{}: load: {:.2} s, RSS {:.0} MB", instance.label, took.as_secs_f64(), mb(instance.rss())));
            load[i] += took;
        }
    }
    for instance in &instances {
        let secondary = format!("{}r", config::extension(0));
        let shown = instance.cli(&format!("pjsip show endpoint {secondary}"));
        if !shown.contains(&format!("Endpoint:  {secondary}")) {
            log(format!("{}: no endpoint {secondary} after the reloads and load", instance.label));
        }
    }
    let rss_before = [instances[0].rss(), instances[1].rss()];
    // Growth is read over the second half of the reloads: the first ones may still be filling
    // the heap to its working size (stock's own load rounds already did), which is not a leak.
    let halfway = settings.reloads / 2;
    let mut rss_halfway = rss_before;
    for n in 0..settings.reloads {
        for i in [0, 1] {
            marker += 1;
            conf(&instances[i], flavors[i], marker);
            instances[i].timed_cli("module reload res_pjsip.so", timeout);
        }
        log(format!(
            "memory: reload {} of {}: RSS stock {:.0} MB, module {:.0} MB",
            n + 1,
            settings.reloads,
            mb(instances[0].rss()),
            mb(instances[1].rss())
        ));
        if n + 1 == halfway {
            rss_halfway = [instances[0].rss(), instances[1].rss()];
        }
    }
    let rss_after = [instances[0].rss(), instances[1].rss()];
    let rounds = settings.reload_rounds as f64;
    let avg = |d: Duration| d.as_secs_f64() / rounds;
    let name = format!("{extensions} dual-registration extensions");
    rows.push(Row::new(format!("{name}: boot until idle"), "s", avg(boot[0]), avg(boot[1]), Better::Lower));
    rows.push(Row::new(
        format!("{name}: module reload res_pjsip.so, pjsip.conf unchanged"),
        "s",
        avg(unchanged[0]),
        avg(unchanged[1]),
        Better::Lower,
    ));
    rows.push(Row::new(
        format!("{name}: module reload res_pjsip.so, pjsip.conf changed"),
        "s",
        avg(changed[0]),
        avg(changed[1]),
        Better::Lower,
    ));
    rows.push(
        Row::new(format!("{name}: module load"), "s", avg(load[0]), avg(load[1]), Better::Lower)
            .with_note("stock: the reload that adds the hand-written secondaries"),
    );
    rows.push(Row::new(format!("{name}: RSS idle"), "MB", mb(rss_idle[0]), mb(rss_idle[1]), Better::Lower));
    rows.push(Row::new(
        format!("{name}: RSS after {} more reloads (pjsip.conf changed each time)", settings.reloads),
        "MB",
        mb(rss_after[0]),
        mb(rss_after[1]),
        Better::Lower,
    ));
    if settings.reloads > 0 {
        let later = settings.reloads - halfway;
        let per = |from: [u64; 2], i: usize, count: usize| (rss_after[i] as f64 - from[i] as f64) / 1024.0 / count as f64;
        rows.push(
            Row::new(
                format!("{name}: RSS growth per reload, last {later} of {} reloads", settings.reloads),
                "KB",
                per(rss_halfway, 0, later),
                per(rss_halfway, 1, later),
                Better::Lower,
            )
            .with_note(format!(
                "over all {}: stock {:.0} KB, module {:.0} KB per reload",
                settings.reloads,
                per(rss_before, 0, settings.reloads),
                per(rss_before, 1, settings.reloads)
            )),
        );
    }
    for instance in &instances {
        let errors = instance.errors();
        if !errors.is_empty() {
            log(format!("{}: {} ERROR lines, first: {}", instance.label, errors.len(), errors[0]));
        }
    }
    Some((extensions, rss_idle[0], rss_idle[1]))
}

fn main() {
    let settings = Settings::from_env();
    let begun = Instant::now();
    let load_before = bench_support::load_average();
    let machine = bench_support::machine();
    log(format!("{machine}; load average {load_before}"));
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for (n, &size) in settings.sizes.iter().enumerate() {
        summaries.push(size_workloads(size, &settings, n == 0, &mut rows));
        save_partial(&rows);
    }
    if settings.sizes.is_empty() {
        log("BENCH_SIZES is empty: no REGISTER workloads");
    }
    let reload = reload_workloads(&settings, &mut rows);

    // Derived figures.
    let mut derived = Vec::new();
    match growth_line("module time per REGISTER decision", &summaries, |s| s.module_ns) {
        Some(Some(line)) => derived.push(line),
        Some(None) => {}
        None => derived.push("module time per REGISTER: not measured (no `multireg show stats` in this build)".into()),
    }
    if let Some(Some(line)) = growth_line("module CPU time per REGISTER decision (sampled)", &summaries, |s| s.module_cpu_ns) {
        derived.push(line);
    }
    if let Some(largest) = summaries.iter().max_by_key(|s| s.contacts) {
        let per_device = (largest.module_rss_delta - largest.stock_rss_delta) as f64 / largest.contacts as f64;
        derived.push(format!(
            "module bytes per registered device: {per_device:.0} (RSS growth by the {} registrations, module minus stock; \
             the module's idle RSS is trimmed after load, so its growth includes refilling what stock still had resident)",
            largest.contacts
        ));
        derived.push(format!(
            "RSS with the {} contacts, module minus stock: {:.1} MB ({:.0} bytes per contact)",
            largest.contacts,
            largest.rss_contacts_difference as f64 / 1048576.0,
            largest.rss_contacts_difference as f64 / largest.contacts as f64
        ));
    }
    if let Some((extensions, stock, module)) = reload {
        derived.push(format!(
            "module bytes per configured extension: {:.0} (idle RSS, module minus stock with hand-written secondaries, {extensions} extensions)",
            (module as f64 - stock as f64) / extensions as f64
        ));
    }

    let load_after = bench_support::load_average();
    let elapsed = begun.elapsed().as_secs_f64();
    let arenas = std::env::var("BENCH_MALLOC_ARENA_MAX").map(|v| format!("BENCH_MALLOC_ARENA_MAX={v} ")).unwrap_or_default();
    let command = format!(
        "BENCH_SIZES={} BENCH_DEVICES={} BENCH_ROUNDS={} BENCH_ROUNDS_LARGE={} BENCH_WINDOW={} BENCH_MASS_WINDOW={} \
         BENCH_RELOAD_EXTENSIONS={} BENCH_RELOAD_ROUNDS={} BENCH_RELOADS={} {arenas}make bench-scale",
        settings.sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        settings.devices,
        settings.rounds,
        settings.rounds_large,
        settings.window,
        settings.mass_window,
        settings.reload_extensions,
        settings.reload_rounds,
        settings.reloads
    );
    let module_rev = std::process::Command::new("git")
        .args(["log", "-1", "--format=%h %s"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    println!();
    println!("res_pjsip_multireg vs stock Asterisk 22 with hand-written secondaries, {elapsed:.0} s");
    println!("machine: {machine}; load average before {load_before}, after {load_after}");
    println!("command: {command}");
    println!("commit: {module_rev}");
    println!();
    report::print_table(&rows);
    println!();
    for line in &derived {
        println!("{line}");
    }

    let mut section = String::new();
    section.push_str(&format!(
        "Run finished {} UTC, took {elapsed:.0} s. Machine: {machine}. Load average (1/5/15 min) before {load_before}, after \
         {load_after} (the machine is shared).\n\nCommand: `{command}`\n\nCommit: `{module_rev}`\n\n",
        utc_now()
    ));
    section.push_str(&report::markdown(&rows));
    section.push('\n');
    for line in &derived {
        section.push_str(&format!("- {line}\n"));
    }
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale.md");
    let _ = std::fs::write(&out, &section);
    println!("\nMarkdown written to {}", out.display());
    if settings.docs {
        let docs = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/benchmarks.md");
        match report::write_docs(&docs, &section) {
            Ok(()) => println!("Results section of {} replaced", docs.display()),
            Err(e) => println!("could not write {}: {e}", docs.display()),
        }
    }
}

/// What is measured so far, in case a later workload fails.
fn save_partial(rows: &[Row]) {
    let out = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-scale.md");
    let _ = std::fs::write(out, format!("(partial: the run went on)\n\n{}", report::markdown(rows)));
}

fn utc_now() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%F %H:%M"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
