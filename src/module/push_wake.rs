//! RFC 8599 wake-up on a call. `MultiregDial` adds one target `Local/<wake token>@multireg-push/n`
//! per push device to wake; that Local channel runs the hidden application MultiregPushWake on
//! its own thread, which sends the push request (AMI event, optional HTTP POST), waits up to
//! `push_wait` seconds for the device to register again and then dials it. The first device to
//! answer takes the call as usual; when another answers or the caller hangs up, app_dial hangs
//! up the Local channel and the wait ends. No thread of the module's own is started.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::dialplan::contacts_of;
use super::push_bindings;
use crate::asterisk::channel::Channel;
use crate::asterisk::manager;
use crate::policy::config::MultiregConfig;
use crate::policy::dial_features::MAX_RING_DELAY;
use crate::policy::dialstring::build_dial_string;
use crate::policy::push::{self, PushBinding, PushRequest};
use crate::policy::ringmode::{ring_targets, RingMode};

/// A device to wake, between MultiregDial and the Local channel that runs the wake.
struct Wake {
    extension: String,
    endpoint: String,
    binding: PushBinding,
    /// Contacts of this device the call dials directly (push_always): not dialled twice.
    dialled: Vec<String>,
    caller_id_num: String,
    caller_id_name: String,
    linkedid: String,
    wait: u32,
    gateway: String,
    created: Instant,
}

static WAKES: Mutex<Option<HashMap<String, Wake>>> = Mutex::new(None);

/// How often the woken device's registration is looked for.
const POLL: Duration = Duration::from_millis(200);
/// HTTP: each try's timeout and the number of tries.
const HTTP_TIMEOUT: Duration = Duration::from_secs(3);
const HTTP_TRIES: usize = 2;

fn random_token() -> Option<String> {
    let mut random = [0u8; 10];
    getrandom::getrandom(&mut random).ok()?;
    Some(push::wake_token(random))
}

/// The Local targets that wake the extension's push devices for this call (empty when push is
/// off or no device needs waking). `channel` is the caller's.
pub fn targets(config: &MultiregConfig, mode: RingMode, channel: &Channel<'_>) -> Vec<String> {
    if config.push_providers.is_empty() {
        return Vec::new();
    }
    let secondary = config.secondary_endpoint();
    let remote = Some(config.remote_destination.as_str()).filter(|r| !r.is_empty());
    let sides = ring_targets(mode, secondary.as_deref(), remote);
    let mut endpoints = Vec::new();
    if sides.primary {
        endpoints.push(config.endpoint.clone());
    }
    if let (true, Some(secondary)) = (sides.secondary, secondary) {
        endpoints.push(secondary);
    }
    let now = super::registrar::now_unix();
    let mut targets = Vec::new();
    let mut caller: Option<(String, String, String)> = None;
    for endpoint in endpoints {
        let bindings = push_bindings::bindings_of(&endpoint);
        if bindings.is_empty() {
            continue;
        }
        let live = contacts_of(&endpoint);
        for binding in push::bindings_to_wake(&bindings, &live, config.push_always, now) {
            let Some(token) = random_token() else {
                tracing::error!("multireg: no random bytes for a wake token; not waking {}", push_bindings::describe(binding));
                continue;
            };
            let (num, name, linkedid) = caller
                .get_or_insert_with(|| {
                    (channel.function("CALLERID(num)"), channel.function("CALLERID(name)"), channel.linkedid())
                })
                .clone();
            let wake = Wake {
                extension: config.endpoint.clone(),
                endpoint: endpoint.clone(),
                binding: binding.clone(),
                dialled: live.iter().filter(|uri| binding.is_device_of(uri)).cloned().collect(),
                caller_id_num: num,
                caller_id_name: name,
                linkedid,
                wait: config.push_wait,
                gateway: config.push_gateway_url.clone(),
                created: Instant::now(),
            };
            remember(token.clone(), wake);
            targets.push(format!("Local/{token}@{}/n", push::WAKE_CONTEXT));
        }
    }
    targets
}

/// The endpoint (primary or secondary) of the push device a wake target wakes, so staggered ring
/// can delay it like any mobile device of that side.
pub fn endpoint_of_target(target: &str) -> Option<String> {
    let token = push::wake_token_of_target(target)?;
    WAKES.lock().unwrap_or_else(|p| p.into_inner()).as_ref()?.get(token).map(|wake| wake.endpoint.clone())
}

fn remember(token: String, wake: Wake) {
    let mut guard = WAKES.lock().unwrap_or_else(|p| p.into_inner());
    let map = guard.get_or_insert_with(HashMap::new);
    // Tokens never dialled (Dial failed first) are forgotten after their wait, the longest ring
    // delay and a minute.
    let kept = |w: &Wake| u64::from(w.wait) + u64::from(MAX_RING_DELAY) + 60;
    map.retain(|_, w| w.created.elapsed() < Duration::from_secs(kept(w)));
    map.insert(token, wake);
}

