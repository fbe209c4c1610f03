//! RFC 8599 push bindings: which devices of an extension can be woken by a push notification.
//! A REGISTER whose Contact carries `pn-provider` (and `pn-prid`, `pn-param`) creates or refreshes
//! a binding once the registrar accepts it; the binding outlives the contact (until
//! `push_binding_ttl`, an unregister of that device, `Contact: *`, or a replacement) and is kept
//! through the sorcery type `multireg_push` (astdb by default, so it survives restarts; a realtime
//! table when sorcery.conf maps it, so a device that registered through one node is woken by a
//! call on another). Bindings stored by earlier versions in the astdb family
//! `multireg/push/<endpoint>` are moved into the type at load. A local store is read once at load
//! and then mirrored in memory; a shared one is read (one query per endpoint) at every call,
//! listing, unregister and device removal.
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use super::cluster;
use super::registrar::now_unix;
use crate::asterisk::astdb;
use crate::asterisk::pjsip::{RxRequest, TxResponse};
use crate::asterisk::sip_message::RegisterMessage;
use crate::asterisk::sorcery_types::{self, PUSH_TYPE};
use crate::policy::config::MultiregConfig;
use crate::policy::device_book::{normalize_instance, RequestKey};
use crate::policy::push::{self, PushBinding, PushCheck, PushParams};

/// Where earlier versions kept the bindings (moved into `multireg_push` at load).
const OLD_FAMILY: &str = "multireg/push";

/// A push REGISTER waiting for the registrar's answer.
#[derive(Debug, Clone)]
pub struct PendingPush {
    endpoint: String,
    adds: Vec<PushBinding>,
    /// (provider, prid) of devices that unregister.
    removes: Vec<(String, String)>,
    remove_all: bool,
    feature_caps: Vec<String>,
}

/// endpoint → its bindings.
static BINDINGS: Mutex<Option<HashMap<String, Vec<PushBinding>>>> = Mutex::new(None);
static PENDING: Mutex<Option<HashMap<RequestKey, PendingPush>>> = Mutex::new(None);
/// How many REGISTERs wait in PENDING: answers to other REGISTERs cost one atomic read.
static PENDING_COUNT: AtomicUsize = AtomicUsize::new(0);

fn with_bindings<T>(f: impl FnOnce(&mut HashMap<String, Vec<PushBinding>>) -> T) -> T {
    let mut guard = BINDINGS.lock().unwrap_or_else(|p| p.into_inner());
    f(guard.get_or_insert_with(HashMap::new))
}

fn store(endpoint: &str, binding: &PushBinding) -> bool {
    let fields = binding.to_fields(endpoint);
    let fields: Vec<(&str, &str)> = fields.iter().map(|(name, value)| (*name, value.as_str())).collect();
    sorcery_types::put(PUSH_TYPE, &push::store_id(endpoint, binding), &fields)
}

fn unstore(endpoint: &str, binding: &PushBinding) {
    if !sorcery_types::delete(PUSH_TYPE, &push::store_id(endpoint, binding)) {
        tracing::warn!("multireg: {endpoint}: could not delete push binding {} from {PUSH_TYPE}", describe(binding));
    }
}

/// Moves bindings stored by earlier versions (astdb family multireg/push/<endpoint>) into the
/// `multireg_push` type; a binding the type already holds wins. Each moved key is deleted.
fn migrate_astdb_bindings(now: u64) {
    for (key, value) in astdb::tree(OLD_FAMILY) {
        let Some((endpoint, id)) = key.split_once('/') else { continue };
        let moved = match PushBinding::decode(&value) {
            Some(binding) if binding.expires_at > now => {
                let kept =
                    sorcery_types::get(PUSH_TYPE, &push::store_id(endpoint, &binding)).is_some() || store(endpoint, &binding);
                if kept {
                    tracing::info!(
                        "multireg: {endpoint}: push binding {} moved from the astdb family {OLD_FAMILY} to {PUSH_TYPE}",
                        describe(&binding)
                    );
                }
                kept
            }
            _ => true,
        };
        if moved {
            astdb::delete(&format!("{OLD_FAMILY}/{endpoint}"), id);
        }
    }
}

/// Splits stored objects into live bindings by endpoint; expired ones are deleted from the store.
fn live_from_store(objects: Vec<(String, crate::asterisk::sorcery::Fields)>, now: u64) -> HashMap<String, Vec<PushBinding>> {
    let mut live: HashMap<String, Vec<PushBinding>> = HashMap::new();
    for (id, fields) in objects {
        match PushBinding::from_fields(&fields) {
            Some((endpoint, binding)) if binding.expires_at > now => live.entry(endpoint).or_default().push(binding),
            Some((endpoint, binding)) => {
                tracing::info!("multireg: {endpoint}: push binding {} expired (push_binding_ttl)", describe(&binding));
                sorcery_types::delete(PUSH_TYPE, &id);
            }
            None => {
                tracing::warn!("multireg: {PUSH_TYPE} object '{id}' is not a push binding; deleted");
                sorcery_types::delete(PUSH_TYPE, &id);
            }
        }
    }
    live
}

