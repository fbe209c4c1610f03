//! Sorcery observers on res_pjsip's objects; each is a value whose drop removes it.

use crate::bindings;

/// Calls back when res_pjsip finished (re)loading endpoints, auths or AORs.
pub struct PjsipReloadObserver(());

impl PjsipReloadObserver {
    pub fn add() -> Result<PjsipReloadObserver, String> {
        // SAFETY: adds the shim's static observer to res_pjsip's sorcery (all types or none).
        match unsafe { bindings::multireg_shim_observe_pjsip() } {
            0 => Ok(PjsipReloadObserver(())),
            _ => Err("could not observe res_pjsip reloads".into()),
        }
    }
}

impl Drop for PjsipReloadObserver {
    fn drop(&mut self) {
        // SAFETY: removes the observer added in `add`.
        unsafe { bindings::multireg_shim_unobserve_pjsip() }
    }
}

/// Calls back when a contact leaves the location store (expiry, unregister, removal by anyone).
pub struct ContactObserver(());

impl ContactObserver {
    pub fn add() -> Result<ContactObserver, String> {
        // SAFETY: adds the shim's static observer to res_pjsip's sorcery, which outlives us.
        match unsafe { bindings::multireg_shim_observe_contacts() } {
            0 => Ok(ContactObserver(())),
            _ => Err("could not observe contacts".into()),
        }
    }
}

impl Drop for ContactObserver {
    fn drop(&mut self) {
        // SAFETY: removes the observer added in `add`.
        unsafe { bindings::multireg_shim_unobserve_contacts() }
    }
}
