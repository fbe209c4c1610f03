//! After the module loads, every policy AOR's device book is read from the location store once, on
//! the module's background serializer, so that the first REGISTER of each AOR (all of them at once when
//! Asterisk itself restarts) decides without reading the store on the SIP path. Not after reloads:
//! nearly every book is known by then, and an AOR a reload adds is read at its first REGISTER.
//!
//! A book is read exactly as a REGISTER would read it (`registrar::fill_book`): created first, so
//! an answer or a removal that overtakes the read makes the read count for nothing. Books already
//! known are skipped; with `location` shared between nodes books are never trusted alone, so there
//! is nothing to warm. One pass at a time: a pass asked for while one runs replaces what is left of
//! it.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::{cluster, policies, registrar};
use crate::asterisk::registration::queue_background_work;
use crate::asterisk::sorcery::endpoint_aors;
use crate::policy::config::MultiregConfig;

/// Policies read per task. The serializer runs on one of res_pjsip's pool workers, and work that
/// other serializers (REGISTERs among them) queue behind that worker waits for the task in
/// progress: so a pass is many short tasks, each queueing the next.
const POLICIES_PER_TASK: usize = 16;

/// A task is queued and has not started yet.
static QUEUED: AtomicBool = AtomicBool::new(false);
/// The module is unloading: a task in progress ends after the AOR it is reading, and queues no next.
static STOPPING: AtomicBool = AtomicBool::new(false);
/// The policies the pass in progress has still to read, last first (popped from the end).
static PENDING: Mutex<Vec<Arc<MultiregConfig>>> = Mutex::new(Vec::new());
/// Books the pass in progress has read so far.
static READ: AtomicUsize = AtomicUsize::new(0);

fn pending() -> std::sync::MutexGuard<'static, Vec<Arc<MultiregConfig>>> {
    PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// At load, before the first pass; at unload, so that no policy outlives the module.
pub fn reset() {
    STOPPING.store(false, Ordering::Release);
    QUEUED.store(false, Ordering::Release);
    *pending() = Vec::new();
    READ.store(0, Ordering::Relaxed);
}

/// Asks for a pass over the policies in force (once the background serializer gets to it).
pub fn start() {
    if STOPPING.load(Ordering::Acquire) || cluster::location_shared() {
        return;
    }
    let mut policies = policies::current().sorted();
    policies.reverse();
    *pending() = policies;
    READ.store(0, Ordering::Relaxed);
    queue_next();
}

/// Queues the next task unless one is queued already.
fn queue_next() {
    if QUEUED.swap(true, Ordering::AcqRel) {
        return;
    }
    if !queue_background_work() {
        QUEUED.store(false, Ordering::Release);
        *pending() = Vec::new();
        tracing::warn!(
            "multireg: no background serializer to read the device books ahead; each AOR is read at its first REGISTER"
        );
    }
}

/// Before unload: a task in progress stops after its current AOR, and the ones still queued
/// return at once (the background serializer's registration then waits for them).
pub fn stop() {
    STOPPING.store(true, Ordering::Release);
}

/// One task of a pass, on the background serializer: up to POLICIES_PER_TASK policies.
pub fn run() {
    QUEUED.store(false, Ordering::Release);
    let chunk: Vec<Arc<MultiregConfig>> = {
        let mut pending = pending();
        let keep = pending.len().saturating_sub(POLICIES_PER_TASK);
        pending.split_off(keep)
    };
    for config in chunk.iter().rev() {
        for endpoint in std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint()) {
            for aor in endpoint_aors(&endpoint) {
                if STOPPING.load(Ordering::Acquire) || cluster::location_shared() {
                    return;
                }
                if registrar::fill_book(&aor, config) {
                    READ.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    if STOPPING.load(Ordering::Acquire) {
        return;
    }
    if pending().is_empty() {
        tracing::debug!(
            "multireg: {} device books read from the store ahead of their first REGISTER",
            READ.load(Ordering::Relaxed)
        );
    } else {
        queue_next();
    }
}
