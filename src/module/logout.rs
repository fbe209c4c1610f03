//! Remote logout (`multireg logout <ext> <device>`, AMI `MultiregLogout`): the device's contact
//! is removed and the device is refused for the extension's `logout_block_time`
//! (`policy::logouts`), with a 403 whose reason phrase says it was logged out.
//!
//! Logouts are kept through the sorcery type `multireg_logout` (astdb by default, so a block
//! survives `core restart now`; a realtime table when sorcery.conf maps it, so a device logged out
//! on one node is refused by every node). With a local store the REGISTER path consults only the
//! in-memory table (the store is written at logout and clear, read at load); with a shared one a
//! REGISTER under a policy costs one query (the extension's logouts).
use std::sync::Mutex;

use super::cluster;
use super::registrar::now_unix;
use super::{books, device_events, policies, views};
use crate::asterisk::sorcery_types::{self, LOGOUT_TYPE};
use crate::asterisk::{manager, pjsip, sorcery};
use crate::policy::device_book::Register;
use crate::policy::display::escape_controls;
use crate::policy::logouts::{DeviceKey, Logout, Logouts};
use crate::policy::unregister_reasons::UnregisterReason;

/// The reason phrase a logged-out device sees.
pub const REASON_PHRASE: &str = "Logged out by the administrator";

static LOGOUTS: Mutex<Option<Logouts>> = Mutex::new(None);

fn with_logouts<R>(f: impl FnOnce(&mut Logouts) -> R) -> R {
    let mut logouts = LOGOUTS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(logouts.get_or_insert_with(Logouts::default))
}

pub fn reset() {
    with_logouts(|logouts| *logouts = Logouts::default());
}

/// The stored logouts (of `extension`, or all) still in force; ended or unreadable ones are deleted.
fn stored(extension: Option<&str>, now: u64) -> Vec<(DeviceKey, Logout)> {
    let objects = match extension {
        Some(extension) => sorcery_types::find(LOGOUT_TYPE, "extension", extension),
        None => sorcery_types::all(LOGOUT_TYPE),
    };
    let mut live = Vec::new();
    for (id, fields) in objects {
        match DeviceKey::from_fields(&fields) {
            Some((key, logout)) if logout.until > now => live.push((key, logout)),
            _ => {
                sorcery_types::delete(LOGOUT_TYPE, &id);
            }
        }
    }
    live
}

/// Reads the stored logouts into the in-memory table (module load, after the sorcery types).
pub fn load() {
    let now = now_unix();
    let live = stored(None, now);
    let count = live.len();
    with_logouts(|logouts| {
        *logouts = Logouts::default();
        for (key, logout) in live {
            logouts.block(key, &logout.extension, logout.until - now, now);
        }
    });
    if count > 0 {
        tracing::info!("multireg: {count} logged-out devices read from {LOGOUT_TYPE}");
    }
}

/// Seconds left of a logout refusing this REGISTER: the in-memory table, or when logouts are
/// shared, the extension's rows in the store (one query).
fn seconds_left(extension: &str, instances: &[&str], call_id: &str, source: &str, now: u64) -> Option<u64> {
    if !cluster::logouts_shared() {
        return with_logouts(|logouts| logouts.refused(extension, instances, call_id, source, now));
    }
    let mut table = Logouts::default();
    for (key, logout) in stored(Some(extension), now) {
        table.block(key, &logout.extension, logout.until - now, now);
    }
    table.refused(extension, instances, call_id, source, now)
}

/// Answers 403 to a REGISTER (other than an unregister) of a logged-out device. True when answered.
pub fn refuse_logged_out(request: &pjsip::RxRequest<'_>, extension: &str, aor: &str, register: &Register) -> bool {
    if register.star || register.contacts.iter().all(|binding| binding.removes) {
        return false;
    }
    // Nobody logged out here: nothing to look up (the usual case, on every REGISTER).
    if !cluster::logouts_shared() && with_logouts(|logouts| logouts.is_empty()) {
        return false;
    }
    let instances: Vec<&str> = register.contacts.iter().filter_map(|b| b.instance.as_deref()).collect();
    let now = now_unix();
    let source = register.source.map(|source| source.to_string()).unwrap_or_default();
    let Some(seconds_left) = seconds_left(extension, &instances, &register.key.call_id, &source, now) else {
        return false;
    };
    tracing::info!(
        "multireg: refused REGISTER for {extension} (AOR {aor}) from {}: device logged out, {seconds_left} s of its block left",
        escape_controls(&source)
    );
    request.respond(403, REASON_PHRASE);
    true
}

