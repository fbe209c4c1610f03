//! Per-client-type registration limits: decides each authenticated REGISTER before the
//! registrar stores it.
use std::time::{Duration, Instant};

pub use crate::asterisk::sorcery::endpoint_aors;

use super::state::{now_unix, DeviceInfo, STATE};
use crate::asterisk::{manager, pjsip, sorcery};
use crate::policy::classify::{Classification, ClientType, DeviceFacts};
use crate::policy::config::{policy_for_endpoint, MultiregConfig};
use crate::policy::identity::{matching_device, IncomingIdentity, StoredIdentity};
use crate::policy::limits::{decide_capped, Decision, DeviceRecord, IncomingBinding};
use crate::policy::register::{summarize_register, RegisterSummary};

/// How long an admitted device counts before the registrar's contact shows up.
const PENDING_GRACE: Duration = Duration::from_secs(10);

/// A contact in the store, with what we know (or re-derive) about it.
pub struct Device {
    pub stored: sorcery::StoredContact,
    pub info: DeviceInfo,
    pub expires_at: u64,
}

fn uri_user(uri: &str) -> &str {
    let rest = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    rest.split('@').next().unwrap_or("")
}

fn classify_stored(config: Option<&MultiregConfig>, contact: &sorcery::StoredContact) -> Classification {
    let uri = contact.field("uri");
    let transport = if uri.to_ascii_lowercase().contains("transport=ws") { "WS" } else { "" };
    let facts = DeviceFacts { transport, user_agent: contact.field("user_agent"), contact_params: &[], contact_uri: uri };
    let rules = config.map(|c| c.classifier.clone()).unwrap_or_default();
    let mut classification = rules.classify(&facts);
    classification.reason.push_str(" (from the stored contact)");
    classification
}

/// The devices registered on `aor` now, joined with what we recorded when they registered.
pub fn devices_of(aor: &str, config: Option<&MultiregConfig>, known: &[DeviceInfo]) -> Vec<Device> {
    sorcery::aor_contacts(aor)
        .into_iter()
        .map(|stored| {
            let call_id = stored.field("call_id").to_string();
            let expires_at = stored.field("expiration_time").parse().unwrap_or(0);
            let info = known.iter().find(|d| d.call_id == call_id && !call_id.is_empty()).cloned().unwrap_or_else(|| {
                let classification = classify_stored(config, &stored);
                DeviceInfo {
                    call_id: call_id.clone(),
                    contact: stored.field("uri").to_string(),
                    instance_id: None,
                    client_type: classification.client_type,
                    reason: classification.reason,
                    user_agent: stored.field("user_agent").to_string(),
                    source: format!("{}:{}", stored.field("via_addr"), stored.field("via_port")),
                    transport: String::new(),
                    registered_at: 0,
                    pending_until: None,
                }
            });
            Device { stored, info, expires_at }
        })
        .collect()
}

fn stored_key(device: &Device) -> String {
    format!("contact:{}", device.stored.id)
}

/// The AOR's devices as the limit decision sees them: stored contacts plus admitted devices whose
/// contact is not stored yet (they still hold their slot).
struct CurrentView {
    devices: Vec<Device>,
    identities: Vec<StoredIdentity>,
    records: Vec<DeviceRecord>,
}

fn current_view(aor: &str, config: &MultiregConfig, known: &[DeviceInfo], now: u64) -> CurrentView {
    let devices = devices_of(aor, Some(config), known);
    let pending: Vec<&DeviceInfo> = known
        .iter()
        .filter(|d| d.pending_until.is_some_and(|until| until > Instant::now()))
        .filter(|d| !devices.iter().any(|s| s.info.call_id == d.call_id))
        .collect();
    let mut identities: Vec<StoredIdentity> = devices
        .iter()
        .map(|d| StoredIdentity {
            key: stored_key(d),
            call_id: d.info.call_id.clone(),
            uri: d.stored.field("uri").into(),
            instance_id: d.info.instance_id.clone(),
        })
        .collect();
    let mut records: Vec<DeviceRecord> = devices
        .iter()
        .map(|d| DeviceRecord {
            contact_uri: stored_key(d),
            instance_id: None,
            client_type: d.info.client_type,
            registered_at: d.info.registered_at,
            expires_at: d.expires_at,
        })
        .collect();
    for p in pending {
        let key = format!("pending:{}", p.call_id);
        identities.push(StoredIdentity {
            key: key.clone(),
            call_id: p.call_id.clone(),
            uri: p.contact.clone(),
            instance_id: p.instance_id.clone(),
        });
        records.push(DeviceRecord {
            contact_uri: key,
            instance_id: None,
            client_type: p.client_type,
            registered_at: p.registered_at,
            expires_at: now + PENDING_GRACE.as_secs(),
        });
    }
    CurrentView { devices, identities, records }
}

