//! Where ring modes are kept: the sorcery type `multireg_ringmode` (astdb by default, so they
//! survive restarts; a realtime table when sorcery.conf maps it, so every node reads the same
//! mode), and the change event. Modes stored by earlier versions directly in the astdb family
//! `multireg/ringmode` are moved into the type at load. The rules about modes are in
//! `policy::ringmode`.
use super::cluster;
use super::state::STATE;
use crate::asterisk::sorcery_types::{self, RING_MODE_TYPE};
use crate::asterisk::{astdb, manager};
use crate::policy::config::MultiregConfig;
use crate::policy::ringmode::{astdb_key, decode, decode_or_default, encode, RingMode, ASTDB_FAMILY};

const FIELD: &str = "mode";

fn stored(extension: &str) -> Option<String> {
    let fields = sorcery_types::get(RING_MODE_TYPE, extension)?;
    fields.into_iter().find(|(name, _)| name == FIELD).map(|(_, value)| value)
}

/// The stored mode. A local store is read once per extension and (re)load, then cached, because
/// every call to the extension asks; a shared one is read at every call (another node may have
/// changed it).
pub fn current(config: &MultiregConfig) -> RingMode {
    let shared = cluster::ring_modes_shared();
    if !shared {
        if let Some(mode) = STATE.lock().ring_modes.get(&config.endpoint) {
            return *mode;
        }
    }
    let value = astdb_key(&config.endpoint).ok().and_then(stored);
    let mode = decode_or_default(value.as_deref(), config.ring_mode_default);
    if !shared {
        STATE.lock().ring_modes.insert(config.endpoint.clone(), mode);
    }
    mode
}

/// Stores a new mode, logs it and raises MultiregRingModeChanged.
pub fn set(config: &MultiregConfig, mode: RingMode, changed_by: &str) -> Result<RingMode, String> {
    let key = astdb_key(&config.endpoint)?;
    let old = current(config);
    if !sorcery_types::put(RING_MODE_TYPE, key, &[(FIELD, encode(mode))]) {
        return Err(format!("could not store the ring mode of {}", config.endpoint));
    }
    STATE.lock().ring_modes.insert(config.endpoint.clone(), mode);
    tracing::info!("multireg: ring mode of {} changed from {old} to {mode} by {changed_by}", config.endpoint);
    manager::event(
        "MultiregRingModeChanged",
        &[
            ("Extension", config.endpoint.clone()),
            ("OldMode", old.as_str().to_string()),
            ("NewMode", mode.as_str().to_string()),
            ("ChangedBy", changed_by.to_string()),
        ],
    );
    Ok(old)
}

/// Moves modes stored by earlier versions (astdb family multireg/ringmode) into the
/// `multireg_ringmode` type; a mode the type already holds wins. Each moved key is deleted.
pub fn migrate_astdb_modes() {
    for (extension, value) in astdb::tree(ASTDB_FAMILY) {
        let Some(mode) = decode(&value) else { continue };
        if astdb_key(&extension).is_err() {
            continue;
        }
        let kept = stored(&extension).is_some() || sorcery_types::put(RING_MODE_TYPE, &extension, &[(FIELD, encode(mode))]);
        if kept && astdb::delete(ASTDB_FAMILY, &extension) {
            tracing::info!(
                "multireg: ring mode {mode} of {extension} moved from the astdb family {ASTDB_FAMILY} to {RING_MODE_TYPE}"
            );
        }
    }
}
