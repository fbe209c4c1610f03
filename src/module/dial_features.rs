//! Glue for the dial-time call features: staggered ring (delayed groups dialled through Local
//! channels into the module's own context), All Reject Mode (dial messages of calls under it),
//! and MultiregFlip. Rules live in `policy::dial_features`.
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use once_cell::sync::Lazy;

use super::books;
use super::registrar::{device_from_store, endpoint_aors};
use crate::asterisk::channel::Channel;
use crate::asterisk::dialfx::{self, DialEvent, TakeOver, DELAYED_RING_CONTEXT};
use crate::asterisk::sorcery;
use crate::policy::calls::{endpoint_of_channel, is_channel_of_endpoint};
use crate::policy::classify::ClientType;
use crate::policy::config::MultiregConfig;
use crate::policy::dial_features::{
    decline_code, flip_candidate, stagger, target_endpoint, GroupedTarget, RejectStep, RejectTable, RingGroup,
};
use crate::policy::dialstring::{build_dial_string, DialTargets};

/// Sound MultiregFlip plays when the extension has no call to take over (stock core sound).
const NO_CALL_SOUND: &str = "invalid";
/// The most delayed ring groups waiting at once; beyond it a group rings at once (logged).
const MAX_PENDING_GROUPS: usize = 4096;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---- All Reject Mode ----

static REJECTS: Lazy<Mutex<RejectTable>> = Lazy::new(Default::default);
/// Dialling channels in REJECTS: dial messages are dropped without a lock while it is 0.
static REJECT_DIALERS: AtomicUsize = AtomicUsize::new(0);

fn with_rejects<R>(body: impl FnOnce(&mut RejectTable) -> R) -> R {
    let mut table = lock(&REJECTS);
    let result = body(&mut table);
    REJECT_DIALERS.store(table.len(), Ordering::Relaxed);
    result
}

/// Forgets the All Reject calls and delayed groups (module unload).
pub fn forget_calls() {
    *lock(&REJECTS) = RejectTable::default();
    REJECT_DIALERS.store(0, Ordering::Relaxed);
    *lock(&PENDING) = HashMap::new();
}

/// Every dial message of the system: one atomic load unless a call under All Reject Mode rings.
pub fn on_dial(event: &DialEvent<'_>) {
    if REJECT_DIALERS.load(Ordering::Relaxed) == 0 {
        return;
    }
    let step = with_rejects(|table| table.on_dial(event.dialer_uniqueid, event.peer_uniqueid, event.peer_name, event.status));
    let RejectStep::AskCode { call, codes } = step else { return };
    // A delayed group's Local channel ends because of its devices, seen on its own dial.
    if event.peer_name.starts_with("Local/") {
        return;
    }
    // Read outside our lock: the caller's record of the device's last response.
    let recorded = dialfx::dialed_sip_code(event.dialer_uniqueid, event.peer_name);
    let Some(code) = decline_code(recorded, event.peer_cause).filter(|code| codes.contains(code)) else { return };
    let stop = with_rejects(|table| table.declined(&call, event.peer_name, code));
    if stop.is_empty() {
        return;
    }
    tracing::info!(
        "multireg: {} declined with {code}: All Reject Mode stops the {} other ringing channel(s) of the call",
        event.peer_name,
        stop.len()
    );
    for uniqueid in stop {
        dialfx::hangup_busy(&uniqueid);
    }
}

/// A MultiregDial call under All Reject Mode; ends when dropped (also on a panic).
pub struct RejectCall {
    caller: String,
}

impl RejectCall {
    pub fn start(caller: String, codes: &[u16]) -> Option<RejectCall> {
        if with_rejects(|table| table.start_call(&caller, codes)) {
            Some(RejectCall { caller })
        } else {
            tracing::warn!("multireg: All Reject Mode not applied to the call of {caller}: too many calls under it at once");
            None
        }
    }

    pub fn id(&self) -> &str {
        &self.caller
    }

