//! Objects res_pjsip serves from our memory wizard (mapped after pjsip.conf): the secondary
//! endpoints, auths and AORs. Hand-configured objects always win a lookup.
use super::text::to_c;
use crate::bindings;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjectType {
    Auth = 0,
    Aor = 1,
    Endpoint = 2,
}

impl ObjectType {
    pub fn name(self) -> &'static str {
        match self {
            ObjectType::Auth => "auth",
            ObjectType::Aor => "aor",
            ObjectType::Endpoint => "endpoint",
        }
    }
}

/// The memory wizards mapped after pjsip.conf; dropping removes them and every object in them.
pub struct MemoryWizard(());

impl MemoryWizard {
    pub fn map() -> Result<MemoryWizard, String> {
        // SAFETY: maps memory wizards onto res_pjsip's auth, aor and endpoint types.
        if unsafe { bindings::multireg_shim_secondary_setup() } == 0 {
            return Ok(MemoryWizard(()));
        }
        // SAFETY: removes whichever of the mappings the failed setup added.
        unsafe { bindings::multireg_shim_secondary_teardown() };
        Err("could not map the memory wizard for secondary endpoints".into())
    }
}

impl Drop for MemoryWizard {
    fn drop(&mut self) {
        // SAFETY: removes only the mappings this module added.
        unsafe { bindings::multireg_shim_secondary_teardown() }
    }
}

/// Creates or replaces an object from name/value pairs (the type's apply handler validates them).
pub fn put(object_type: ObjectType, id: &str, fields: &[(String, String)]) -> bool {
    let names: Vec<_> = fields.iter().map(|(n, _)| to_c(n)).collect();
    let values: Vec<_> = fields.iter().map(|(_, v)| to_c(v)).collect();
    let name_ptrs: Vec<_> = names.iter().map(|n| n.as_ptr()).collect();
    let value_ptrs: Vec<_> = values.iter().map(|v| v.as_ptr()).collect();
    let id = to_c(id);
    // SAFETY: the pointer arrays hold `len` valid C strings that outlive the call; the shim
    // copies them into an ast_variable list.
    unsafe {
        bindings::multireg_shim_secondary_put(
            object_type as i32,
            id.as_ptr(),
            name_ptrs.as_ptr(),
            value_ptrs.as_ptr(),
            fields.len() as i32,
        ) == 0
    }
}

pub fn delete(object_type: ObjectType, id: &str) {
    let id = to_c(id);
    // SAFETY: deletes from our own memory wizard only.
    unsafe { bindings::multireg_shim_secondary_delete(object_type as i32, id.as_ptr()) };
}

/// Whether `id` is one of our objects (as opposed to a hand-configured one).
pub fn owned(object_type: ObjectType, id: &str) -> bool {
    let id = to_c(id);
    // SAFETY: a read-only lookup in our memory wizard.
    unsafe { bindings::multireg_shim_secondary_owned(object_type as i32, id.as_ptr()) == 1 }
}

/// Whether `field` is a registered option of the sorcery type (e.g. to tell set_var entries apart).
pub fn is_registered_field(object_type: ObjectType, field: &str) -> bool {
    let (type_name, field) = (to_c(object_type.name()), to_c(field));
    // SAFETY: res_pjsip's sorcery and its registered object types live while we are loaded; the
    // object type reference is released right after the check.
    unsafe {
        let object_type = bindings::ast_sorcery_get_object_type(bindings::ast_sip_get_sorcery(), type_name.as_ptr());
        if object_type.is_null() {
            return false;
        }
        let registered = bindings::ast_sorcery_is_object_field_registered(object_type, field.as_ptr()) != 0;
        super::ao2::release(object_type.cast());
        registered
    }
}

/// Whether res_pjsip finds an object `id` of this type that is not ours (hand-configured).
pub fn foreign(object_type: ObjectType, id: &str) -> bool {
    let id = to_c(id);
    // SAFETY: read-only lookups; the shim releases both references it takes.
    unsafe { bindings::multireg_shim_secondary_foreign(object_type as i32, id.as_ptr()) == 1 }
}