/// Logs out device `device` of `extension`: its number in `multireg show extension`, or its
/// Contact URI. Returns the text for the administrator, or why not.
pub fn logout(extension: &str, device: &str, by: &str) -> Result<String, String> {
    let config = policies::for_extension(extension).ok_or(format!("Extension {extension} has no type=multireg policy"))?;
    let contacts = views::device_contacts(&config);
    let chosen = match device.trim().parse::<usize>() {
        Ok(number) => number.checked_sub(1).and_then(|index| contacts.get(index)),
        Err(_) => contacts.iter().find(|(_, _, stored)| stored.field("uri") == device.trim()),
    };
    let Some((endpoint, aor, stored)) = chosen else {
        return Err(format!(
            "Extension {} has no device '{device}' (devices are numbered 1-{} in 'multireg show extension {}')",
            config.endpoint,
            contacts.len(),
            config.endpoint
        ));
    };
    let uri = stored.field("uri").to_string();
    // What the module learned at registration, else what the registrar stored.
    let known = books::existing(aor).and_then(|book| books::lock_book(&book).device(&uri).cloned());
    let (instance, call_id, source) = match &known {
        Some(device) => (
            device.instance.as_deref().map(str::to_string),
            device.call_id.to_string(),
            super::registrar::source_text(device, stored),
        ),
        None => (None, stored.field("call_id").to_string(), super::registrar::via_text(stored)),
    };
    let client_type = known
        .as_ref()
        .map(|d| d.client_type)
        .unwrap_or_else(|| super::registrar::device_from_store(stored, &config.classifier).client_type);
    let key = DeviceKey::for_device(instance.as_deref(), &call_id, &source);
    let block_seconds = u64::from(config.logout_block_time);
    if let Some(key) = key.as_ref().filter(|_| block_seconds > 0) {
        let now = now_unix();
        with_logouts(|logouts| logouts.block(key.clone(), &config.endpoint, block_seconds, now));
        let fields = key.to_fields(&Logout { extension: config.endpoint.clone(), until: now + block_seconds });
        let fields: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (*name, value.as_str())).collect();
        if !sorcery_types::put(LOGOUT_TYPE, &key.store_id(), &fields) {
            tracing::warn!("multireg: could not store the logout of a device of {} in {LOGOUT_TYPE}", config.endpoint);
        }
    }
    device_events::removing(aor, &uri, UnregisterReason::LoggedOut);
    if !sorcery::delete_contact(stored) {
        return Err(format!("Could not remove contact {} from AOR {aor}", escape_controls(&uri)));
    }
    // A logged-out device is not woken by push either.
    super::push_bindings::forget_device(endpoint, &uri, "logged out");
    let refused_as = key.as_ref().map(DeviceKey::describe).unwrap_or_else(|| "(nothing to recognise it by)".to_string());
    let blocked = if block_seconds > 0 && key.is_some() {
        format!("refused for {block_seconds} s ({})", escape_controls(&refused_as))
    } else {
        "not refused (logout_block_time = 0)".to_string()
    };
    tracing::info!(
        "multireg: {by} logged out {} device {} of {} (endpoint {endpoint}, AOR {aor}); {blocked}",
        client_type.display_name(),
        escape_controls(&uri),
        config.endpoint
    );
    manager::event(
        "MultiregDeviceLoggedOut",
        &[
            ("Extension", config.endpoint.clone()),
            ("Endpoint", endpoint.clone()),
            ("AOR", aor.clone()),
            ("ClientType", client_type.as_str().to_string()),
            ("UserAgent", escape_controls(stored.field("user_agent"))),
            ("Contact", escape_controls(&uri)),
            ("BlockSeconds", if key.is_some() { block_seconds } else { 0 }.to_string()),
            ("RefusedBy", escape_controls(&refused_as)),
            ("LoggedOutBy", by.to_string()),
        ],
    );
    Ok(format!("Logged out {} device {} of {}; {blocked}", client_type.display_name(), escape_controls(&uri), config.endpoint))
}

/// Lifts the logouts of `extension` (all when None); returns how many were lifted.
pub fn clear(extension: Option<&str>) -> usize {
    let now = now_unix();
    let mut cleared = with_logouts(|logouts| logouts.clear(extension, now));
    let in_store = stored(extension, now);
    for (key, _) in &in_store {
        sorcery_types::delete(LOGOUT_TYPE, &key.store_id());
    }
    if cluster::logouts_shared() {
        // Logouts made through other nodes are lifted too.
        cleared = in_store.len();
    }
    tracing::info!("multireg: logouts cleared ({cleared}{})", extension.map(|e| format!(" of {e}")).unwrap_or_default());
    cleared
}

/// Devices of `extension` refused now.
pub fn count(extension: &str) -> usize {
    let now = now_unix();
    if cluster::logouts_shared() {
        return stored(Some(extension), now).len();
    }
    with_logouts(|logouts| logouts.count(extension, now))
}
