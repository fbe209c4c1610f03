//! Registration of the dialplan applications (RingMode, MultiregDial) and functions
//! (MULTIREG_DIAL, RING_MODE); their XML documentation is installed as third-party docs.
use crate::bindings;

pub fn register() -> bool {
    // SAFETY: registers the shim's static applications and functions with this module as owner.
    unsafe { bindings::multireg_shim_register_dialplan() == 0 }
}

pub fn unregister() {
    // SAFETY: unregisters the same items; Asterisk waits for running ones on module unload.
    unsafe { bindings::multireg_shim_unregister_dialplan() }
}

/// Re-reads pjsip.conf whenever res_pjsip reloads its endpoints.
pub fn observe_pjsip_reloads() -> bool {
    // SAFETY: adds the shim's static observer to res_pjsip's sorcery.
    unsafe { bindings::multireg_shim_observe_pjsip() == 0 }
}

pub fn stop_observing_pjsip_reloads() {
    // SAFETY: removes the same observer.
    unsafe { bindings::multireg_shim_unobserve_pjsip() }
}
