//! Stasis subscriptions (PJSIP security events, app_queue's QueueMemberAdded) and the guard's
//! view of the digest challenges Asterisk sends. The callbacks run on Stasis' pool threads and
//! PJSIP's transmit path; each enters the module through the panic guard.
use std::ffi::{c_char, c_int};

use super::guard::guarded;
use super::text::from_c;
use crate::bindings;

/// Subscribes to the security topic, accepting only security events.
pub fn subscribe_security() -> bool {
    // SAFETY: the shim keeps the subscription in a static until `unsubscribe_security`.
    unsafe { bindings::multireg_shim_subscribe_security() == 0 }
}

/// Unsubscribes and waits until the callback has run for the last time.
pub fn unsubscribe_security() {
    // SAFETY: a no-op when not subscribed.
    unsafe { bindings::multireg_shim_unsubscribe_security() }
}

/// Subscribes to app_queue's member additions (see shim.c for how the filter is narrowed).
pub fn subscribe_queues() -> bool {
    // SAFETY: as above.
    unsafe { bindings::multireg_shim_subscribe_queues() == 0 }
}

pub fn unsubscribe_queues() {
    // SAFETY: as above; waits for the last callback.
    unsafe { bindings::multireg_shim_unsubscribe_queues() }
}

/// Asterisk is sending a digest challenge with `nonce` to `address`.
#[no_mangle]
pub extern "C" fn multireg_on_challenge_sent(address: *const c_char, nonce: *const c_char) {
    guarded("challenge observer", (), || {
        if let Ok(address) = from_c(address).parse() {
            crate::module::authblock::challenge_sent(address, &from_c(nonce));
        }
    })
}

/// A PJSIP security event: a failed or successful authentication of `account`.
#[no_mangle]
pub extern "C" fn multireg_on_auth_event(
    outcome: c_int,
    account: *const c_char,
    address: *const c_char,
    challenge: *const c_char,
) {
    guarded("security event", (), || {
        let Some(address) = crate::policy::authblock::security_event_address(&from_c(address)) else { return };
        let account = from_c(account);
        if outcome == bindings::MULTIREG_AUTH_FAILED as c_int {
            crate::module::authblock::record_failure(&account, address, &from_c(challenge));
        } else if outcome == bindings::MULTIREG_AUTH_SUCCEEDED as c_int {
            crate::module::authblock::record_success(&account, address);
        }
    })
}

/// app_queue added a member to a queue.
#[no_mangle]
pub extern "C" fn multireg_on_queue_member_added(queue: *const c_char, interface: *const c_char, state_interface: *const c_char) {
    guarded("queue member added", (), || {
        crate::module::events::member_added(&from_c(queue), &from_c(interface), &from_c(state_interface));
    })
}
