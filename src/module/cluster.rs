//! What this node shares with others: whether contacts (`location`) and ring modes live in a
//! store several Asterisk nodes use (a realtime table), as sorcery.conf maps them. Read at load
//! and each reload (sorcery mappings change only when res_pjsip is loaded again), so the REGISTER
//! path reads one atomic.
use std::sync::atomic::{AtomicBool, Ordering};

use crate::asterisk::sorcery_types::{self, RING_MODE_TYPE};

static LOCATION_SHARED: AtomicBool = AtomicBool::new(false);
static RING_MODES_SHARED: AtomicBool = AtomicBool::new(false);

pub fn refresh() {
    let location = !sorcery_types::is_local("contact");
    let ring_modes = !sorcery_types::is_local(RING_MODE_TYPE);
    if location != LOCATION_SHARED.swap(location, Ordering::Relaxed) || ring_modes != RING_MODES_SHARED.load(Ordering::Relaxed) {
        tracing::info!(
            "multireg: contacts are {}; ring modes are {}",
            if location {
                "in a shared store: every REGISTER under a policy counts the devices of every node"
            } else {
                "local to this node"
            },
            if ring_modes { "in a shared store: read at every call" } else { "local to this node" }
        );
    }
    RING_MODES_SHARED.store(ring_modes, Ordering::Relaxed);
}

/// Contacts are in a store other nodes write too: the device book must be re-read per REGISTER.
pub fn location_shared() -> bool {
    LOCATION_SHARED.load(Ordering::Relaxed)
}

/// Ring modes are in a store other nodes write too: never cached.
pub fn ring_modes_shared() -> bool {
    RING_MODES_SHARED.load(Ordering::Relaxed)
}
