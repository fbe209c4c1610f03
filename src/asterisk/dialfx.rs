//! Safe wrappers for the dial-time call features (include/dialfx.c): the registration of
//! MultiregFlip, MultiregDelayedRing, the delayed-ring context and the dial-message subscription;
//! the dial-message entry point; and the channel and bridge calls those features make.
use std::ffi::{c_char, c_int};
use std::sync::OnceLock;

use super::channel::Channel;
use super::entry::InFlight;
use super::guard::guarded;
use super::text::{from_c, to_c};
use crate::bindings;

/// The context the Local channels of delayed ring groups run in (created by the module).
pub const DELAYED_RING_CONTEXT: &str = "multireg-delayed-ring";

/// One dial message: `dialer` started ringing `peer` (empty status) or `peer` ended with `status`.
#[derive(Debug, Clone, Copy)]
pub struct DialEvent<'a> {
    pub dialer_uniqueid: &'a str,
    pub peer_uniqueid: &'a str,
    pub peer_name: &'a str,
    pub status: &'a str,
    /// The peer's hangup cause when the message was published (0 when none).
    pub peer_cause: i32,
}

static DIAL_HANDLER: OnceLock<fn(&DialEvent<'_>)> = OnceLock::new();

/// The dial features' registrations; dropping it undoes them (the unsubscribe waits for the
/// last dial message callback).
#[derive(Debug)]
pub struct DialFeaturesRegistration(());

impl DialFeaturesRegistration {
    /// Registers everything; `handler` receives every dial message (it must be cheap when no
    /// call needs it).
    pub fn start(handler: fn(&DialEvent<'_>)) -> Result<Self, String> {
        let _ = DIAL_HANDLER.set(handler);
        // SAFETY: registers static tables of the shim; all or nothing.
        if unsafe { bindings::multireg_shim_dialfx_register() } != 0 {
            return Err("could not register MultiregFlip, MultiregDelayedRing, the delayed-ring context or the dial \
                        message subscription"
                .into());
        }
        Ok(DialFeaturesRegistration(()))
    }
}

impl Drop for DialFeaturesRegistration {
    fn drop(&mut self) {
        // SAFETY: undoes exactly what `start` registered.
        unsafe { bindings::multireg_shim_dialfx_unregister() };
    }
}

/// # Safety
/// Called by include/dialfx.c with NUL-terminated strings valid for the call.
#[no_mangle]
pub unsafe extern "C" fn multireg_on_dial_event(
    caller_uniqueid: *const c_char,
    peer_uniqueid: *const c_char,
    peer_name: *const c_char,
    dialstatus: *const c_char,
    peer_cause: c_int,
) {
    let _in_flight = InFlight::enter();
    let Some(handler) = DIAL_HANDLER.get() else { return };
    guarded("dial message", (), || {
        // SAFETY: the caller's contract: NUL-terminated strings valid for this call.
        let (dialer, peer, name, status) =
            unsafe { (from_c(caller_uniqueid), from_c(peer_uniqueid), from_c(peer_name), from_c(dialstatus)) };
        handler(&DialEvent { dialer_uniqueid: &dialer, peer_uniqueid: &peer, peer_name: &name, status: &status, peer_cause });
    })
}

fn read_into(fill: impl FnOnce(*mut c_char, usize)) -> String {
    let mut buffer = [0 as c_char; 256];
    fill(buffer.as_mut_ptr(), buffer.len());
    // SAFETY: the buffer starts zeroed and `fill` writes at most its length, so the last byte
    // stays NUL and the string is terminated.
    unsafe { from_c(buffer.as_ptr()) }
}

/// The channel's unique id.
pub fn uniqueid(channel: &Channel<'_>) -> String {
    // SAFETY: the channel is alive during the callback; the shim locks it and copies at most len bytes.
    read_into(|buf, len| unsafe { bindings::multireg_shim_dialfx_uniqueid(channel.as_ptr(), buf, len) })
}

/// A channel variable (at most 255 bytes; empty when unset).
pub fn variable(channel: &Channel<'_>, name: &str) -> String {
    let name = to_c(name);
    // SAFETY: as above; the name is a valid C string.
    read_into(|buf, len| unsafe { bindings::multireg_shim_dialfx_getvar(channel.as_ptr(), name.as_ptr(), buf, len) })
}

/// Indicates ringing towards the caller and waits; false when the channel hung up meanwhile.
pub fn ring_and_wait(channel: &Channel<'_>, millis: u32) -> bool {
    let millis = c_int::try_from(millis).unwrap_or(c_int::MAX);
    // SAFETY: runs on the channel's own thread (its application), as ast_safe_sleep requires.
    unsafe { bindings::multireg_shim_dialfx_ring_and_wait(channel.as_ptr(), millis) == 0 }
}

/// The SIP status code of the last response of `peer_name` as its caller recorded it; 0 if none.
pub fn dialed_sip_code(caller_uniqueid: &str, peer_name: &str) -> u16 {
    let (caller, peer) = (to_c(caller_uniqueid), to_c(peer_name));
    // SAFETY: the shim finds the channel by id (holding a reference) and reads under its lock.
    let code = unsafe { bindings::multireg_shim_dialfx_dialed_sip_code(caller.as_ptr(), peer.as_ptr()) };
    u16::try_from(code).unwrap_or(0)
}

/// Ends a still ringing channel with hangup cause USER_BUSY; false if gone or answered.
pub fn hangup_busy(uniqueid: &str) -> bool {
    let id = to_c(uniqueid);
    // SAFETY: the shim holds a reference while it locks and soft-hangs-up the channel.
    unsafe { bindings::multireg_shim_dialfx_hangup_busy(id.as_ptr()) == 1 }
}

/// Answered channels named `prefix…` in a bridge with another channel.
pub fn bridged_channels(prefix: &str) -> Vec<String> {
    let prefix = to_c(prefix);
    // SAFETY: the shim returns a malloc'd NUL-terminated list (or null), freed here once.
    unsafe {
        let list = bindings::multireg_shim_dialfx_bridged_channels(prefix.as_ptr());
        if list.is_null() {
            return Vec::new();
        }
        let text = from_c(list);
        bindings::multireg_shim_dialfx_free(list.cast());
        text.lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

/// The outcome of `take_over`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOver {
    /// The channel was in the call and has left it again (call ended or hung up).
    Done,
    /// The old channel was no longer in a call.
    NoCall,
}

/// `channel` answers and takes `old_channel`'s place in its bridge; returns when it leaves.
pub fn take_over(channel: &Channel<'_>, old_channel: &str) -> TakeOver {
    let old = to_c(old_channel);
    // SAFETY: runs on the channel's own thread, which ast_bridge_join requires; the shim holds
    // references to the old channel and its bridge for the join.
    match unsafe { bindings::multireg_shim_dialfx_take_over(channel.as_ptr(), old.as_ptr()) } {
        0 => TakeOver::Done,
        _ => TakeOver::NoCall,
    }
}
