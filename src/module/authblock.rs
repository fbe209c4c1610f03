//! Mistyped passwords: failed authentications against a multireg extension (primary or secondary)
//! are counted per source address; over the section's limit the address is refused for a while.
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::state::STATE;
use crate::asterisk::{manager, pjsip};
use crate::policy::authblock::AuthBlocker;
use crate::policy::config::MultiregConfig;

fn blocker_for<'a>(
    blockers: &'a mut std::collections::HashMap<String, AuthBlocker>,
    config: &MultiregConfig,
) -> &'a mut AuthBlocker {
    let blocker = blockers.entry(config.section.clone()).or_default();
    blocker.reconfigure(
        config.auth_fail_limit,
        Duration::from_secs(config.auth_fail_window.into()),
        Duration::from_secs(config.auth_block_time.into()),
        config.auth_block_exempt.clone(),
    );
    blocker
}

/// A failed authentication reported by Asterisk for `account` from `address`.
pub fn record_failure(account: &str, address: IpAddr) {
    let Some(config) = super::policies::for_extension(account) else { return };
    let mut state = STATE.lock();
    let event = blocker_for(&mut state.blockers, &config).record_failure(address, Instant::now());
    drop(state);
    if let Some(event) = event {
        tracing::warn!(
            "multireg: blocking {address} for {} s after {} failed authentications for {account} (extension {})",
            event.block_time.as_secs(),
            event.failures,
            config.endpoint
        );
        manager::event(
            "MultiregAddressBlocked",
            &[
                ("Address", address.to_string()),
                ("Extension", config.endpoint.clone()),
                ("Account", account.to_string()),
                ("Failures", event.failures.to_string()),
                ("BlockSeconds", event.block_time.as_secs().to_string()),
            ],
        );
    }
}

/// A successful authentication resets the address's failure count for that extension.
pub fn record_success(account: &str, address: IpAddr) {
    let Some(config) = super::policies::for_extension(account) else { return };
    let section = config.section.clone();
    let mut state = STATE.lock();
    if let Some(blocker) = state.blockers.get_mut(&section) {
        blocker.record_success(address);
    }
}

pub fn is_blocked(address: IpAddr) -> bool {
    let now = Instant::now();
    STATE.lock().blockers.values_mut().any(|b| b.is_blocked(address, now))
}

/// Called before authentication for every request: refuses blocked addresses.
pub fn refuse_if_blocked(request: &pjsip::RxRequest<'_>) -> bool {
    let Ok(address) = request.source().0.parse::<IpAddr>() else { return false };
    if !is_blocked(address) {
        return false;
    }
    // An ACK cannot be answered; dropping it is all a blocked address gets.
    if request.method() != "ACK" {
        request.respond(403, "Forbidden - address blocked after repeated authentication failures");
    }
    true
}

/// Every blocked address with its longest remaining time and failure count.
pub fn blocked() -> Vec<(IpAddr, Duration, u32)> {
    let now = Instant::now();
    let mut all: Vec<(IpAddr, Duration, u32)> = Vec::new();
    for blocker in STATE.lock().blockers.values() {
        for (address, remaining, failures) in blocker.blocked(now) {
            match all.iter_mut().find(|(a, _, _)| *a == address) {
                Some(entry) => {
                    entry.1 = entry.1.max(remaining);
                    entry.2 = entry.2.max(failures);
                }
                None => all.push((address, remaining, failures)),
            }
        }
    }
    all.sort();
    all
}

pub fn clear(address: Option<IpAddr>) -> usize {
    let mut state = STATE.lock();
    let mut cleared: Vec<IpAddr> = Vec::new();
    let now = Instant::now();
    for blocker in state.blockers.values_mut() {
        for (blocked_address, _, _) in blocker.blocked(now) {
            if address.is_none_or(|a| a == blocked_address) && !cleared.contains(&blocked_address) {
                cleared.push(blocked_address);
            }
        }
        blocker.clear(address);
    }
    cleared.len()
}
