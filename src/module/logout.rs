//! Remote logout (`multireg logout <ext> <device>`, AMI `MultiregLogout`): the device's contact
//! is removed and the device is refused for the extension's `logout_block_time`
//! (`policy::logouts`), with a 403 whose reason phrase says it was logged out.
use std::sync::Mutex;

use super::registrar::now_unix;
use super::{books, device_events, policies, views};
use crate::asterisk::{manager, pjsip, sorcery};
use crate::policy::device_book::Register;
use crate::policy::display::escape_controls;
use crate::policy::logouts::{DeviceKey, Logouts};
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

/// Answers 403 to a REGISTER (other than an unregister) of a logged-out device. True when answered.
pub fn refuse_logged_out(request: &pjsip::RxRequest<'_>, extension: &str, aor: &str, register: &Register) -> bool {
    if register.star || register.contacts.iter().all(|binding| binding.removes) {
        return false;
    }
    let instances: Vec<&str> = register.contacts.iter().filter_map(|b| b.instance.as_deref()).collect();
    let now = now_unix();
    let Some(seconds_left) =
        with_logouts(|logouts| logouts.refused(extension, &instances, &register.key.call_id, &register.source, now))
    else {
        return false;
    };
    tracing::info!(
        "multireg: refused REGISTER for {extension} (AOR {aor}) from {}: device logged out, {seconds_left} s of its block left",
        escape_controls(&register.source)
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
    let fallback_source = format!("{}:{}", stored.field("via_addr"), stored.field("via_port"));
    let (instance, call_id, source) = match &known {
        Some(device) => (device.instance.clone(), device.call_id.clone(), device.source.clone()),
        None => (None, stored.field("call_id").to_string(), fallback_source),
    };
    let client_type = known
        .as_ref()
        .map(|d| d.client_type)
        .unwrap_or_else(|| super::registrar::device_from_store(stored, &config.classifier).client_type);
    let key = DeviceKey::for_device(instance.as_deref(), &call_id, &source);
    let block_seconds = u64::from(config.logout_block_time);
    if let Some(key) = &key {
        with_logouts(|logouts| logouts.block(key.clone(), &config.endpoint, block_seconds, now_unix()));
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
    let cleared = with_logouts(|logouts| logouts.clear(extension, now_unix()));
    tracing::info!("multireg: logouts cleared ({cleared}{})", extension.map(|e| format!(" of {e}")).unwrap_or_default());
    cleared
}

/// Devices of `extension` refused now.
pub fn count(extension: &str) -> usize {
    with_logouts(|logouts| logouts.count(extension, now_unix()))
}
