//! Dual registration: keeps a "<ext>r" endpoint, auth and AOR beside every primary that enables
//! it, derived from the primary on each (re)load, and removes them when it is turned off.
//!
//! res_pjsip announces a reload once per object type (endpoint, auth, aor), each from its own
//! sorcery thread, and `module reload` is a fourth caller: every sync runs under one lock, derives
//! the complete wanted set from what Asterisk holds now, and puts or deletes only the objects that
//! differ from what it last put. So extra notifications change nothing, and the last sync always
//! leaves the objects matching the configuration.
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use once_cell::sync::Lazy;

use super::state::STATE;
use crate::asterisk::memory_objects::{self, MemoryWizard, ObjectType};
use crate::asterisk::sorcery;
use crate::policy::config::MultiregConfig;
use crate::policy::secondary::{
    collision_report, derive_secondary, secondary_name, set_vars_from_objectset, with_access_rules, Field,
};

/// The object sets of one secondary, as put into the memory wizard.
struct Derived {
    primary: String,
    endpoint: Vec<Field>,
    auth: Option<Vec<Field>>,
    aor: Vec<Field>,
}

/// What a sync put for one secondary: a fingerprint of each object set, not the sets themselves
/// (thousands of secondaries would otherwise keep a second copy of every derived field).
#[derive(Clone, PartialEq, Eq)]
struct Fingerprint {
    primary: String,
    endpoint: u64,
    auth: Option<u64>,
    aor: u64,
}

fn hash_of(fields: &[Field]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    fields.hash(&mut hasher);
    hasher.finish()
}

impl Derived {
    fn fingerprint(&self) -> Fingerprint {
        Fingerprint {
            primary: self.primary.clone(),
            endpoint: hash_of(&self.endpoint),
            auth: self.auth.as_deref().map(hash_of),
            aor: hash_of(&self.aor),
        }
    }
}

/// What the last sync put, by secondary name; also serialises syncs.
#[derive(Default)]
struct Tracker {
    put: HashMap<String, Fingerprint>,
    /// Last message logged per section for a secondary not created, so the three notifications
    /// of one reload log it once.
    refused: HashMap<String, String>,
    /// False once the memory wizards are gone (module unload): a late notification puts nothing.
    active: bool,
}

static TRACKER: Lazy<Mutex<Tracker>> = Lazy::new(|| Mutex::new(Tracker::default()));

fn tracker() -> MutexGuard<'static, Tracker> {
    TRACKER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn first_of(fields: &[Field], name: &str) -> Option<String> {
    let value = fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())?;
    value.split(',').map(str::trim).find(|v| !v.is_empty()).map(str::to_string)
}

const TYPES: [ObjectType; 3] = [ObjectType::Endpoint, ObjectType::Auth, ObjectType::Aor];

/// Types of which a hand-made object named `name` exists (whether or not we hold one too).
fn hand_configured(name: &str) -> Vec<&'static str> {
    TYPES.into_iter().filter(|t| memory_objects::foreign(*t, name)).map(|t| t.name()).collect()
}

/// The secondary's objects for `config`, or why there is none.
fn derive_for(config: &MultiregConfig) -> Result<(String, Derived, Vec<String>), String> {
    let name = secondary_name(&config.endpoint, &config.secondary_suffix)?;
    if let Some(report) = collision_report(&name, &hand_configured(&name)) {
        return Err(report);
    }
    let Some(endpoint) = sorcery::retrieve("endpoint", &config.endpoint) else {
        return Err(format!("endpoint '{}' does not exist, so no secondary '{name}' is created", config.endpoint));
    };
    let endpoint_fields = set_vars_from_objectset(&endpoint.fields_prefer_list(), |field| {
        memory_objects::is_registered_field(ObjectType::Endpoint, field)
    });
    let endpoint_fields = match sorcery::endpoint_acl_rules(&config.endpoint) {
        Some(rules) => with_access_rules(&endpoint_fields, &rules),
        // Left as read back: derive_secondary refuses inline rules it cannot see.
        None => endpoint_fields,
    };
    let auth_fields = first_of(&endpoint_fields, "auth").and_then(|a| sorcery::retrieve("auth", &a)).map(|a| a.fields());
    let aor_fields = first_of(&endpoint_fields, "aors").and_then(|a| sorcery::retrieve("aor", &a)).map(|a| a.fields());
    let derived = derive_secondary(
        &config.endpoint,
        &config.secondary_suffix,
        &endpoint_fields,
        auth_fields.as_deref(),
        aor_fields.as_deref(),
        config.secondary_max_devices,
    )?;
    let objects = Derived { primary: config.endpoint.clone(), endpoint: derived.endpoint, auth: derived.auth, aor: derived.aor };
    Ok((name, objects, derived.warnings))
}

/// Puts what differs from `before` (None: nothing of ours exists). Returns the types written,
/// or None when Asterisk refused one.
fn apply(name: &str, wanted: &Derived, before: Option<&Fingerprint>) -> Option<Vec<&'static str>> {
    let mut written = Vec::new();
    // Auth and AOR first: the endpoint's apply handler checks what it references.
    match (&wanted.auth, before.and_then(|b| b.auth)) {
        (Some(auth), old) if old != Some(hash_of(auth)) => {
            memory_objects::put(ObjectType::Auth, name, auth).then_some(())?;
            written.push("auth");
        }
        (None, Some(_)) => {
            memory_objects::delete(ObjectType::Auth, name);
            written.push("auth (removed)");
        }
        _ => {}
    }
    if before.map(|b| b.aor) != Some(hash_of(&wanted.aor)) {
        memory_objects::put(ObjectType::Aor, name, &wanted.aor).then_some(())?;
        written.push("aor");
    }
    if before.map(|b| b.endpoint) != Some(hash_of(&wanted.endpoint)) {
        memory_objects::put(ObjectType::Endpoint, name, &wanted.endpoint).then_some(())?;
        written.push("endpoint");
    }
    Some(written)
}

