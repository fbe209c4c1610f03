//! Device states: reading one (`ast_device_state`), announcing that the busy lamp
//! `Multireg:<extension>` changed, and how far a channel is (bridged, answered).
use super::text::{take_shim_string, to_c};
use crate::bindings;

/// The state of a device such as `PJSIP/101`, as Asterisk's `enum ast_device_state` value.
pub fn device_state(device: &str) -> i32 {
    let device = to_c(device);
    // SAFETY: a valid C string; Asterisk only reads it.
    unsafe { bindings::ast_device_state(device.as_ptr()) as i32 }
}

/// Asks Asterisk to read `Multireg:<extension>` again (and tell its watchers if it changed).
pub fn lamp_changed(extension: &str) {
    let extension = to_c(extension);
    // SAFETY: a valid C string, passed through a constant "Multireg:%s" format.
    unsafe { bindings::multireg_shim_busy_lamp_changed(extension.as_ptr()) }
}

/// Whether Asterisk's device state cache holds `Multireg:<extension>`, i.e. its state was announced
/// before (by this load of the module or an earlier one), so something may be watching it.
pub fn lamp_cached(extension: &str) -> bool {
    let extension = to_c(extension);
    // SAFETY: a valid C string, passed through a constant "Multireg:%s" format into a bounded buffer.
    unsafe { bindings::multireg_shim_busy_lamp_cached(extension.as_ptr()) != 0 }
}

/// The device lists of the dialplan hints that name a `Multireg:` device (e.g.
/// `PJSIP/104&Multireg:101`).
pub fn multireg_hints() -> Vec<String> {
    // SAFETY: the shim returns null or a string it allocated for us.
    let text = unsafe { take_shim_string(bindings::multireg_shim_multireg_hints()) }.unwrap_or_default();
    text.lines().map(str::to_string).collect()
}

/// How far the channel called `name` is: (in a bridge, answered); None when there is no such
/// channel.
pub fn channel_progress(name: &str) -> Option<(bool, bool)> {
    let name = to_c(name);
    // SAFETY: a valid C string; the shim holds its own reference to the channel while asking.
    match unsafe { bindings::multireg_shim_channel_progress(name.as_ptr()) } {
        progress if progress >= 0 => Some((progress & 1 != 0, progress & 2 != 0)),
        _ => None,
    }
}
