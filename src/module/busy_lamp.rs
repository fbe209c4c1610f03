//! The busy lamp `Multireg:<extension>` (e.g. `exten => 101,hint,Multireg:101`): Asterisk asks
//! `state`; the module tells Asterisk to ask again when a device state of the extension's
//! endpoints changes, when a contact comes or goes, and when a MultiregDial to the remote
//! destination starts or ends. Lookups are one hash lookup in the policy index.
//!
//! A lamp nobody watches is not announced: each announcement makes Asterisk's device state thread
//! ask the provider and, when the state differs, publish it to every device state subscriber
//! (hints, queues, AMI). Whoever watches `Multireg:<extension>` (a hint, a queue member's state
//! interface, `DEVICE_STATE()`) asks its state first, which marks the extension watched and, the
//! first time, announces it, so Asterisk's device state cache holds every watched lamp. A lamp the
//! cache holds counts as watched, which carries the marks over a reload of the module.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};

use once_cell::sync::Lazy;

use super::dialplan::active_calls;
use super::policies;
use crate::asterisk::devstate;
use crate::policy::busy_lamp::{lamp_extensions, lamp_state, DeviceState, RemoteCall};
use crate::policy::fast_hash::FastSet;

/// A MultiregDial call that rang the remote destination: its caller channel, and whether the
/// caller was already answered when Dial started (then only its bridge tells the answer).
#[derive(Clone)]
struct Caller {
    channel: String,
    was_up: bool,
}

/// The remote calls in progress, per extension.
static REMOTE_CALLS: Mutex<Option<HashMap<String, Vec<Caller>>>> = Mutex::new(None);

fn with_remote<R>(f: impl FnOnce(&mut HashMap<String, Vec<Caller>>) -> R) -> R {
    let mut calls = REMOTE_CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(calls.get_or_insert_with(HashMap::new))
}

/// Extensions whose lamp something watches: only extensions with a policy (a policy reload drops
/// the others).
static WATCHED: Lazy<RwLock<FastSet<String>>> = Lazy::new(Default::default);

fn is_watched(extension: &str) -> bool {
    WATCHED.read().unwrap_or_else(|poisoned| poisoned.into_inner()).contains(extension)
}

/// True when `extension` was not marked before.
fn mark_watched(extension: &str) -> bool {
    !is_watched(extension) && WATCHED.write().unwrap_or_else(|poisoned| poisoned.into_inner()).insert(extension.to_string())
}

/// Forgets the remote calls and the watched lamps (module unload).
pub fn forget_calls() {
    PROVIDING.store(false, Ordering::Release);
    *REMOTE_CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    WATCHED.write().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
}

/// Whether the provider is registered (from `find_early_watchers` at load until unload).
static PROVIDING: AtomicBool = AtomicBool::new(false);

/// Watchers that asked before the provider existed (a hint or a queue member made before the
/// module loaded) got no answer: marks their lamps watched and announces them. `state_interfaces`
/// are the queue members' state interfaces; the hints are read from the dialplan.
pub fn find_early_watchers(state_interfaces: &[String]) {
    PROVIDING.store(true, Ordering::Release);
    announce_named(state_interfaces);
}

/// New policies are in force. Every lamp a hint or a queue member names is announced again: its
/// extension may have a policy now, a changed one, or none any more (Asterisk tells the watchers
/// only when the state differs). Extensions without a policy leave the watched set.
pub fn policies_applied() {
    if !PROVIDING.load(Ordering::Acquire) {
        return;
    }
    let policies = policies::current();
    WATCHED
        .write()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .retain(|extension| policies.for_extension(extension).is_some());
    announce_named(&super::events::member_state_interfaces());
}

/// Announces the lamps the dialplan's hints and the `more` device lists name, as they name them,
/// and marks those of extensions with a policy watched.
fn announce_named(more: &[String]) {
    let hints = devstate::multireg_hints();
    let devices = hints.iter().chain(more).map(String::as_str);
    let policies = policies::current();
    let mut announced = FastSet::default();
    for extension in devices.flat_map(lamp_extensions) {
        if let Some(config) = policies.for_extension(extension) {
            mark_watched(&config.endpoint);
        }
        if announced.insert(extension) {
            devstate::lamp_changed(extension);
        }
    }
}

/// Tells Asterisk to ask the lamp of `extension` again, when something may be watching it.
fn announce(extension: &str) {
    if !is_watched(extension) {
        if !devstate::lamp_cached(extension) {
            return;
        }
        mark_watched(extension);
    }
    devstate::lamp_changed(extension);
}

