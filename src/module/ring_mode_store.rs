//! Where ring modes are kept: the astdb (so they survive restarts), with a cache per (re)load,
//! and the change event. The rules about modes are in `policy::ringmode`.
use super::state::STATE;
use crate::asterisk::{astdb, manager};
use crate::policy::config::MultiregConfig;
use crate::policy::ringmode::{astdb_key, decode_or_default, encode, RingMode, ASTDB_FAMILY};

/// The stored mode. The astdb is read once per extension and (re)load, then cached, because
/// every call to the extension asks.
pub fn current(config: &MultiregConfig) -> RingMode {
    if let Some(mode) = STATE.lock().ring_modes.get(&config.endpoint) {
        return *mode;
    }
    let stored = astdb_key(&config.endpoint).ok().and_then(|key| astdb::get(ASTDB_FAMILY, key));
    let mode = decode_or_default(stored.as_deref(), config.ring_mode_default);
    STATE.lock().ring_modes.insert(config.endpoint.clone(), mode);
    mode
}

/// Stores a new mode, logs it and raises MultiregRingModeChanged.
pub fn set(config: &MultiregConfig, mode: RingMode, changed_by: &str) -> Result<RingMode, String> {
    let key = astdb_key(&config.endpoint)?;
    let old = current(config);
    if !astdb::put(ASTDB_FAMILY, key, encode(mode)) {
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
