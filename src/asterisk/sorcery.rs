//! Sorcery objects of res_pjsip (endpoints, AORs, auths, contacts) as name/value pairs, without
//! depending on their struct layouts.
use std::ffi::c_void;

use super::ao2::Ao2;
use super::text::{from_c, lossless_c, take_shim_string, to_c};
use crate::bindings;

pub type Fields = Vec<(String, String)>;

fn sorcery() -> *mut bindings::ast_sorcery {
    // SAFETY: res_pjsip (a module requirement) owns this sorcery instance while we are loaded.
    unsafe { bindings::ast_sip_get_sorcery() }
}

/// Name/value pairs of any sorcery object (`ast_sorcery_objectset_create2`).
///
/// # Safety
/// `object` must be a live sorcery object of res_pjsip's sorcery (a reference held by the caller
/// for the duration of the call).
pub unsafe fn fields_of(object: *const c_void, prefer_list: bool) -> Fields {
    let mode = if prefer_list { bindings::AST_HANDLER_PREFER_LIST } else { bindings::AST_HANDLER_ONLY_STRING };
    // SAFETY: object as the caller's contract says; the list is ours to free, and its names and
    // values are NUL-terminated strings alive until ast_variables_destroy.
    unsafe {
        let list = bindings::ast_sorcery_objectset_create2(sorcery(), object, mode);
        let mut fields = Vec::new();
        let mut variable = list;
        while !variable.is_null() {
            fields.push((from_c((*variable).name), from_c((*variable).value)));
            variable = (*variable).next;
        }
        bindings::ast_variables_destroy(list);
        fields
    }
}

/// A sorcery object fetched by type and id.
pub struct SorceryObject {
    handle: Ao2<c_void>,
}

impl SorceryObject {
    pub fn fields(&self) -> Fields {
        // SAFETY: the handle holds a reference to a live sorcery object of res_pjsip's sorcery.
        unsafe { fields_of(self.handle.as_ptr(), false) }
    }
    pub fn fields_prefer_list(&self) -> Fields {
        // SAFETY: as in `fields`.
        unsafe { fields_of(self.handle.as_ptr(), true) }
    }
}

pub fn retrieve(object_type: &str, id: &str) -> Option<SorceryObject> {
    let (object_type, id) = (to_c(object_type), to_c(id));
    // SAFETY: returns a new reference or null; Ao2 takes it over.
    let object = unsafe { bindings::ast_sorcery_retrieve_by_id(sorcery(), object_type.as_ptr(), id.as_ptr()) };
    // SAFETY: a retrieve result carries one reference we now own.
    unsafe { Ao2::from_owned(object) }.map(|handle| SorceryObject { handle })
}

/// A registered contact of an AOR.
pub struct StoredContact {
    handle: Ao2<bindings::ast_sip_contact>,
    pub fields: Fields,
}

impl StoredContact {
    pub fn field(&self, name: &str) -> &str {
        self.fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str()).unwrap_or("")
    }
}

/// Copies the fields the module uses straight from the contact (bindgen layout of the exact
/// headers), without building a sorcery object set: this runs on every REGISTER.
///
/// # Safety
/// `contact` must be a live `ast_sip_contact`.
unsafe fn contact_fields(contact: *const bindings::ast_sip_contact) -> Fields {
    // SAFETY: string fields of a live contact are NUL-terminated (possibly empty) strings.
    unsafe {
        let c = &*contact;
        vec![
            ("uri".into(), lossless_c(c.uri)),
            ("user_agent".into(), from_c(c.user_agent)),
            ("call_id".into(), lossless_c(c.call_id)),
            ("via_addr".into(), from_c(c.via_addr)),
            ("via_port".into(), c.via_port.to_string()),
            ("expiration_time".into(), c.expiration_time.tv_sec.to_string()),
            ("endpoint".into(), from_c(c.endpoint_name)),
            ("reg_server".into(), from_c(c.reg_server)),
        ]
    }
}

/// Calls `each` with every contact of `aor_name` now (none if the AOR does not exist) that passes
/// `filter` (an `ast_sip_contact_filter`: all, or reachable only).
fn for_each_contact(aor_name: &str, filter: bindings::ast_sip_contact_filter, each: impl FnMut(Ao2<bindings::ast_sip_contact>)) {
    let name = to_c(aor_name);
    // SAFETY: each retrieve returns a new reference (or null) that Ao2 releases.
    let container = unsafe {
        let Some(aor) = Ao2::from_owned(bindings::ast_sip_location_retrieve_aor(name.as_ptr())) else { return };
        Ao2::from_owned(bindings::ast_sip_location_retrieve_aor_contacts_filtered(aor.as_ptr(), filter))
    };
    if let Some(container) = container {
        container.for_each_in(each);
    }
}

