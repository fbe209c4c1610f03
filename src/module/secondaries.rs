//! Dual registration: keeps a "<ext>r" endpoint, auth and AOR beside every primary that enables
//! it, derived from the primary on each (re)load, and removes them when it is turned off.
use std::collections::HashMap;

use super::state::STATE;
use crate::asterisk::memory_objects::{self, ObjectType};
use crate::asterisk::sorcery;
use crate::policy::config::MultiregConfig;
use crate::policy::secondary::{collision_report, derive_secondary, secondary_name, set_vars_from_objectset, Field};

fn first_of(fields: &[Field], name: &str) -> Option<String> {
    let value = fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())?;
    value.split(',').map(str::trim).find(|v| !v.is_empty()).map(str::to_string)
}

fn hand_configured(name: &str) -> Vec<&'static str> {
    [ObjectType::Endpoint, ObjectType::Auth, ObjectType::Aor]
        .into_iter()
        .filter(|t| sorcery::retrieve(t.name(), name).is_some() && !memory_objects::owned(*t, name))
        .map(|t| t.name())
        .collect()
}

fn create_for(config: &MultiregConfig) -> Option<String> {
    let name = match secondary_name(&config.endpoint, &config.secondary_suffix) {
        Ok(name) => name,
        Err(reason) => {
            tracing::error!("multireg [{}]: {reason}", config.section);
            return None;
        }
    };
    let existing = hand_configured(&name);
    if let Some(report) = collision_report(&name, &existing) {
        tracing::error!("multireg [{}]: {report}", config.section);
        return None;
    }
    let Some(endpoint) = sorcery::retrieve("endpoint", &config.endpoint) else {
        tracing::error!(
            "multireg [{}]: endpoint '{}' does not exist, so no secondary '{name}' is created",
            config.section,
            config.endpoint
        );
        return None;
    };
    let endpoint_fields = set_vars_from_objectset(&endpoint.fields_prefer_list(), |field| {
        memory_objects::is_registered_field(ObjectType::Endpoint, field)
    });
    let auth_fields = first_of(&endpoint_fields, "auth").and_then(|a| sorcery::retrieve("auth", &a)).map(|a| a.fields());
    let aor_fields = first_of(&endpoint_fields, "aors").and_then(|a| sorcery::retrieve("aor", &a)).map(|a| a.fields());
    let derived = match derive_secondary(
        &config.endpoint,
        &config.secondary_suffix,
        &endpoint_fields,
        auth_fields.as_deref(),
        aor_fields.as_deref(),
        config.secondary_max_devices,
    ) {
        Ok(derived) => derived,
        Err(reason) => {
            tracing::error!("multireg [{}]: {reason}", config.section);
            return None;
        }
    };
    for warning in &derived.warnings {
        tracing::warn!("multireg [{}]: {warning}", config.section);
    }
    // Auth and AOR first: the endpoint's apply handler checks what it references.
    let created = derived.auth.as_ref().is_none_or(|auth| memory_objects::put(ObjectType::Auth, &name, auth))
        && memory_objects::put(ObjectType::Aor, &name, &derived.aor)
        && memory_objects::put(ObjectType::Endpoint, &name, &derived.endpoint);
    if !created {
        tracing::error!("multireg [{}]: Asterisk refused the secondary objects '{name}'; see the errors above", config.section);
        remove(&name);
        return None;
    }
    Some(name)
}

/// Removes a secondary and its registrations.
fn remove(name: &str) {
    for contact in sorcery::aor_contacts(name) {
        sorcery::delete_contact(&contact);
    }
    memory_objects::delete(ObjectType::Endpoint, name);
    memory_objects::delete(ObjectType::Aor, name);
    memory_objects::delete(ObjectType::Auth, name);
}

/// Brings the secondaries in line with the active configuration and the primaries' settings.
pub fn sync() {
    let configs: Vec<MultiregConfig> =
        super::policies::current().sorted().iter().filter(|c| c.dual_registration).map(|c| (**c).clone()).collect();
    let mut wanted = HashMap::new();
    for config in &configs {
        if let Some(name) = create_for(config) {
            wanted.insert(config.endpoint.clone(), name);
        }
    }
    let previous = std::mem::replace(&mut STATE.lock().secondaries, wanted.clone());
    for (primary, name) in previous {
        if wanted.get(&primary) != Some(&name) && !wanted.values().any(|n| n == &name) {
            tracing::info!("multireg: dual registration of {primary} is off: secondary '{name}' and its registrations removed");
            remove(&name);
        }
    }
}
