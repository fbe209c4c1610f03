//! After the module loads, every policy AOR's device book is read from the location store once, on
//! the module's background serializer, so that the first REGISTER of each AOR (all of them at once when
//! Asterisk itself restarts) decides without reading the store on the SIP path. Not after reloads:
//! nearly every book is known by then, and an AOR a reload adds is read at its first REGISTER.
//!
//! A book is read exactly as a REGISTER would read it (`registrar::fill_book`): created first, so
//! an answer or a removal that overtakes the read makes the read count for nothing. Books already
//! known are skipped; with `location` shared between nodes books are never trusted alone, so there
//! is nothing to warm. One pass at a time: a pass asked for while one is queued is that one.
use std::sync::atomic::{AtomicBool, Ordering};

use super::{cluster, policies, registrar};
use crate::asterisk::registration::queue_background_work;
use crate::asterisk::sorcery::endpoint_aors;

/// A pass is queued and has not started yet.
static QUEUED: AtomicBool = AtomicBool::new(false);
/// The module is unloading: a pass in progress ends after the AOR it is reading.
static STOPPING: AtomicBool = AtomicBool::new(false);

/// At load, before the first pass.
pub fn reset() {
    STOPPING.store(false, Ordering::Release);
    QUEUED.store(false, Ordering::Release);
}

/// Asks for a pass over the policies in force (once the background serializer gets to it).
pub fn start() {
    if STOPPING.load(Ordering::Acquire) || cluster::location_shared() || QUEUED.swap(true, Ordering::AcqRel) {
        return;
    }
    if !queue_background_work() {
        QUEUED.store(false, Ordering::Release);
        tracing::warn!(
            "multireg: no background serializer to read the device books ahead; each AOR is read at its first REGISTER"
        );
    }
}

/// Before unload: a pass in progress stops after its current AOR (the background serializer is then
/// ended by its registration, which waits for it).
pub fn stop() {
    STOPPING.store(true, Ordering::Release);
}

/// One pass, on the background serializer.
pub fn run() {
    QUEUED.store(false, Ordering::Release);
    let started = std::time::Instant::now();
    let mut read = 0usize;
    for config in policies::current().sorted() {
        for endpoint in std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint()) {
            for aor in endpoint_aors(&endpoint) {
                if STOPPING.load(Ordering::Acquire) || cluster::location_shared() {
                    return;
                }
                if registrar::fill_book(&aor, &config) {
                    read += 1;
                }
            }
        }
    }
    tracing::debug!("multireg: {read} device books read from the store ahead of their first REGISTER in {:?}", started.elapsed());
}
