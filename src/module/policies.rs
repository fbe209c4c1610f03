//! The policies in force: one immutable snapshot, swapped whole on (re)load, so the SIP path
//! reads it without waiting on anything but a brief read lock.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use once_cell::sync::Lazy;

use crate::policy::config::MultiregConfig;
use crate::policy::policy_index::PolicyIndex;

static CURRENT: Lazy<RwLock<Arc<PolicyIndex>>> = Lazy::new(|| RwLock::new(Arc::new(PolicyIndex::default())));

/// The snapshot in force now.
pub fn current() -> Arc<PolicyIndex> {
    CURRENT.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
}

/// Puts a new set of policies in force.
pub fn replace(configs: HashMap<String, MultiregConfig>) -> Arc<PolicyIndex> {
    let index = Arc::new(PolicyIndex::new(configs));
    *CURRENT.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = index.clone();
    index
}

/// The policy for an endpoint (`101` or `101r`), as an owned handle.
pub fn for_extension(name: &str) -> Option<Arc<MultiregConfig>> {
    current().for_extension(name).cloned()
}