    /// After Dial: whether a device declined (then DIALSTATUS is BUSY), and which.
    pub fn finish(&self) -> Option<(String, u16)> {
        let outcome = with_rejects(|table| table.leave(&self.caller))?;
        if outcome.declined.is_some() {
            return outcome.declined;
        }
        // The decline ended the last ringing device before its dial message was handled:
        // the caller's record of each device's last response decides.
        outcome.rung.into_iter().find_map(|name| {
            let code = dialfx::dialed_sip_code(&self.caller, &name);
            outcome.codes.contains(&code).then_some((name, code))
        })
    }
}

impl Drop for RejectCall {
    fn drop(&mut self) {
        with_rejects(|table| table.leave(&self.caller));
    }
}

// ---- Staggered ring ----

struct PendingGroup {
    delay: u32,
    group: RingGroup,
    targets: String,
    /// The All Reject call this group belongs to.
    reject_call: Option<String>,
}

static PENDING: Lazy<Mutex<HashMap<u64, PendingGroup>>> = Lazy::new(Default::default);
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(100);

/// The delayed groups of one MultiregDial call; forgotten when it is dropped (after Dial).
#[derive(Default)]
pub struct PendingGroups(Vec<u64>);

impl Drop for PendingGroups {
    fn drop(&mut self) {
        if !self.0.is_empty() {
            let mut pending = lock(&PENDING);
            for token in &self.0 {
                pending.remove(token);
            }
        }
    }
}

/// The client type of each dial target of the primary's contacts, from the module's device
/// books (what was learned at registration), else classified from the stored contact.
fn target_types(config: &MultiregConfig) -> HashMap<String, ClientType> {
    let mut types = HashMap::new();
    for aor in endpoint_aors(&config.endpoint) {
        let book = books::existing(&aor);
        for stored in sorcery::aor_contacts(&aor) {
            let fresh = device_from_store(&stored, &config.classifier);
            let known = book.as_ref().and_then(|b| books::lock_book(b).device(&fresh.uri).map(|d| d.client_type));
            let (target, _) = build_dial_string(&[(config.endpoint.clone(), fresh.uri.to_string())]);
            if !target.is_empty() {
                types.insert(target, known.unwrap_or(fresh.client_type));
            }
        }
    }
    types
}

/// The Dial targets of a call with staggered ring: what rings at once plus one Local channel per
/// delayed group. The groups stay known while `PendingGroups` lives.
pub fn staggered_targets(config: &MultiregConfig, targets: &DialTargets, reject_call: Option<&str>) -> (String, PendingGroups) {
    let types = target_types(config);
    let mut grouped: Vec<GroupedTarget> = targets
        .contacts
        .iter()
        .map(|target| {
            // A push device being woken (its Local target) is a mobile app of its side.
            let group = match (target_endpoint(target), super::push_wake::endpoint_of_target(target)) {
                (Some(endpoint), _) if endpoint != config.endpoint => RingGroup::Remote,
                (None, Some(endpoint)) if endpoint != config.endpoint => RingGroup::Remote,
                (None, Some(_)) => RingGroup::Type(ClientType::Mobile),
                _ => RingGroup::Type(types.get(target).copied().unwrap_or(ClientType::IpPhone)),
            };
            GroupedTarget { target: target.clone(), group }
        })
        .collect();
    if let Some(remote) = &targets.remote {
        grouped.push(GroupedTarget { target: remote.clone(), group: RingGroup::Remote });
    }
    let staggered = stagger(grouped, &config.dial);
    let mut dial = staggered.at_once;
    let mut tokens = PendingGroups::default();
    let mut pending = lock(&PENDING);
    for group in staggered.later {
        if pending.len() >= MAX_PENDING_GROUPS {
            tracing::warn!(
                "multireg: {}: too many delayed ring groups waiting; {} rings at once",
                config.endpoint,
                group.group.as_str()
            );
            dial.extend(group.targets);
            continue;
        }
        let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(
            "multireg: {}: {} ring(s) after {} s: {}",
            config.endpoint,
            group.group.as_str(),
            group.delay,
            group.targets.join("&")
        );
        pending.insert(
            token,
            PendingGroup {
                delay: group.delay,
                group: group.group,
                targets: group.targets.join("&"),
                reject_call: reject_call.map(str::to_string),
            },
        );
        tokens.0.push(token);
        dial.push(format!("Local/{token}@{DELAYED_RING_CONTEXT}/n"));
    }
    (dial.join("&"), tokens)
}

