//! What the CLI and AMI show: one summary per extension and one line per device.
use super::dialplan::active_calls;
use super::registrar::{devices_of, endpoint_aors};
use super::ringmodes;
use super::state::{now_unix, STATE};
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

fn device_views(endpoint: &str, config: &MultiregConfig) -> Vec<DeviceView> {
    let now = now_unix() as i64;
    let mut views = Vec::new();
    for aor in endpoint_aors(endpoint) {
        let known = STATE.lock().devices.get(&aor).cloned().unwrap_or_default();
        for device in devices_of(&aor, Some(config), &known) {
            views.push(DeviceView {
                endpoint: endpoint.to_string(),
                aor: aor.clone(),
                client_type: device.info.client_type,
                // Device-supplied text: control characters escaped for terminals and AMI lines.
                user_agent: escape_controls(&device.info.user_agent),
                contact: escape_controls(device.stored.field("uri")),
                source: escape_controls(&device.info.source),
                transport: escape_controls(&device.info.transport),
                expires_in: device.expires_at as i64 - now,
                reason: escape_controls(&device.info.reason),
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
        ring_mode: ringmodes::current(config).as_str().to_string(),
        busy: calls > 0,
        active_calls: calls,
    }
}

/// All configured extensions, sorted by name.
pub fn extensions() -> Vec<ExtensionView> {
    let mut configs: Vec<MultiregConfig> = STATE.lock().configs.values().cloned().collect();
    configs.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
    configs.iter().map(extension).collect()
}
