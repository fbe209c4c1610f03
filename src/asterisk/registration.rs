//! Everything the module registers with Asterisk that is undone by one call: a value per
//! registration, whose `Drop` unregisters it. Each kind's register/unregister pair is named once,
//! in `Kind::calls`; the shim registers each table all-or-nothing.
use std::ffi::c_int;

use crate::bindings;

/// What can be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The CLI commands (`multireg show ...`).
    CliCommands,
    /// RingMode, MultiregDial, MULTIREG_DIAL(), RING_MODE().
    DialplanItems,
    /// The Multireg* AMI actions.
    ManagerActions,
    /// The PJSIP services: one just before the registrar (REGISTER decisions, INVITE call limit,
    /// the registrar's answers) and one before authentication (blocked addresses, challenges).
    PjsipServices,
    /// res_pjsip (re)loaded endpoints, auths or AORs.
    PjsipReloadObserver,
    /// A contact left the location store.
    ContactObserver,
    /// Stasis: PJSIP security events (only that message type).
    SecurityEvents,
    /// Stasis: app_queue's QueueMemberAdded.
    QueueEvents,
    /// The `Multireg` device state provider and the subscription to PJSIP device states.
    BusyLamp,
    /// RFC 8599: the MultiregPushWake application and the `multireg-push` dialplan context.
    PushWake,
    /// The module's background serializer on res_pjsip's thread pool (no thread of its own).
    BackgroundSerializer,
}

type RegisterFn = unsafe extern "C" fn() -> c_int;
type UnregisterFn = unsafe extern "C" fn();

impl Kind {
    fn calls(self) -> (RegisterFn, UnregisterFn) {
        match self {
            Kind::CliCommands => (bindings::multireg_shim_register_cli, bindings::multireg_shim_unregister_cli),
            Kind::DialplanItems => (bindings::multireg_shim_register_dialplan, bindings::multireg_shim_unregister_dialplan),
            Kind::ManagerActions => (bindings::multireg_shim_register_manager, bindings::multireg_shim_unregister_manager),
            Kind::PjsipServices => (bindings::multireg_shim_register_services, bindings::multireg_shim_unregister_services),
            Kind::PjsipReloadObserver => (bindings::multireg_shim_observe_pjsip, bindings::multireg_shim_unobserve_pjsip),
            Kind::ContactObserver => (bindings::multireg_shim_observe_contacts, bindings::multireg_shim_unobserve_contacts),
            Kind::SecurityEvents => (bindings::multireg_shim_subscribe_security, bindings::multireg_shim_unsubscribe_security),
            Kind::QueueEvents => (bindings::multireg_shim_subscribe_queues, bindings::multireg_shim_unsubscribe_queues),
            Kind::BusyLamp => (bindings::multireg_shim_busy_lamp_start, bindings::multireg_shim_busy_lamp_stop),
            Kind::PushWake => (bindings::multireg_shim_register_push, bindings::multireg_shim_unregister_push),
            Kind::BackgroundSerializer => (bindings::multireg_shim_background_start, bindings::multireg_shim_background_stop),
        }
    }
}

/// One registration in force; dropping it undoes it (an unsubscribe also waits for the last
/// callback, a PJSIP service is gone from PJSIP's module list when it returns).
#[derive(Debug)]
pub struct Registration {
    kind: Kind,
}

impl Registration {
    pub fn new(kind: Kind) -> Result<Registration, String> {
        let (register, _) = kind.calls();
        // SAFETY: each pair registers one of the shim's static tables or modules with res_pjsip,
        // the CLI, the PBX or Stasis, which all outlive the module (res_pjsip is a requirement);
        // on failure the shim has undone its own partial work.
        match unsafe { register() } {
            0 => Ok(Registration { kind }),
            _ => Err(format!("could not register {kind:?}")),
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let (_, unregister) = self.kind.calls();
        // SAFETY: undoes exactly the registration `new` made, once.
        unsafe { unregister() }
    }
}

/// Runs `AsteriskModule::background_work` once on the module's background serializer; false when
/// that serializer does not exist.
pub fn queue_background_work() -> bool {
    // SAFETY: the shim checks that the serializer exists; the work item carries no data.
    unsafe { bindings::multireg_shim_background_queue() == 0 }
}