/// Handles a REGISTER routed past us. True when we answered it (refused).
pub fn on_register(request: &pjsip::RxRequest<'_>) -> bool {
    let Some(endpoint) = request.endpoint() else { return false };
    let endpoint_name = pjsip::endpoint_name(&endpoint);
    let has_policy = policy_for_endpoint(&STATE.lock().configs, &endpoint_name).is_some();
    // Endpoints without a policy keep stock behaviour and cost nothing more, unless debug logging
    // wants to see their REGISTERs.
    if !has_policy && !tracing::enabled!(tracing::Level::DEBUG) {
        return false;
    }
    let (address, port) = request.source();
    let transport = request.transport_type();
    let summary = match summarize_register(request.raw_message()) {
        Ok(summary) => summary,
        Err(error) => {
            // The parser's message may quote the request: never its credentials or raw control bytes.
            let error = crate::policy::display::escape_controls(&crate::policy::display::redact_credentials(&error.to_string()));
            tracing::debug!("REGISTER endpoint={endpoint_name} from {address}:{port}: {error}; left to the registrar");
            return false;
        }
    };
    tracing::debug!(
        "REGISTER endpoint={endpoint_name} aor={} user_agent=\"{}\" transport={transport} source={address}:{port} contacts={}",
        summary.aor,
        summary.user_agent,
        summary.contacts.len()
    );
    let mut state = STATE.lock();
    let Some((config, is_secondary)) = policy_for_endpoint(&state.configs, &endpoint_name) else { return false };
    let config = config.clone();
    let Some(contact) = summary.contacts.first().cloned() else { return false };
    let aor = uri_user(&summary.aor).to_string();
    let source = format!("{address}:{port}");

    let now = now_unix();
    let known = state.devices.get(&aor).cloned().unwrap_or_default();
    let CurrentView { devices, identities, records } = current_view(&aor, &config, &known, now);

    let classification = config.classifier.classify(&DeviceFacts {
        transport: &transport,
        user_agent: &summary.user_agent,
        contact_params: &contact.params,
        contact_uri: &contact.uri,
    });
    let instance_id = contact.param("+sip.instance").map(str::to_string);
    let refreshed = matching_device(
        &identities,
        &IncomingIdentity { call_id: &summary.call_id, uri: &contact.uri, instance_id: instance_id.as_deref(), source: &source },
    );
    let binding_key = refreshed.map(|s| s.key.clone()).unwrap_or_else(|| format!("new:{}", summary.call_id));
    let binding = IncomingBinding {
        contact_uri: if contact.uri == "*" { "*".into() } else { binding_key.clone() },
        instance_id: None,
        client_type: classification.client_type,
        is_unregister: summary.is_unregister(),
    };
    let is_unregister = binding.is_unregister;
    // The secondary's AOR also has its own device total (default 1).
    let cap = is_secondary.then_some(config.secondary_max_devices);
    match decide_capped(&records, binding, &config.limits(), cap, config.at_limit, now) {
        Decision::Reject { status, reason } => {
            drop(state);
            refuse(request, &endpoint, &endpoint_name, &aor, &summary, &classification, &source, status, &reason);
            true
        }
        Decision::Admit { replace } => {
            for key in &replace {
                if let Some(device) = devices.iter().find(|d| &stored_key(d) == key) {
                    replace_device(&endpoint_name, &aor, device, &classification.client_type);
                    sorcery::delete_contact(&device.stored);
                }
            }
            let entry = state.devices.entry(aor.clone()).or_default();
            entry.retain(|d| {
                let replaced = replace.iter().any(|k| devices.iter().any(|s| &stored_key(s) == k && s.info.call_id == d.call_id));
                // Entries whose contact is gone (expired, removed) are forgotten unless still reserved.
                let reserved = d.pending_until.is_some_and(|u| u > Instant::now());
                let stored = devices.iter().any(|s| s.info.call_id == d.call_id);
                !replaced && (stored || reserved)
            });
            let previous_call_id = refreshed.and_then(|r| identities.iter().find(|i| i.key == r.key)).map(|i| i.call_id.clone());
            let earlier =
                entry.iter().position(|d| Some(&d.call_id) == previous_call_id.as_ref() || d.call_id == summary.call_id);
            let registered_at = earlier.map(|i| entry[i].registered_at).filter(|t| *t > 0).unwrap_or(now);
            if let Some(index) = earlier {
                entry.remove(index);
            }
            if !is_unregister {
                entry.push(DeviceInfo {
                    call_id: summary.call_id.clone(),
                    contact: contact.uri.clone(),
                    instance_id,
                    client_type: classification.client_type,
                    reason: classification.reason,
                    user_agent: summary.user_agent.clone(),
                    source,
                    transport,
                    registered_at,
                    pending_until: Some(Instant::now() + PENDING_GRACE),
                });
            }
            false
        }
    }
}

