//! AMI events the module listens to: failed authentications (address blocking) and queue
//! membership (one device per extension in a queue). The hook runs synchronously in the thread
//! raising the event; it spawns no threads, so nothing of ours outlives `module unload`.
use std::net::IpAddr;

use super::state::STATE;
use std::sync::Mutex;

use once_cell::sync::Lazy;

use crate::asterisk::manager::{self, ManagerHook};
use crate::policy::calls::{pjsip_endpoint_of, queue_member_conflict};

/// Body text of action responses, collected while `snapshot_queues` runs.
static CAPTURE: once_cell::sync::Lazy<std::sync::Mutex<Option<String>>> =
    once_cell::sync::Lazy::new(|| std::sync::Mutex::new(None));

/// The capture buffer; a panic elsewhere never makes it unusable.
fn capture() -> std::sync::MutexGuard<'static, Option<String>> {
    CAPTURE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

const HOOK_RESPONSE: &str = "HOOKRESPONSE";

/// The manager hook while the module is loaded (events arrive through it, and queue members are
/// removed through it).
static HOOK: Lazy<Mutex<Option<ManagerHook>>> = Lazy::new(|| Mutex::new(None));

fn run_action(message: &str) -> bool {
    HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).as_ref().is_some_and(|hook| hook.run_action(message))
}

/// Watching AMI events; dropping it stops.
pub struct Watching(());

pub fn start() -> Watching {
    *HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(ManagerHook::register());
    snapshot_queues();
    Watching(())
}

impl Drop for Watching {
    fn drop(&mut self) {
        let hook = HOOK.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        drop(hook);
    }
}

fn fields(body: &str) -> impl Iterator<Item = (&str, &str)> {
    body.lines().filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim(), v.trim()))
}

fn field<'a>(body: &'a str, name: &str) -> &'a str {
    fields(body).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).unwrap_or("")
}

/// "IPV4/UDP/127.0.0.2/5060" → 127.0.0.2
fn security_address(value: &str) -> Option<IpAddr> {
    value.split('/').nth(2)?.parse().ok()
}

/// Learns the queue members that exist before we load (QueueStatus, answered to our hook).
fn snapshot_queues() {
    *capture() = Some(String::new());
    run_action("Action: QueueStatus\r\n\r\n");
    let text = capture().take().unwrap_or_default();
    let mut state = STATE.lock();
    state.queue_members.clear();
    for block in text.split("\r\n\r\n") {
        if field(block, "Event") == "QueueMember" {
            let (queue, interface) = (field(block, "Queue").to_string(), field(block, "StateInterface").to_string());
            let interface = if interface.is_empty() { field(block, "Location").to_string() } else { interface };
            state.queue_members.entry(queue).or_default().push(interface);
        }
    }
}

pub fn on_event(event: &str, body: &str) {
    match event {
        HOOK_RESPONSE => {
            if let Some(buffer) = capture().as_mut() {
                buffer.push_str(body);
            }
        }
        "ChallengeResponseFailed" | "InvalidPassword" => {
            if let Some(address) = security_address(field(body, "RemoteAddress")) {
                super::authblock::record_failure(field(body, "AccountID"), address);
            }
        }
        "SuccessfulAuth" => {
            if let Some(address) = security_address(field(body, "RemoteAddress")) {
                super::authblock::record_success(field(body, "AccountID"), address);
            }
        }
        "QueueMemberAdded" => member_added(field(body, "Queue"), field(body, "Interface")),
        "QueueMemberRemoved" => {
            let (queue, interface) = (field(body, "Queue"), field(body, "Interface"));
            if let Some(members) = STATE.lock().queue_members.get_mut(queue) {
                members.retain(|m| m != interface);
            }
        }
        _ => {}
    }
}

/// Events arrive in the order app_queue added members, so the device added second is the one
/// removed, however quickly the two were added.
fn member_added(queue: &str, interface: &str) {
    let conflict = {
        let extension = pjsip_endpoint_of(interface).and_then(|endpoint| {
            let config = super::policies::for_extension(endpoint)?;
            Some((config.endpoint.clone(), config.secondary_endpoint()?))
        });
        let mut state = STATE.lock();
        let earlier = state.queue_members.get(queue).cloned().unwrap_or_default();
        let conflict = extension.and_then(|(primary, secondary)| {
            queue_member_conflict(&earlier, interface, &primary, &secondary).map(|message| (primary, message))
        });
        if conflict.is_none() {
            state.queue_members.entry(queue.to_string()).or_default().push(interface.to_string());
        }
        conflict
    };
    let Some((primary, message)) = conflict else { return };
    tracing::warn!("multireg: queue {queue}: {message}");
    run_action(&format!("Action: QueueRemove\r\nQueue: {queue}\r\nInterface: {interface}\r\n\r\n"));
    manager::event(
        "MultiregQueueMemberRefused",
        &[("Queue", queue.to_string()), ("Interface", interface.to_string()), ("Extension", primary), ("Reason", message)],
    );
}
