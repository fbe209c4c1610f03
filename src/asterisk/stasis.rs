//! Stasis subscriptions: PJSIP security events (only that message type is accepted) and
//! app_queue's QueueMemberAdded (see shim.c for how its private type is learned). Each is a value
//! whose drop unsubscribes and waits until its callback has run for the last time.
use crate::bindings;

pub struct SecuritySubscription(());

impl SecuritySubscription {
    pub fn subscribe() -> Result<SecuritySubscription, String> {
        // SAFETY: the shim keeps the subscription in a static until it is dropped.
        match unsafe { bindings::multireg_shim_subscribe_security() } {
            0 => Ok(SecuritySubscription(())),
            _ => Err("could not subscribe to security events".into()),
        }
    }
}

impl Drop for SecuritySubscription {
    fn drop(&mut self) {
        // SAFETY: ends the subscription made in `subscribe` and waits for its last callback.
        unsafe { bindings::multireg_shim_unsubscribe_security() }
    }
}

pub struct QueueSubscription(());

impl QueueSubscription {
    pub fn subscribe() -> Result<QueueSubscription, String> {
        // SAFETY: as for SecuritySubscription.
        match unsafe { bindings::multireg_shim_subscribe_queues() } {
            0 => Ok(QueueSubscription(())),
            _ => Err("could not subscribe to queue membership changes".into()),
        }
    }
}

impl Drop for QueueSubscription {
    fn drop(&mut self) {
        // SAFETY: ends the subscription made in `subscribe` and waits for its last callback.
        unsafe { bindings::multireg_shim_unsubscribe_queues() }
    }
}
