//! What this node shares with others: whether contacts (`location`), ring modes, push bindings
//! and logouts live in a store several Asterisk nodes use (a realtime table), as sorcery.conf
//! maps them. Read at load and each reload (sorcery mappings change only when res_pjsip is
//! loaded again), so the REGISTER path reads one atomic.
use std::sync::atomic::{AtomicBool, Ordering};

use crate::asterisk::sorcery_types::{self, LOGOUT_TYPE, PUSH_TYPE, RING_MODE_TYPE};

static LOCATION_SHARED: AtomicBool = AtomicBool::new(false);
static RING_MODES_SHARED: AtomicBool = AtomicBool::new(false);
static PUSH_SHARED: AtomicBool = AtomicBool::new(false);
static LOGOUTS_SHARED: AtomicBool = AtomicBool::new(false);

fn describe(shared: bool, how: &str) -> String {
    if shared {
        format!("in a shared store: {how}")
    } else {
        "local to this node".to_string()
    }
}

pub fn refresh() {
    let location = !sorcery_types::is_local("contact");
    let ring_modes = !sorcery_types::is_local(RING_MODE_TYPE);
    let push = !sorcery_types::is_local(PUSH_TYPE);
    let logouts = !sorcery_types::is_local(LOGOUT_TYPE);
    let changed = location
        != LOCATION_SHARED.swap(location, Ordering::Relaxed)
            | (ring_modes != RING_MODES_SHARED.swap(ring_modes, Ordering::Relaxed))
            | (push != PUSH_SHARED.swap(push, Ordering::Relaxed))
            | (logouts != LOGOUTS_SHARED.swap(logouts, Ordering::Relaxed));
    if changed {
        tracing::info!(
            "multireg: contacts are {}; ring modes are {}; push bindings are {}; logouts are {}",
            describe(location, "every REGISTER under a policy counts the devices of every node"),
            describe(ring_modes, "read at every call"),
            describe(push, "read at every call and listing"),
            describe(logouts, "every REGISTER under a policy reads them")
        );
    }
}

/// Contacts are in a store other nodes write too: the device book must be re-read per REGISTER.
pub fn location_shared() -> bool {
    LOCATION_SHARED.load(Ordering::Relaxed)
}

/// Ring modes are in a store other nodes write too: never cached.
pub fn ring_modes_shared() -> bool {
    RING_MODES_SHARED.load(Ordering::Relaxed)
}

/// Push bindings are in a store other nodes write too: read from it when needed.
pub fn push_shared() -> bool {
    PUSH_SHARED.load(Ordering::Relaxed)
}

/// Logouts are in a store other nodes write too: a REGISTER under a policy reads it.
pub fn logouts_shared() -> bool {
    LOGOUTS_SHARED.load(Ordering::Relaxed)
}
