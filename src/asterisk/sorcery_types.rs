//! The module's own sorcery object types on res_pjsip's sorcery instance (include/sorcery_types.c):
//! `multireg` (policies; pjsip.conf by default, mappable to realtime in sorcery.conf section
//! `[res_pjsip_multireg]`), `multireg_ringmode` (stored ring modes), `multireg_push` (RFC 8599 push
//! bindings) and `multireg_logout` (logged-out devices), the last three astdb by default. Objects
//! are name/value text; the module validates them with its own parser.
use std::ffi::c_void;

use super::ao2::Ao2;
use super::sorcery::{fields_of, Fields};
use super::text::{from_c, to_c};
use crate::bindings;

pub const POLICY_TYPE: &str = "multireg";
pub const RING_MODE_TYPE: &str = "multireg_ringmode";
pub const PUSH_TYPE: &str = "multireg_push";
pub const LOGOUT_TYPE: &str = "multireg_logout";

/// The types registered; dropping unregisters them (their objects stay valid for holders: they
/// carry no code of this module).
pub struct SorceryTypes(());

impl SorceryTypes {
    pub fn register() -> Result<SorceryTypes, String> {
        // SAFETY: registers our types on res_pjsip's sorcery (a module requirement), all or nothing.
        match unsafe { bindings::multireg_shim_register_sorcery_types() } {
            0 => Ok(SorceryTypes(())),
            _ => {
                Err("could not register the sorcery types multireg, multireg_ringmode, multireg_push and multireg_logout".into())
            }
        }
    }
}

impl Drop for SorceryTypes {
    fn drop(&mut self) {
        // SAFETY: unregisters exactly the types `register` registered.
        unsafe { bindings::multireg_shim_unregister_sorcery_types() }
    }
}

/// Re-reads a type from its wizards (pjsip.conf: only when the file changed).
pub fn reload(object_type: &str) {
    let name = to_c(object_type);
    // SAFETY: res_pjsip's sorcery lives while we are loaded; the type name is copied.
    unsafe { bindings::ast_sorcery_reload_object(bindings::ast_sip_get_sorcery(), name.as_ptr()) }
}

/// The id and fields (in the order they were given) of one object.
///
/// # Safety
/// `object` must be a live sorcery object of res_pjsip's sorcery that the caller holds.
unsafe fn object_fields(object: *const c_void) -> (String, Fields) {
    // SAFETY: the caller's contract; its id is a NUL-terminated string it owns.
    let id = unsafe { from_c(bindings::ast_sorcery_object_get_id(object)) };
    // Sorcery keeps our fields newest first.
    // SAFETY: the caller's contract.
    let mut fields = unsafe { fields_of(object, true) };
    fields.reverse();
    (id, fields)
}

/// Every object of the type, sorted by id.
pub fn all(object_type: &str) -> Vec<(String, Fields)> {
    let name = to_c(object_type);
    // SAFETY: the shim returns a new container reference (or null), given up to `objects_in`.
    unsafe { objects_in(bindings::multireg_shim_sorcery_all(name.as_ptr())) }
}

/// The objects of the type whose `field` is `value` (one query on a realtime store), sorted by id.
pub fn find(object_type: &str, field: &str, value: &str) -> Vec<(String, Fields)> {
    let (name, field, value) = (to_c(object_type), to_c(field), to_c(value));
    // SAFETY: the strings outlive the call (the shim copies them); it returns a new container
    // reference (or null), given up to `objects_in`.
    unsafe { objects_in(bindings::multireg_shim_sorcery_find(name.as_ptr(), field.as_ptr(), value.as_ptr())) }
}

/// Deletes an object (true also when it did not exist).
pub fn delete(object_type: &str, id: &str) -> bool {
    let (name, id) = (to_c(object_type), to_c(id));
    // SAFETY: the strings outlive the call; the shim releases what it retrieves.
    unsafe { bindings::multireg_shim_sorcery_delete(name.as_ptr(), id.as_ptr()) == 0 }
}

/// The objects of a container of res_pjsip sorcery objects, sorted by id.
///
/// # Safety
/// `container` must be null or a container reference the caller gives up.
unsafe fn objects_in(container: *mut bindings::ao2_container) -> Vec<(String, Fields)> {
    let mut objects = Vec::new();
    // SAFETY: the caller's contract; Ao2 releases the reference.
    let Some(container) = (unsafe { Ao2::from_owned(container) }) else {
        return objects;
    };
    container.for_each_in::<c_void>(|object| {
        // SAFETY: we hold the object.
        objects.push(unsafe { object_fields(object.as_ptr()) });
    });
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
}

/// One object's fields, if it exists.
pub fn get(object_type: &str, id: &str) -> Option<Fields> {
    let (name, id) = (to_c(object_type), to_c(id));
    // SAFETY: a retrieve result carries one reference we own (released by Ao2).
    let object = unsafe {
        Ao2::<c_void>::from_owned(bindings::ast_sorcery_retrieve_by_id(
            bindings::ast_sip_get_sorcery(),
            name.as_ptr(),
            id.as_ptr(),
        ))
    }?;
    // SAFETY: we hold the retrieved object.
    Some(unsafe { object_fields(object.as_ptr()) }.1)
}

/// Creates or updates an object.
pub fn put(object_type: &str, id: &str, fields: &[(&str, &str)]) -> bool {
    let names: Vec<_> = fields.iter().map(|(n, _)| to_c(n)).collect();
    let values: Vec<_> = fields.iter().map(|(_, v)| to_c(v)).collect();
    let name_ptrs: Vec<_> = names.iter().map(|n| n.as_ptr()).collect();
    let value_ptrs: Vec<_> = values.iter().map(|v| v.as_ptr()).collect();
    let (object_type, id) = (to_c(object_type), to_c(id));
    // SAFETY: the pointer arrays hold `len` valid C strings that outlive the call; the shim copies them.
    unsafe {
        bindings::multireg_shim_sorcery_put(
            object_type.as_ptr(),
            id.as_ptr(),
            name_ptrs.as_ptr(),
            value_ptrs.as_ptr(),
            fields.len() as i32,
        ) == 0
    }
}

/// Whether every wizard of the type keeps objects on this node only (pjsip.conf, memory, astdb),
/// as opposed to a store other nodes share (realtime).
pub fn is_local(object_type: &str) -> bool {
    let name = to_c(object_type);
    // SAFETY: read-only look at the type's wizard mappings; the shim releases what it takes.
    unsafe { bindings::multireg_shim_sorcery_is_local(name.as_ptr()) == 1 }
}
