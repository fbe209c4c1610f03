//! Where `type=multireg` policies come from: the sorcery type `multireg` (pjsip.conf by default,
//! or a realtime table mapped in sorcery.conf), read as name/value text and validated by
//! `policy::config::parse_section`. Remembers what was last applied so a notification that
//! nothing changed (res_pjsip reload with the same pjsip.conf) does not re-apply or re-log.
use std::sync::Mutex;

use crate::asterisk::config::Section;
use crate::asterisk::sorcery_types::{self, POLICY_TYPE};

static LAST_APPLIED: Mutex<Option<Vec<Section>>> = Mutex::new(None);

/// What the store holds now, or None when it should not replace the policies in force: a shared
/// store (realtime) that returns nothing while policies are in force is taken as unreachable.
pub fn read(in_force: usize) -> Option<Vec<Section>> {
    let sections = sorcery_types::all(POLICY_TYPE);
    if sections.is_empty() && in_force > 0 && !sorcery_types::is_local(POLICY_TYPE) {
        tracing::warn!(
            "multireg: the shared store mapped to type multireg returned no policies; keeping the {in_force} in force (is the database reachable?)"
        );
        return None;
    }
    Some(sections)
}

/// Whether `sections` differ from what was last applied; remembers them either way.
pub fn changed(sections: &[Section]) -> bool {
    let mut last = LAST_APPLIED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let changed = last.as_deref() != Some(sections);
    *last = Some(sections.to_vec());
    changed
}

/// Forgets what was applied (module load).
pub fn reset() {
    *LAST_APPLIED.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}
