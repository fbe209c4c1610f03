//! The module's own cost on the REGISTER path, for `multireg show stats` and benchmarks.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static STORE_READS: AtomicU64 = AtomicU64::new(0);
static REFUSALS: AtomicU64 = AtomicU64::new(0);
static BOOKS_READ_AHEAD: AtomicU64 = AtomicU64::new(0);

/// One step of the REGISTER path the module runs: the limit decision before the registrar, and
/// the registrar's answer applied to the book after it.
pub static DECISIONS: Timings = Timings::new();
pub static ANSWERS: Timings = Timings::new();

/// One time in this many the thread's CPU time is read too (about 0.5 µs per read, too much for
/// every REGISTER): unlike the wall time, it does not count time the thread waited for a core.
const CPU_SAMPLE_EVERY: u64 = 16;

/// How often a step ran and how long it took.
pub struct Timings {
    count: AtomicU64,
    nanos: AtomicU64,
    /// Each step counts its own samples: sharing one counter, a strict alternation of decision
    /// and answer would sample only one of the two.
    ticks: AtomicU64,
    sampled: AtomicU64,
    cpu_nanos: AtomicU64,
}

impl Timings {
    const fn new() -> Timings {
        Timings {
            count: AtomicU64::new(0),
            nanos: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            cpu_nanos: AtomicU64::new(0),
        }
    }

    pub fn record(&self, took: Duration) {
        self.count.fetch_add(1, Ordering::Relaxed);
        self.nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// Whether this run's CPU time is read.
    pub fn sample_cpu(&self) -> bool {
        self.ticks.fetch_add(1, Ordering::Relaxed).is_multiple_of(CPU_SAMPLE_EVERY)
    }

    pub fn record_cpu(&self, took: Duration) {
        self.sampled.fetch_add(1, Ordering::Relaxed);
        self.cpu_nanos.fetch_add(nanos(took), Ordering::Relaxed);
    }

    /// `<one>s`, `<one>_ns`, `<one>_avg_ns` and the same for the sampled CPU time.
    fn values(&self, [count, total, average, sampled, cpu_total, cpu_average]: [&'static str; 6]) -> [(&'static str, u64); 6] {
        let (runs, nanos) = (self.count.load(Ordering::Relaxed), self.nanos.load(Ordering::Relaxed));
        let (samples, cpu_nanos) = (self.sampled.load(Ordering::Relaxed), self.cpu_nanos.load(Ordering::Relaxed));
        [
            (count, runs),
            (total, nanos),
            (average, nanos.checked_div(runs).unwrap_or(0)),
            (sampled, samples),
            (cpu_total, cpu_nanos),
            (cpu_average, cpu_nanos.checked_div(samples).unwrap_or(0)),
        ]
    }

    fn reset(&self) {
        for counter in [&self.count, &self.nanos, &self.ticks, &self.sampled, &self.cpu_nanos] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

fn nanos(took: Duration) -> u64 {
    took.as_nanos().min(u128::from(u64::MAX)) as u64
}

pub fn store_read() {
    STORE_READS.fetch_add(1, Ordering::Relaxed);
}

/// An AOR's device book read from the store by the background pass, not on the SIP path.
pub fn book_read_ahead() {
    BOOKS_READ_AHEAD.fetch_add(1, Ordering::Relaxed);
}

pub fn refusal() {
    REFUSALS.fetch_add(1, Ordering::Relaxed);
}

/// (name, value) pairs, in the order shown.
pub fn snapshot() -> Vec<(&'static str, u64)> {
    let footprint = super::books::footprint();
    let mut values = Vec::with_capacity(18);
    values.extend(DECISIONS.values([
        "register_decisions",
        "register_decision_ns",
        "register_decision_avg_ns",
        "register_decisions_cpu_sampled",
        "register_decision_cpu_ns",
        "register_decision_cpu_avg_ns",
    ]));
    values.extend(ANSWERS.values([
        "register_answers",
        "register_answer_ns",
        "register_answer_avg_ns",
        "register_answers_cpu_sampled",
        "register_answer_cpu_ns",
        "register_answer_cpu_avg_ns",
    ]));
    values.extend([
        ("register_store_reads", STORE_READS.load(Ordering::Relaxed)),
        ("register_refusals", REFUSALS.load(Ordering::Relaxed)),
        ("books_read_ahead", BOOKS_READ_AHEAD.load(Ordering::Relaxed)),
        ("books", footprint.books as u64),
        ("book_devices", footprint.devices as u64),
        ("book_bytes", (footprint.bytes + super::texts::heap_bytes()) as u64),
    ]);
    values
}

pub fn reset() {
    DECISIONS.reset();
    ANSWERS.reset();
    for counter in [&STORE_READS, &REFUSALS, &BOOKS_READ_AHEAD] {
        counter.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_average() {
        reset();
        DECISIONS.record(Duration::from_nanos(100));
        DECISIONS.record(Duration::from_nanos(300));
        refusal();
        store_read();
        book_read_ahead();
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!(values["register_decisions"], 2);
        assert_eq!(values["register_decision_ns"], 400);
        assert_eq!(values["register_decision_avg_ns"], 200);
        assert_eq!((values["register_refusals"], values["register_store_reads"]), (1, 1));
        assert_eq!(values["books_read_ahead"], 1);
        let sampled = (0..32).filter(|_| DECISIONS.sample_cpu()).count();
        assert_eq!(sampled as u64, 32 / CPU_SAMPLE_EVERY);
        DECISIONS.record_cpu(Duration::from_nanos(500));
        DECISIONS.record_cpu(Duration::from_nanos(700));
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!((values["register_decisions_cpu_sampled"], values["register_decision_cpu_avg_ns"]), (2, 600));
        // Answers: their own counters, and their own samples even when they alternate with
        // decisions one for one.
        let mut answers_sampled = 0;
        for _ in 0..32 {
            DECISIONS.sample_cpu();
            answers_sampled += usize::from(ANSWERS.sample_cpu());
        }
        assert_eq!(answers_sampled as u64, 32 / CPU_SAMPLE_EVERY);
        ANSWERS.record(Duration::from_nanos(1000));
        ANSWERS.record(Duration::from_nanos(3000));
        ANSWERS.record_cpu(Duration::from_nanos(800));
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!((values["register_answers"], values["register_answer_avg_ns"]), (2, 2000));
        assert_eq!((values["register_answers_cpu_sampled"], values["register_answer_cpu_avg_ns"]), (1, 800));
        assert_eq!(values["register_decisions"], 2, "answers are not decisions");
    }
}
