//! The module's shared state: the active configuration and what we know about each device.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use once_cell::sync::Lazy;

use crate::policy::classify::ClientType;
use crate::policy::config::MultiregConfig;
use crate::policy::ringmode::RingMode;

/// What the module learned about a device when it registered.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub call_id: String,
    pub contact: String,
    pub instance_id: Option<String>,
    pub client_type: ClientType,
    pub reason: String,
    pub user_agent: String,
    pub source: String,
    pub transport: String,
    /// First registration (unix seconds); refreshes keep it.
    pub registered_at: u64,
    /// Admitted but not yet seen in the contact store: counted until then, so concurrent
    /// REGISTERs cannot overshoot a limit.
    pub pending_until: Option<Instant>,
}

#[derive(Default)]
pub struct State {
    /// Active `type=multireg` sections by section name.
    pub configs: HashMap<String, MultiregConfig>,
    /// Devices per AOR name.
    pub devices: HashMap<String, Vec<DeviceInfo>>,
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

pub fn now_unix() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Forgets everything (module load after an unload of the same mapped image).
pub fn reset() {
    *STATE.lock() = State::default();
}