/// One-time: a token is taken out when its Local channel starts.
fn take(token: &str) -> Option<Wake> {
    WAKES.lock().unwrap_or_else(|p| p.into_inner()).as_mut()?.remove(token)
}

/// Drops every pending wake (module load/unload).
pub fn clear() {
    *WAKES.lock().unwrap_or_else(|p| p.into_inner()) = None;
}

/// MultiregPushWake(token), on the Local channel: push, wait, dial.
pub fn run(channel: &Channel<'_>, data: &str) -> i32 {
    let token = data.trim();
    let Some(wake) = push::is_wake_token(token).then(|| take(token)).flatten() else {
        tracing::warn!("multireg: {}: unknown or already used wake token", channel.name());
        return -1;
    };
    let device = push_bindings::describe(&wake.binding);
    let request = PushRequest {
        extension: wake.extension.clone(),
        endpoint: wake.endpoint.clone(),
        provider: wake.binding.provider.clone(),
        prid: wake.binding.prid.clone(),
        param: wake.binding.param.clone(),
        caller_id_num: wake.caller_id_num.clone(),
        caller_id_name: wake.caller_id_name.clone(),
        linkedid: wake.linkedid.clone(),
        token: token.to_string(),
        wait: wake.wait,
    };
    tracing::info!("multireg: {}: waking push device {device} for a call from {}", wake.endpoint, wake.caller_id_num);
    manager::event(
        "MultiregPushRequest",
        &[
            ("Extension", request.extension.clone()),
            ("Endpoint", request.endpoint.clone()),
            ("Provider", request.provider.clone()),
            ("PRID", request.prid.clone()),
            ("Param", request.param.clone()),
            ("CallerIDNum", request.caller_id_num.clone()),
            ("CallerIDName", request.caller_id_name.clone()),
            ("Linkedid", request.linkedid.clone()),
            ("WakeToken", request.token.clone()),
            ("Wait", request.wait.to_string()),
        ],
    );
    if !wake.gateway.is_empty() {
        post(&wake.gateway, &request, &device);
    }
    let deadline = Instant::now() + Duration::from_secs(u64::from(wake.wait));
    loop {
        let live = contacts_of(&wake.endpoint);
        if let Some(uri) = push::woken_contact(&wake.binding, &live, &wake.dialled) {
            let (dial, skipped) = build_dial_string(&[(wake.endpoint.clone(), uri.clone())]);
            if dial.is_empty() {
                let reason = skipped.first().map(|s| s.reason.clone()).unwrap_or_default();
                tracing::warn!("multireg: {}: woken device {device} cannot be dialled: {reason}", wake.endpoint);
                return -1;
            }
            tracing::info!("multireg: {}: push device {device} registered again; ringing it", wake.endpoint);
            return match channel.exec("Dial", &dial) {
                Ok(result) => result,
                Err(reason) => {
                    tracing::error!("multireg: MultiregPushWake: {reason}");
                    -1
                }
            };
        }
        if Instant::now() >= deadline {
            tracing::info!(
                "multireg: {}: push device {device} did not register within {} s; not ringing it",
                wake.endpoint,
                wake.wait
            );
            return -1;
        }
        if !channel.safe_sleep(POLL.as_millis() as i32) {
            tracing::debug!("multireg: {}: wake of {device} ended: the call was answered elsewhere or hung up", wake.endpoint);
            return -1;
        }
    }
}

/// POSTs the push request to the gateway: short timeout, one retry, a clear log line on failure.
fn post(url: &str, request: &PushRequest, device: &str) {
    let agent = ureq::AgentBuilder::new().timeout(HTTP_TIMEOUT).redirects(0).build();
    let body = request.json();
    for attempt in 1..=HTTP_TRIES {
        let result = agent.post(url).set("Content-Type", "application/json").send_string(&body);
        let (failure, retry) = match result {
            Ok(_) => {
                tracing::debug!("multireg: push request for {device} accepted by {url}");
                return;
            }
            Err(ureq::Error::Status(code, _)) => (format!("HTTP status {code}"), code >= 500),
            Err(error) => (error.to_string(), true),
        };
        if attempt < HTTP_TRIES && retry {
            tracing::warn!("multireg: push request for {device} to {url} failed ({failure}); retrying");
            continue;
        }
        tracing::warn!(
            "multireg: push request for {device} to {url} failed ({failure}); the device is woken only by AMI listeners of MultiregPushRequest"
        );
        return;
    }
}
