//! The module's shared state: the active configuration and what we know about each device.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use once_cell::sync::Lazy;

use crate::policy::ringmode::RingMode;

#[derive(Default)]
pub struct State {
    /// Secondary endpoint names we created, by primary endpoint.
    pub secondaries: HashMap<String, String>,
    /// Ring modes read from or written to the astdb since the last (re)load.
    pub ring_modes: HashMap<String, RingMode>,
}

/// std's Mutex, not parking_lot's: parking_lot keeps per-thread data with a destructor in every
/// Asterisk thread that ever waits on a lock, and glibc then never unmaps the module, so
/// `module unload` + `module load` could not pick up a new build.
pub struct SharedState(Mutex<State>);

impl SharedState {
    /// Locks the state; a panic elsewhere never makes it unusable.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

pub static STATE: Lazy<SharedState> = Lazy::new(|| SharedState(Mutex::new(State::default())));

/// Forgets everything (module load after an unload of the same mapped image).
pub fn reset() {
    *STATE.lock() = State::default();
}