/// Reads the stored bindings (module load, after the sorcery types are registered); earlier
/// versions' astdb entries are moved first, expired ones deleted.
pub fn load() {
    let now = now_unix();
    migrate_astdb_bindings(now);
    let loaded = live_from_store(sorcery_types::all(PUSH_TYPE), now);
    let count: usize = loaded.values().map(Vec::len).sum();
    if count > 0 {
        tracing::debug!("multireg: {count} push bindings read from {PUSH_TYPE}");
    }
    *BINDINGS.lock().unwrap_or_else(|p| p.into_inner()) = Some(loaded);
    *PENDING.lock().unwrap_or_else(|p| p.into_inner()) = None;
    PENDING_COUNT.store(0, Ordering::Relaxed);
}

/// Forgets every binding (module unload or a failed load).
pub fn clear() {
    *BINDINGS.lock().unwrap_or_else(|p| p.into_inner()) = None;
    *PENDING.lock().unwrap_or_else(|p| p.into_inner()) = None;
    PENDING_COUNT.store(0, Ordering::Relaxed);
}

/// When the store is shared, replaces the memory copy of an endpoint's bindings by what the store
/// holds now (one query): another node may have added, refreshed or removed some.
fn sync_from_store(endpoint: &str) {
    if !cluster::push_shared() {
        return;
    }
    let mut stored = live_from_store(sorcery_types::find(PUSH_TYPE, "endpoint", endpoint), now_unix());
    let list = stored.remove(endpoint).unwrap_or_default();
    with_bindings(|all| {
        if list.is_empty() {
            all.remove(endpoint);
        } else {
            all.insert(endpoint.to_string(), list);
        }
    });
}

/// The live (not expired) push bindings of an endpoint; expired ones are forgotten here (and
/// deleted from the store) the first time they are seen.
pub fn bindings_of(endpoint: &str) -> Vec<PushBinding> {
    sync_from_store(endpoint);
    let now = now_unix();
    let (live, expired) = with_bindings(|all| {
        let Some(list) = all.get_mut(endpoint) else { return (Vec::new(), Vec::new()) };
        let (live, expired): (Vec<_>, Vec<_>) = list.drain(..).partition(|b| b.expires_at > now);
        list.clone_from(&live);
        if list.is_empty() {
            all.remove(endpoint);
        }
        (live, expired)
    });
    for binding in expired {
        unstore(endpoint, &binding);
        tracing::info!("multireg: {endpoint}: push binding {} expired (push_binding_ttl)", describe(&binding));
    }
    live
}

/// The REGISTER check, before the limit decision: Err(provider) answers 555; Ok(Some) is a push
/// REGISTER (or an unregister of push devices) to complete when the registrar accepts it.
pub fn check(config: &MultiregConfig, endpoint: &str, message: &RegisterMessage<'_>) -> Result<Option<PendingPush>, String> {
    let removes = |expires: Option<u32>| expires.or(message.expires_header) == Some(0);
    let star = message.contacts.iter().any(|c| c.star);
    // Nearly every REGISTER: no Contact names a provider, so there is nothing to add, remove or
    // answer (the loop below would come to the same).
    if !star && !message.contacts.iter().any(|c| c.sip && push::mentions_provider(&c.uri, &c.params)) {
        return Ok(None);
    }
    let mut adds = Vec::new();
    let mut removals = Vec::new();
    let mut offered = Vec::new();
    let mut query = false;
    for contact in message.contacts.iter().filter(|c| c.sip && !c.star) {
        query |= push::is_capability_query(&contact.uri, &contact.params);
        let Some(params) = push::push_params(&contact.uri, &contact.params) else { continue };
        if removes(contact.expires) {
            removals.push((params.provider, params.prid));
        } else {
            offered.push(Some(params.clone()));
            let instance = contact
                .params
                .iter()
                .find(|(name, _)| name == "+sip.instance")
                .and_then(|(_, value)| value.as_deref())
                .and_then(normalize_instance)
                .unwrap_or_default();
            adds.push((contact.uri.clone(), instance, params));
        }
    }
    if star || !removals.is_empty() {
        // Unregisters are always accepted, whatever the providers enabled now.
        sync_from_store(endpoint);
        let has_any = with_bindings(|all| all.get(endpoint).is_some_and(|l| !l.is_empty()));
        if !has_any && adds.is_empty() {
            return Ok(None);
        }
    } else if adds.is_empty() && (!query || config.push_providers.is_empty()) {
        return Ok(None);
    }
    if let PushCheck::Unsupported(provider) = push::check_register(&config.push_providers, &offered) {
        return Err(provider);
    }
    let now = now_unix();
    let enabled = !config.push_providers.is_empty();
    let adds: Vec<PushBinding> = if enabled {
        adds.into_iter()
            .filter(|(_, _, params)| !params.prid.is_empty())
            .map(|(uri, instance, PushParams { provider, prid, param })| PushBinding {
                provider,
                prid,
                param,
                instance,
                contact: uri,
                user_agent: message.user_agent.to_string(),
                updated_at: now,
                expires_at: now + u64::from(config.push_binding_ttl),
            })
            .collect()
    } else {
        Vec::new()
    };
    let mut used: Vec<String> = Vec::new();
    for binding in &adds {
        if !used.contains(&binding.provider) {
            used.push(binding.provider.clone());
        }
    }
    let mut feature_caps = push::feature_caps(&used, Some(push::PNSREG_SECONDS));
    if query && enabled {
        let rest: Vec<String> = config.push_providers.iter().filter(|p| !used.contains(p)).cloned().collect();
        feature_caps.extend(push::feature_caps(&rest, None));
    }
    if adds.is_empty() && removals.is_empty() && !star && feature_caps.is_empty() {
        return Ok(None);
    }
    Ok(Some(PendingPush { endpoint: endpoint.to_string(), adds, removes: removals, remove_all: star, feature_caps }))
}