/// Whether every object `derived` describes is still in our memory wizard (a module load starts
/// with empty wizards).
fn still_there(name: &str, derived: &Fingerprint) -> bool {
    memory_objects::owned(ObjectType::Endpoint, name)
        && memory_objects::owned(ObjectType::Aor, name)
        && (derived.auth.is_none() || memory_objects::owned(ObjectType::Auth, name))
}

/// Deletes our objects named `name`; with `registrations`, also the devices registered to that
/// AOR name, unless a hand-made AOR of that name remains (they are its devices then).
fn remove(name: &str, registrations: bool) {
    let contacts = if registrations { sorcery::aor_contacts(name) } else { Vec::new() };
    memory_objects::delete(ObjectType::Endpoint, name);
    memory_objects::delete(ObjectType::Aor, name);
    memory_objects::delete(ObjectType::Auth, name);
    if sorcery::retrieve("aor", name).is_some() {
        return;
    }
    for contact in contacts {
        sorcery::delete_contact(&contact);
    }
}

/// Runs `update` (e.g. replacing the configuration) and then a sync, with no other sync between.
pub fn sync_after(update: impl FnOnce()) {
    let mut tracker = tracker();
    update();
    if !tracker.active {
        return;
    }
    let configs: Vec<MultiregConfig> =
        super::policies::current().sorted().iter().filter(|c| c.dual_registration).map(|c| (**c).clone()).collect();
    // Only the secondaries that need writing keep their derived objects past this loop, so a
    // reload that changes nothing holds one set at a time.
    let mut wanted: HashMap<String, Fingerprint> = HashMap::new();
    let mut changed: Vec<(String, Derived)> = Vec::new();
    let mut refused = HashMap::new();
    for config in &configs {
        match derive_for(config) {
            Ok((name, derived, warnings)) => {
                let fingerprint = derived.fingerprint();
                let before = tracker.put.get(&name).filter(|before| still_there(&name, before));
                if before != Some(&fingerprint) {
                    if tracker.put.get(&name) != Some(&fingerprint) {
                        for warning in &warnings {
                            tracing::warn!("multireg [{}]: {warning}", config.section);
                        }
                    }
                    changed.push((name.clone(), derived));
                } else {
                    tracing::debug!("multireg: secondary objects of {} unchanged", config.endpoint);
                }
                wanted.insert(name, fingerprint);
            }
            Err(reason) => {
                if tracker.refused.get(&config.section) != Some(&reason) {
                    tracing::error!("multireg [{}]: {reason}", config.section);
                }
                refused.insert(config.section.clone(), reason);
            }
        }
    }
    tracker.refused = refused;

    // Secondaries no longer wanted (turned off, renamed, or now shadowed by hand-made objects).
    let gone: Vec<String> = tracker.put.keys().filter(|name| !wanted.contains_key(*name)).cloned().collect();
    for name in gone {
        let old = tracker.put.remove(&name).expect("listed above");
        let shadowed = !hand_configured(&name).is_empty();
        remove(&name, !shadowed);
        if shadowed {
            tracing::info!(
                "multireg: secondary '{name}' of {} removed; the hand-made '{name}' and its devices stay",
                old.primary
            );
        } else {
            tracing::info!(
                "multireg: dual registration of {} is off: secondary '{name}' and its registrations removed",
                old.primary
            );
        }
    }

    for (name, derived) in changed {
        let before = tracker.put.get(&name).filter(|before| still_there(&name, before)).cloned();
        match apply(&name, &derived, before.as_ref()) {
            Some(written) => {
                tracing::debug!("multireg: secondary {name}: {} written", written.join(", "));
                tracker.put.insert(name, derived.fingerprint());
            }
            None => {
                tracing::error!(
                    "multireg: Asterisk refused the secondary objects '{name}' of {}; see the errors above",
                    derived.primary
                );
                tracker.put.remove(&name);
                remove(&name, true);
            }
        }
    }
    let names: HashMap<String, String> = tracker.put.iter().map(|(name, d)| (d.primary.clone(), name.clone())).collect();
    STATE.lock().secondaries = names;
}

/// The secondaries' memory wizard while the module is loaded. Creating it allows syncs (the
/// wizard starts empty); dropping it stops them and removes the wizard, and every secondary with
/// it, after any running sync finished.
pub struct Secondaries {
    wizard: Option<MemoryWizard>,
}

impl Secondaries {
    pub fn start(wizard: MemoryWizard) -> Secondaries {
        let mut tracker = tracker();
        tracker.put.clear();
        tracker.refused.clear();
        tracker.active = true;
        Secondaries { wizard: Some(wizard) }
    }
}

impl Drop for Secondaries {
    fn drop(&mut self) {
        let mut tracker = tracker();
        tracker.active = false;
        // Assigned, not cleared: a cleared map keeps its table, and statics are never dropped.
        tracker.put = HashMap::new();
        tracker.refused = HashMap::new();
        drop(self.wizard.take());
    }
}
