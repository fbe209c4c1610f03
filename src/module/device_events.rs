//! `MultiregDeviceRegistered` and `MultiregDeviceUnregistered`: which devices an extension has,
//! with their client type, for operator panels. Registered is raised when the registrar's 200 OK
//! shows a binding the AOR did not have (refreshes raise nothing); Unregistered from the contact
//! observer, with why (`policy::unregister_reasons`).
use std::collections::VecDeque;
use std::sync::Mutex;

use super::{books, policies, registrar};
use crate::asterisk::entry::RemovedContact;
use crate::asterisk::manager;
use crate::policy::device_book::Device;
use crate::policy::display::escape_controls;
use crate::policy::unregister_reasons::{unregister_reason, PendingReasons, UnregisterReason};

static PENDING: Mutex<Option<PendingReasons>> = Mutex::new(None);

/// Devices the book dropped because they unregistered themselves, kept until the store's
/// removal notice (which may come later) raises their event: (AOR, device, when). Bounded.
static LEAVING: Mutex<VecDeque<(String, Device, u64)>> = Mutex::new(VecDeque::new());
const MAX_LEAVING: usize = 256;
const LEAVING_SECONDS: u64 = 60;

/// The answer to a device's own unregister took it out of the book.
pub fn leaving(aor: &str, devices: Vec<Device>, now: u64) {
    if devices.is_empty() {
        return;
    }
    let mut leaving = LEAVING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    leaving.retain(|(_, _, at)| at + LEAVING_SECONDS > now);
    for device in devices {
        if leaving.len() >= MAX_LEAVING {
            leaving.pop_front();
        }
        leaving.push_back((aor.to_string(), device, now));
    }
}

fn take_leaving(aor: &str, uri: &str) -> Option<Device> {
    let mut leaving = LEAVING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = leaving.iter().position(|(a, device, _)| a == aor && &*device.uri == uri)?;
    leaving.remove(index).map(|(_, device, _)| device)
}

fn with_pending<R>(f: impl FnOnce(&mut PendingReasons) -> R) -> R {
    let mut pending = PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(pending.get_or_insert_with(PendingReasons::default))
}

/// Forgets the pending reasons and the devices leaving (module unload).
pub fn forget_pending() {
    *PENDING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    *LEAVING.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = VecDeque::new();
}

/// The module is about to delete this contact for `reason`.
pub fn removing(aor: &str, uri: &str, reason: UnregisterReason) {
    with_pending(|pending| pending.note(aor, uri, reason, registrar::now_unix()));
}

/// The event for a device of `extension` that registered (a binding new to its AOR), to raise
/// once the book is unlocked. This runs for every new binding, a mass registration included: the
/// fields go straight into the event's one buffer.
pub fn registered(extension: &str, aor: &str, device: &Device, now: u64) -> manager::Event {
    manager::Event::new(c"MultiregDeviceRegistered")
        .text("Extension", extension)
        .text("AOR", aor)
        .text("ClientType", device.client_type.as_str())
        .text("Classification", device.reason())
        .text("UserAgent", device.user_agent())
        .text("Contact", &device.uri)
        .address("SourceAddress", device.source)
        .text("Transport", device.transport())
        .number("Expires", device.expires_at.saturating_sub(now))
}

/// A contact left the store: raised for the AORs of policy endpoints only.
pub fn unregistered(contact: &RemovedContact) {
    let now = registrar::now_unix();
    let noted = with_pending(|pending| pending.take(&contact.aor, &contact.uri, now));
    let Some(config) = policies::for_extension(&contact.endpoint) else { return };
    let reason = unregister_reason(noted, contact.expiration_time, now as i64);
    // What the module learned at registration, if it still knows the device.
    let known = take_leaving(&contact.aor, &contact.uri)
        .or_else(|| books::existing(&contact.aor).and_then(|book| books::lock_book(&book).device(&contact.uri).cloned()));
    let device =
        known.unwrap_or_else(|| registrar::device_from_store_fields(&contact.uri, &contact.user_agent, &config.classifier));
    let (client_type, classification, transport) =
        (device.client_type.as_str().to_string(), device.profile.reason.clone(), device.profile.transport.clone());
    manager::event(
        "MultiregDeviceUnregistered",
        &[
            ("Extension", config.endpoint.clone()),
            ("AOR", contact.aor.clone()),
            ("ClientType", client_type),
            ("Classification", escape_controls(&classification)),
            ("UserAgent", escape_controls(&contact.user_agent)),
            ("Contact", escape_controls(&contact.uri)),
            ("SourceAddress", escape_controls(&contact.source)),
            ("Transport", escape_controls(&transport)),
            ("Reason", reason.as_str().to_string()),
        ],
    );
}