/// Answers a REGISTER that names a provider not enabled for the extension.
pub fn refuse(request: &RxRequest<'_>, endpoint: &str, provider: &str, source: &str) {
    tracing::info!(
        "multireg: refused REGISTER for {endpoint} from {source}: push provider '{provider}' is not in push_providers (555)"
    );
    request.respond(555, push::REASON_555);
}

/// The registrar admitted the REGISTER: its answer completes the binding.
pub fn expect(key: RequestKey, pending: PendingPush) {
    let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    // Bounded: answers that never come (at most 32 s) must not pile up.
    if map.len() >= 4096 {
        map.clear();
    }
    if map.insert(key, pending).is_none() {
        PENDING_COUNT.store(map.len(), Ordering::Relaxed);
    }
}

/// A response is leaving: a 2xx to a push REGISTER stores the binding and carries Feature-Caps.
pub fn on_response(response: &TxResponse<'_>) {
    if PENDING_COUNT.load(Ordering::Relaxed) == 0 {
        return;
    }
    let Some(answer) = response.register_answer() else { return };
    let key = RequestKey { call_id: answer.call_id.into(), cseq: answer.cseq };
    let pending = {
        let mut guard = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        let Some(map) = guard.as_mut() else { return };
        let pending = map.remove(&key);
        PENDING_COUNT.store(map.len(), Ordering::Relaxed);
        pending
    };
    let Some(pending) = pending else { return };
    if !(200..300).contains(&answer.status) {
        return;
    }
    for caps in &pending.feature_caps {
        response.add_header("Feature-Caps", caps);
    }
    apply(pending);
}

fn apply(pending: PendingPush) {
    // The device may replace a binding it registered through another node.
    sync_from_store(&pending.endpoint);
    let mut deleted = Vec::new();
    let mut stored = Vec::new();
    let mut replaced = Vec::new();
    with_bindings(|all| {
        let list = all.entry(pending.endpoint.clone()).or_default();
        if pending.remove_all {
            deleted.append(list);
        }
        for (provider, prid) in &pending.removes {
            let (gone, kept): (Vec<_>, Vec<_>) = list.drain(..).partition(|b| &b.provider == provider && &b.prid == prid);
            *list = kept;
            deleted.extend(gone);
        }
        for binding in &pending.adds {
            let (old, kept): (Vec<_>, Vec<_>) = list.drain(..).partition(|b| b.replaced_by(binding));
            *list = kept;
            replaced.extend(old.into_iter().filter(|b| b.key() != binding.key()));
            list.push(binding.clone());
            stored.push(binding.clone());
        }
        if list.is_empty() {
            all.remove(&pending.endpoint);
        }
    });
    for binding in deleted {
        unstore(&pending.endpoint, &binding);
        tracing::info!("multireg: {}: push binding {} removed (unregistered)", pending.endpoint, describe(&binding));
    }
    for binding in replaced {
        unstore(&pending.endpoint, &binding);
        tracing::info!(
            "multireg: {}: push binding {} replaced by a new push token of the same device",
            pending.endpoint,
            describe(&binding)
        );
    }
    for binding in stored {
        if !store(&pending.endpoint, &binding) {
            tracing::warn!("multireg: {}: could not store push binding {} in {PUSH_TYPE}", pending.endpoint, describe(&binding));
        }
        tracing::debug!("multireg: {}: push binding {} stored", pending.endpoint, describe(&binding));
    }
}

/// A device was removed by the module (replaced at a limit, logged out): its push binding goes too.
pub fn forget_device(endpoint: &str, contact_uri: &str, why: &str) {
    sync_from_store(endpoint);
    let gone: Vec<PushBinding> = with_bindings(|all| {
        let Some(list) = all.get_mut(endpoint) else { return Vec::new() };
        let (gone, kept): (Vec<_>, Vec<_>) =
            list.drain(..).partition(|b| b.is_device_of(contact_uri) || b.contact == contact_uri);
        *list = kept;
        gone
    });
    for binding in gone {
        unstore(endpoint, &binding);
        tracing::info!("multireg: {endpoint}: push binding {} removed ({why})", describe(&binding));
    }
}

pub fn describe(binding: &PushBinding) -> String {
    let prid = &binding.prid;
    let short =
        if prid.chars().count() > 12 { format!("{}…", prid.chars().take(12).collect::<String>()) } else { prid.clone() };
    format!("{}:{short}", binding.provider)
}