/// The registrar (or anyone) answered a REGISTER: a final refusal frees the slot we reserved for
/// that device at once; success means its contact is stored, so the reservation is no longer needed.
pub fn on_register_answered(status: i32, call_id: &str) {
    if status < 200 || call_id.is_empty() {
        return;
    }
    let mut state = STATE.lock();
    for devices in state.devices.values_mut() {
        if status >= 300 {
            devices.retain(|d| !(d.call_id == call_id && d.pending_until.is_some_and(|until| until > Instant::now())));
        } else {
            for device in devices.iter_mut().filter(|d| d.call_id == call_id) {
                device.pending_until = None;
            }
        }
    }
}

fn replace_device(endpoint: &str, aor: &str, device: &Device, new_type: &ClientType) {
    tracing::info!(
        "multireg: {endpoint}: {} limit reached, replacing the oldest {} device {} ({})",
        new_type.display_name(),
        device.info.client_type.display_name(),
        device.stored.field("uri"),
        device.info.user_agent
    );
    manager::event(
        "MultiregDeviceReplaced",
        &[
            ("Endpoint", endpoint.to_string()),
            ("AOR", aor.to_string()),
            ("ClientType", device.info.client_type.as_str().to_string()),
            ("Contact", device.stored.field("uri").to_string()),
            ("UserAgent", device.info.user_agent.clone()),
        ],
    );
}

#[allow(clippy::too_many_arguments)]
fn refuse(
    request: &pjsip::RxRequest<'_>,
    endpoint: &crate::asterisk::ao2::Ao2<crate::bindings::ast_sip_endpoint>,
    endpoint_name: &str,
    aor: &str,
    summary: &RegisterSummary,
    classification: &Classification,
    source: &str,
    status: u16,
    reason: &str,
) {
    tracing::info!(
        "multireg: refused REGISTER for {endpoint_name} from {source} ({}, User-Agent \"{}\"): {reason}",
        classification.client_type.display_name(),
        summary.user_agent
    );
    request.respond(status as i32, reason);
    request.report_security_refusal(endpoint, &format!("multireg_{}_limit", classification.client_type.as_str()));
    manager::event(
        "MultiregRegistrationRejected",
        &[
            ("Endpoint", endpoint_name.to_string()),
            ("AOR", aor.to_string()),
            ("ClientType", classification.client_type.as_str().to_string()),
            ("UserAgent", summary.user_agent.clone()),
            ("Contact", summary.contacts.first().map(|c| c.uri.clone()).unwrap_or_default()),
            ("SourceAddress", source.to_string()),
            ("Status", status.to_string()),
            ("Reason", reason.to_string()),
        ],
    );
}

/// Warns when an AOR's own settings would refuse devices the per-type limits allow.
pub fn check_aor_settings(config: &MultiregConfig) {
    if sorcery::retrieve("endpoint", &config.endpoint).is_none() {
        tracing::warn!(
            "multireg [{}]: endpoint '{}' does not exist; the policy applies once it is configured",
            config.section,
            config.endpoint
        );
        return;
    }
    for aor_name in endpoint_aors(&config.endpoint) {
        let Some(aor) = sorcery::retrieve("aor", &aor_name) else { continue };
        let fields = aor.fields();
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        if let Ok(max_contacts) = field("max_contacts").parse::<u32>() {
            if let Some(problem) = config.max_contacts_problem(&aor_name, max_contacts) {
                tracing::warn!("{problem}");
            }
        }
        if matches!(field("remove_existing").as_str(), "yes" | "true" | "1") {
            tracing::warn!(
                "multireg [{}]: AOR '{aor_name}' has remove_existing=yes, which removes registered devices regardless of the per-type limits; set remove_existing=no",
                config.section
            );
        }
    }
}
