//! Asterisk's persistent key/value store (survives restarts and reboots).
use super::text::{from_c, to_c};
use crate::bindings;

#[allow(dead_code)]
pub fn get(family: &str, key: &str) -> Option<String> {
    let (family, key) = (to_c(family), to_c(key));
    let mut buffer = vec![0 as std::ffi::c_char; 256];
    // SAFETY: the buffer is writable for its full length, which we pass.
    let result = unsafe { bindings::ast_db_get(family.as_ptr(), key.as_ptr(), buffer.as_mut_ptr(), buffer.len() as i32) };
    // SAFETY: on success ast_db_get wrote a NUL-terminated value into the buffer (zeroed, so it
    // is terminated in any case).
    (result == 0).then(|| unsafe { from_c(buffer.as_ptr()) })
}

#[allow(dead_code)]
pub fn put(family: &str, key: &str, value: &str) -> bool {
    let (family, key, value) = (to_c(family), to_c(key), to_c(value));
    // SAFETY: all three are valid C strings for the call.
    unsafe { bindings::ast_db_put(family.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}

pub fn delete(family: &str, key: &str) -> bool {
    let (family, key) = (to_c(family), to_c(key));
    // SAFETY: both are valid C strings for the call.
    unsafe { bindings::ast_db_del(family.as_ptr(), key.as_ptr()) == 0 }
}

/// Every (key below `family`, value) in the family and its sub-families; keys are given without
/// the leading `/family/` (e.g. `101/abcd` for `/multireg/push/101/abcd` in `multireg/push`).
pub fn tree(family: &str) -> Vec<(String, String)> {
    let family_c = to_c(family);
    let prefix = format!("/{family}/");
    let mut entries = Vec::new();
    // SAFETY: gettree returns a list we own (or null) and free once with freetree; each entry's
    // key is a C string and `data` a NUL-terminated string stored right after the entry.
    unsafe {
        let head = bindings::ast_db_gettree(family_c.as_ptr(), std::ptr::null());
        let mut entry = head;
        while !entry.is_null() {
            let key = from_c((*entry).key);
            let value = from_c((*entry).data.as_ptr());
            if let Some(key) = key.strip_prefix(&prefix) {
                entries.push((key.to_string(), value));
            }
            entry = (*entry).next;
        }
        if !head.is_null() {
            bindings::ast_db_freetree(head);
        }
    }
    entries
}