/// Asterisk asks for the lamp of `extension` (a hint, a queue, `DEVICE_STATE()`): from now on its
/// changes are announced. Marked before the devices are read, so a change in between is not lost;
/// the first ask also announces the lamp (Asterisk's device state thread asks again and caches it).
pub fn asked(extension: &str) -> DeviceState {
    if let Some(config) = policies::current().for_extension(extension) {
        if mark_watched(&config.endpoint) && !devstate::lamp_cached(&config.endpoint) {
            devstate::lamp_changed(&config.endpoint);
        }
    }
    state(extension)
}

/// The lamp of `extension` now.
pub fn state(extension: &str) -> DeviceState {
    let Some(config) = policies::current().for_extension(extension).cloned() else { return DeviceState::Invalid };
    let mut devices = vec![DeviceState::from_raw(devstate::device_state(&format!("PJSIP/{}", config.endpoint)))];
    if let Some(secondary) = config.secondary_endpoint() {
        devices.push(DeviceState::from_raw(devstate::device_state(&format!("PJSIP/{secondary}"))));
    }
    let callers = with_remote(|calls| calls.get(&config.endpoint).cloned().unwrap_or_default());
    // Answered: the remote destination's own device is in use (when it names a device, such as
    // PJSIP/104), or Dial answered the caller (it was not up before), or bridged it.
    let remote_in_use = !callers.is_empty()
        && !config.remote_destination.contains('@')
        && matches!(
            DeviceState::from_raw(devstate::device_state(&config.remote_destination)),
            DeviceState::InUse | DeviceState::Busy | DeviceState::OnHold | DeviceState::RingInUse
        );
    let remote: Vec<RemoteCall> = callers
        .iter()
        .filter_map(|caller| Some((caller.was_up, devstate::channel_progress(&caller.channel)?)))
        .map(
            |(was_up, (bridged, up))| {
                if remote_in_use || bridged || (up && !was_up) {
                    RemoteCall::Answered
                } else {
                    RemoteCall::Ringing
                }
            },
        )
        .collect();
    // The channel walk only when a rule needs it.
    let busy_by_rule = (config.all_busy_mode || config.max_concurrent_calls > 0) && {
        let calls = active_calls(&config);
        (config.all_busy_mode && calls > 0) || (config.max_concurrent_calls > 0 && calls >= config.max_concurrent_calls)
    };
    lamp_state(&devices, &remote, busy_by_rule)
}

/// The lamp of the extension `endpoint` belongs to may have changed.
pub fn endpoint_changed(endpoint: &str) {
    if let Some(config) = policies::current().for_extension(endpoint) {
        announce(&config.endpoint);
    }
}

/// A `PJSIP/<endpoint>` device state changed. While remote calls are in progress, any change
/// (the remote side answering shows as a trunk or caller device change) asks for their lamps too.
pub fn device_changed(device: &str) {
    let Some(endpoint) = device.get(6..) else { return };
    endpoint_changed(endpoint);
    let with_remote_calls: Vec<String> = with_remote(|calls| calls.keys().cloned().collect());
    for extension in with_remote_calls {
        announce(&extension);
    }
}

/// Held while a MultiregDial call to `extension` that rang its remote destination lasts.
pub struct RemoteCallGuard {
    extension: String,
    caller: String,
}

/// Starts counting a MultiregDial call from channel `caller` whose targets (`&`-joined) include
/// the extension's remote destination; None when they do not.
pub fn remote_call(extension: &str, caller: &str, targets: &str) -> Option<RemoteCallGuard> {
    let config = policies::for_extension(extension)?;
    if config.remote_destination.is_empty() || !targets.split('&').any(|target| target == config.remote_destination) {
        return None;
    }
    let was_up = devstate::channel_progress(caller).is_some_and(|(_, up)| up);
    with_remote(|calls| calls.entry(config.endpoint.clone()).or_default().push(Caller { channel: caller.to_string(), was_up }));
    announce(&config.endpoint);
    Some(RemoteCallGuard { extension: config.endpoint.clone(), caller: caller.to_string() })
}

impl Drop for RemoteCallGuard {
    fn drop(&mut self) {
        with_remote(|calls| {
            if let Some(callers) = calls.get_mut(&self.extension) {
                if let Some(index) = callers.iter().position(|c| c.channel == self.caller) {
                    callers.remove(index);
                }
                if callers.is_empty() {
                    calls.remove(&self.extension);
                }
            }
        });
        announce(&self.extension);
    }
}