/// Every contact currently registered to `aor_name` (empty if the AOR does not exist).
pub fn aor_contacts(aor_name: &str) -> Vec<StoredContact> {
    let mut contacts = Vec::new();
    for_each_contact(aor_name, bindings::AST_SIP_CONTACT_FILTER_DEFAULT, |handle| {
        // SAFETY: `handle` is a live contact we hold a reference to.
        let fields = unsafe { contact_fields(handle.as_ptr()) };
        contacts.push(StoredContact { handle, fields });
    });
    contacts
}

/// The AOR names an endpoint lists in its `aors` option (read directly: this runs per call).
pub fn endpoint_aors(endpoint: &str) -> Vec<String> {
    let (object_type, id) = (to_c("endpoint"), to_c(endpoint));
    // SAFETY: a retrieve result carries one reference we own (released by Ao2); `aors` is a
    // string field of the live endpoint.
    let aors = unsafe {
        let object = bindings::ast_sorcery_retrieve_by_id(sorcery(), object_type.as_ptr(), id.as_ptr());
        let Some(endpoint) = Ao2::from_owned(object.cast::<bindings::ast_sip_endpoint>()) else { return Vec::new() };
        from_c((*endpoint.as_ptr()).aors)
    };
    aors.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect()
}

/// Removes a registered contact (as an unREGISTER would).
pub fn delete_contact(contact: &StoredContact) -> bool {
    // SAFETY: the contact is a live object we hold a reference to.
    unsafe { bindings::ast_sip_location_delete_contact(contact.handle.as_ptr()) == 0 }
}

/// An endpoint's complete access rules as sorcery fields, in the order Asterisk applies them:
/// ("acl", NAME) per named ACL, ("deny"|"permit", "ADDRESS/BITS") per inline rule, and the same
/// with a "contact_" prefix. (The object set shows only the first ACL's name, or "deny/permit".)
/// None when the endpoint does not exist.
pub fn endpoint_acl_rules(endpoint: &str) -> Option<Fields> {
    let id = to_c(endpoint);
    // SAFETY: a valid C string; the shim returns null or a string it allocated for us.
    let text = unsafe { take_shim_string(bindings::multireg_shim_endpoint_acl_rules(id.as_ptr())) }?;
    Some(text.lines().filter_map(|line| line.split_once('\t')).map(|(k, v)| (k.to_string(), v.to_string())).collect())
}

/// What the dial path needs to know about an AOR besides its registered contacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AorDialFacts {
    /// Contacts from its configuration (`contact=`), which no REGISTER brings and the device
    /// books therefore never see.
    pub permanent_contacts: bool,
    /// `qualify_frequency` is set: contacts can be unreachable, which only the store's contacts
    /// (with their qualify status) tell.
    pub qualified: bool,
}

/// None when the AOR does not exist.
pub fn aor_dial_facts(aor_name: &str) -> Option<AorDialFacts> {
    let name = to_c(aor_name);
    // SAFETY: the retrieve returns a new reference (or null) that Ao2 releases; the container
    // pointer and qualify_frequency are fields of the live AOR, read while we hold it.
    unsafe {
        let aor = Ao2::from_owned(bindings::ast_sip_location_retrieve_aor(name.as_ptr()))?;
        let permanent = (*aor.as_ptr()).permanent_contacts;
        Some(AorDialFacts {
            permanent_contacts: !permanent.is_null() && bindings::ao2_container_count(permanent) > 0,
            qualified: (*aor.as_ptr()).qualify_frequency > 0,
        })
    }
}

/// The Contact URIs `PJSIP_DIAL_CONTACTS` would dial for `aor_name`: registered and permanent
/// contacts, without those qualify found unreachable.
pub fn aor_reachable_contact_uris(aor_name: &str) -> Vec<String> {
    let mut uris = Vec::new();
    for_each_contact(aor_name, bindings::AST_SIP_CONTACT_FILTER_REACHABLE, |contact| {
        // SAFETY: the contact is live while we hold it; `uri` is a NUL-terminated string field.
        uris.push(unsafe { from_c((*contact.as_ptr()).uri) })
    });
    uris
}
