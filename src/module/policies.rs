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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_swaps_the_whole_snapshot() {
        let before = current();
        let mut config = MultiregConfig::with_defaults("policies-test");
        config.dual_registration = true;
        replace(HashMap::from([("policies-test".to_string(), config)]));
        assert!(for_extension("policies-testr").is_some());
        assert!(before.for_extension("policies-test").is_none(), "a snapshot held by a caller never changes");
        replace(HashMap::new());
        assert!(for_extension("policies-test").is_none());
    }
}