/// MultiregDelayedRing(token), on the Local channel of a delayed group: ring after the delay.
pub fn delayed_ring_application(channel: &Channel<'_>, data: &str) -> i32 {
    let group = data
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|token| lock(&PENDING).get(&token).map(|g| (g.delay, g.group, g.targets.clone(), g.reject_call.clone())));
    let Some((delay, group, targets, reject_call)) = group else {
        tracing::debug!("MultiregDelayedRing({data}): no such ring group (the call is over)");
        return -1;
    };
    if !dialfx::ring_and_wait(channel, delay.saturating_mul(1000)) {
        // Someone answered (or the caller gave up) during the wait: this group never rings.
        return -1;
    }
    tracing::debug!("multireg: {} starts ringing after {delay} s", group.as_str());
    let me = reject_call.as_ref().map(|_| dialfx::uniqueid(channel));
    let joined = match (&reject_call, &me) {
        (Some(call), Some(me)) => with_rejects(|table| table.join_call(call, me)),
        _ => false,
    };
    let result = channel.exec("Dial", &targets);
    if let (true, Some(me)) = (joined, &me) {
        with_rejects(|table| table.leave(me));
    }
    if let Err(reason) = result {
        tracing::error!("MultiregDelayedRing: {reason}");
        return -1;
    }
    // Tell the caller's Dial why this group ended, as a device would.
    match dialfx::variable(channel, "DIALSTATUS").as_str() {
        "BUSY" => {
            let _ = channel.exec("Busy", "");
        }
        "CONGESTION" | "CHANUNAVAIL" => {
            let _ = channel.exec("Congestion", "");
        }
        _ => {}
    }
    -1
}

// ---- Call flip ----

/// MultiregFlip([extension]): take over the call another device of the extension has.
pub fn flip_application(channel: &Channel<'_>, data: &str) -> i32 {
    let own = channel.name();
    let extension = match data.trim() {
        "" => endpoint_of_channel(&own).map(str::to_string),
        given => Some(given.to_string()),
    };
    let Some(extension) = extension else {
        tracing::warn!("MultiregFlip: no extension given and {own} is not a PJSIP device");
        channel.set_variable("MULTIREG_FLIP_STATUS", "INVALID");
        return 0;
    };
    let endpoints = match super::policies::for_extension(&extension) {
        Some(config) => {
            let mut endpoints = vec![config.endpoint.clone()];
            endpoints.extend(config.secondary_endpoint());
            endpoints
        }
        None => vec![extension.clone()],
    };
    let bridged: Vec<String> = endpoints
        .iter()
        .flat_map(|endpoint| {
            dialfx::bridged_channels(&format!("PJSIP/{endpoint}-"))
                .into_iter()
                .filter(move |name| is_channel_of_endpoint(name, endpoint))
        })
        .collect();
    if let Some(old) = flip_candidate(&bridged, &own) {
        tracing::info!("multireg: {own} takes over the call of {old} (MultiregFlip, extension {extension})");
        channel.set_variable("MULTIREG_FLIP_STATUS", "FLIPPED");
        if dialfx::take_over(channel, old) == TakeOver::Done {
            return -1;
        }
    }
    tracing::info!("multireg: MultiregFlip from {own}: extension {extension} has no call to take over");
    channel.set_variable("MULTIREG_FLIP_STATUS", "NOCALL");
    if !channel.answer() || !channel.play(NO_CALL_SOUND) {
        return -1;
    }
    0
}
