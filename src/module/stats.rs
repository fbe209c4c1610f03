//! The module's own cost on the REGISTER path, for `multireg show stats` and benchmarks.
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static DECISIONS: AtomicU64 = AtomicU64::new(0);
static DECISION_NANOS: AtomicU64 = AtomicU64::new(0);
static STORE_READS: AtomicU64 = AtomicU64::new(0);
static REFUSALS: AtomicU64 = AtomicU64::new(0);
static BOOKS_READ_AHEAD: AtomicU64 = AtomicU64::new(0);
static SAMPLE_TICKS: AtomicU64 = AtomicU64::new(0);
static SAMPLED: AtomicU64 = AtomicU64::new(0);
static SAMPLED_CPU_NANOS: AtomicU64 = AtomicU64::new(0);
static ANSWERS: AtomicU64 = AtomicU64::new(0);
static ANSWER_NANOS: AtomicU64 = AtomicU64::new(0);
/// Answers count their own samples: sharing the decisions' ticks, a strict alternation of
/// decision and answer would sample only one of the two.
static ANSWER_TICKS: AtomicU64 = AtomicU64::new(0);
static ANSWERS_SAMPLED: AtomicU64 = AtomicU64::new(0);
static ANSWER_CPU_NANOS: AtomicU64 = AtomicU64::new(0);

/// One decision in this many also has its thread's CPU time read (about 0.5 µs per read, too
/// much for every REGISTER): unlike the wall time, it does not count time the thread waited for
/// a core.
const CPU_SAMPLE_EVERY: u64 = 16;

pub fn decision(took: Duration) {
    DECISIONS.fetch_add(1, Ordering::Relaxed);
    DECISION_NANOS.fetch_add(nanos(took), Ordering::Relaxed);
}

/// Whether the next decision's CPU time is read.
pub fn sample_cpu() -> bool {
    SAMPLE_TICKS.fetch_add(1, Ordering::Relaxed).is_multiple_of(CPU_SAMPLE_EVERY)
}

pub fn decision_cpu(took: Duration) {
    SAMPLED.fetch_add(1, Ordering::Relaxed);
    SAMPLED_CPU_NANOS.fetch_add(nanos(took), Ordering::Relaxed);
}

/// The registrar's answer to an admitted REGISTER was applied to its book.
pub fn answer(took: Duration) {
    ANSWERS.fetch_add(1, Ordering::Relaxed);
    ANSWER_NANOS.fetch_add(nanos(took), Ordering::Relaxed);
}

/// Whether the next answer's CPU time is read.
pub fn sample_answer_cpu() -> bool {
    ANSWER_TICKS.fetch_add(1, Ordering::Relaxed).is_multiple_of(CPU_SAMPLE_EVERY)
}

pub fn answer_cpu(took: Duration) {
    ANSWERS_SAMPLED.fetch_add(1, Ordering::Relaxed);
    ANSWER_CPU_NANOS.fetch_add(nanos(took), Ordering::Relaxed);
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
    let decisions = DECISIONS.load(Ordering::Relaxed);
    let nanos = DECISION_NANOS.load(Ordering::Relaxed);
    let (sampled, sampled_nanos) = (SAMPLED.load(Ordering::Relaxed), SAMPLED_CPU_NANOS.load(Ordering::Relaxed));
    let (answers, answer_nanos) = (ANSWERS.load(Ordering::Relaxed), ANSWER_NANOS.load(Ordering::Relaxed));
    let (answers_sampled, answer_cpu_nanos) = (ANSWERS_SAMPLED.load(Ordering::Relaxed), ANSWER_CPU_NANOS.load(Ordering::Relaxed));
    let footprint = super::books::footprint();
    vec![
        ("register_decisions", decisions),
        ("register_decision_ns", nanos),
        ("register_decision_avg_ns", nanos.checked_div(decisions).unwrap_or(0)),
        ("register_decisions_cpu_sampled", sampled),
        ("register_decision_cpu_ns", sampled_nanos),
        ("register_decision_cpu_avg_ns", sampled_nanos.checked_div(sampled).unwrap_or(0)),
        ("register_answers", answers),
        ("register_answer_ns", answer_nanos),
        ("register_answer_avg_ns", answer_nanos.checked_div(answers).unwrap_or(0)),
        ("register_answers_cpu_sampled", answers_sampled),
        ("register_answer_cpu_ns", answer_cpu_nanos),
        ("register_answer_cpu_avg_ns", answer_cpu_nanos.checked_div(answers_sampled).unwrap_or(0)),
        ("register_store_reads", STORE_READS.load(Ordering::Relaxed)),
        ("register_refusals", REFUSALS.load(Ordering::Relaxed)),
        ("books_read_ahead", BOOKS_READ_AHEAD.load(Ordering::Relaxed)),
        ("books", footprint.books as u64),
        ("book_devices", footprint.devices as u64),
        ("book_bytes", (footprint.bytes + super::texts::heap_bytes()) as u64),
    ]
}

pub fn reset() {
    for counter in [
        &DECISIONS,
        &DECISION_NANOS,
        &STORE_READS,
        &REFUSALS,
        &BOOKS_READ_AHEAD,
        &SAMPLE_TICKS,
        &SAMPLED,
        &SAMPLED_CPU_NANOS,
        &ANSWERS,
        &ANSWER_NANOS,
        &ANSWER_TICKS,
        &ANSWERS_SAMPLED,
        &ANSWER_CPU_NANOS,
    ] {
        counter.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_and_average() {
        reset();
        decision(Duration::from_nanos(100));
        decision(Duration::from_nanos(300));
        refusal();
        store_read();
        book_read_ahead();
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!(values["register_decisions"], 2);
        assert_eq!(values["register_decision_ns"], 400);
        assert_eq!(values["register_decision_avg_ns"], 200);
        assert_eq!((values["register_refusals"], values["register_store_reads"]), (1, 1));
        assert_eq!(values["books_read_ahead"], 1);
        let sampled = (0..32).filter(|_| sample_cpu()).count();
        assert_eq!(sampled as u64, 32 / CPU_SAMPLE_EVERY);
        decision_cpu(Duration::from_nanos(500));
        decision_cpu(Duration::from_nanos(700));
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!((values["register_decisions_cpu_sampled"], values["register_decision_cpu_avg_ns"]), (2, 600));
        // Answers: their own counters, and their own samples even when they alternate with
        // decisions one for one.
        let mut answers_sampled = 0;
        for _ in 0..32 {
            sample_cpu();
            answers_sampled += usize::from(sample_answer_cpu());
        }
        assert_eq!(answers_sampled as u64, 32 / CPU_SAMPLE_EVERY);
        answer(Duration::from_nanos(1000));
        answer(Duration::from_nanos(3000));
        answer_cpu(Duration::from_nanos(800));
        let values: std::collections::HashMap<_, _> = snapshot().into_iter().collect();
        assert_eq!((values["register_answers"], values["register_answer_avg_ns"]), (2, 2000));
        assert_eq!((values["register_answers_cpu_sampled"], values["register_answer_cpu_avg_ns"]), (1, 800));
        assert_eq!(values["register_decisions"], 2, "answers are not decisions");
    }
}
