//! The one shared copy of device text the books hold (User-Agents, transports, classification
//! reasons): see `policy::interner`.
use std::sync::Arc;

use once_cell::sync::Lazy;

use crate::policy::interner::Interner;

/// 8 shards of 512: far more distinct User-Agents and reasons than a PBX has.
static TEXTS: Lazy<Interner> = Lazy::new(|| Interner::new(512));

pub fn intern(text: &str) -> Arc<str> {
    TEXTS.intern(text)
}

/// After a reload dropped books: copies no device holds any more go.
pub fn release_unused() {
    TEXTS.release_unused();
}

/// Module unload: the static outlives nothing, so its tables are emptied.
pub fn forget() {
    TEXTS.clear();
}

pub fn heap_bytes() -> usize {
    TEXTS.heap_bytes()
}
