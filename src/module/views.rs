//! What the CLI and AMI show: one summary per extension and one line per device.
use super::dialplan::active_calls;
use super::registrar::{device_from_store, endpoint_aors, now_unix};
use super::{books, policies, ring_mode_store};
use crate::asterisk::sorcery;
use crate::policy::classify::ClientType;
use crate::policy::config::MultiregConfig;
use crate::policy::display::escape_controls;

pub struct DeviceView {
    pub endpoint: String,
    pub aor: String,
    pub client_type: ClientType,
    pub user_agent: String,
    pub contact: String,
    pub source: String,
    pub transport: String,
    pub expires_in: i64,
    pub reason: String,
    /// The node (Asterisk `systemname`) the device registered through, as the contact records it.
    pub reg_server: String,
}

pub struct ExtensionView {
    pub config: MultiregConfig,
    pub devices: Vec<DeviceView>,
    pub ring_mode: String,
    pub busy: bool,
    pub active_calls: u32,
}

impl ExtensionView {
    /// Devices of the primary per type, e.g. (2, 3) for "2 of 3 IP phones".
    pub fn usage(&self, client_type: ClientType) -> (u32, u32) {
        let used = self.devices.iter().filter(|d| d.endpoint == self.config.endpoint && d.client_type == client_type).count();
        (used as u32, self.config.limits().get(client_type))
    }

    pub fn secondary_devices(&self) -> usize {
        self.devices.iter().filter(|d| d.endpoint != self.config.endpoint).count()
    }
}

/// The stored contacts of the extension (primary, then secondary), in the order
/// `multireg show extension` numbers its devices.
pub fn device_contacts(config: &MultiregConfig) -> Vec<(String, String, sorcery::StoredContact)> {
    let endpoints = std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint());
    let mut contacts = Vec::new();
    for endpoint in endpoints {
        for aor in endpoint_aors(&endpoint) {
            for stored in sorcery::aor_contacts(&aor) {
                contacts.push((endpoint.clone(), aor.clone(), stored));
            }
        }
    }
    contacts
}

fn device_views(endpoint: &str, config: &MultiregConfig) -> Vec<DeviceView> {
    let now = now_unix() as i64;
    let mut views = Vec::new();
    for aor in endpoint_aors(endpoint) {
        // The store is the truth for what is registered; the book adds what was learned at
        // registration (type, source, transport).
        let book = books::existing(&aor);
        for stored in sorcery::aor_contacts(&aor) {
            let fresh = device_from_store(&stored, &config.classifier);
            let known = book.as_ref().and_then(|b| books::lock_book(b).device(&fresh.uri).cloned());
            let device = known.unwrap_or_else(|| fresh.clone());
            views.push(DeviceView {
                endpoint: endpoint.to_string(),
                aor: aor.clone(),
                client_type: device.client_type,
                // Device-supplied text: control characters escaped for terminals and AMI lines.
                user_agent: escape_controls(fresh.user_agent()),
                contact: escape_controls(&fresh.uri),
                source: escape_controls(&super::registrar::source_text(&device, &stored)),
                transport: escape_controls(device.transport()),
                expires_in: fresh.expires_at as i64 - now,
                reason: escape_controls(device.reason()),
                reg_server: escape_controls(stored.field("reg_server")),
            });
        }
    }
    views
}

pub fn extension(config: &MultiregConfig) -> ExtensionView {
    let mut devices = device_views(&config.endpoint, config);
    if let Some(secondary) = config.secondary_endpoint() {
        devices.extend(device_views(&secondary, config));
    }
    let calls = active_calls(config);
    ExtensionView {
        config: config.clone(),
        devices,
        ring_mode: ring_mode_store::current(config).as_str().to_string(),
        busy: calls > 0,
        active_calls: calls,
    }
}

/// All configured extensions, sorted by name.
pub fn extensions() -> Vec<ExtensionView> {
    policies::current().sorted().iter().map(|config| extension(config)).collect()
}
