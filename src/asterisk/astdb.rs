//! Asterisk's persistent key/value store (survives restarts and reboots).
use super::text::{from_c, to_c};
use crate::bindings;

#[allow(dead_code)]
pub fn get(family: &str, key: &str) -> Option<String> {
    let (family, key) = (to_c(family), to_c(key));
    let mut buffer = vec![0 as std::ffi::c_char; 256];
    // SAFETY: the buffer is writable for its full length, which we pass.
    let result = unsafe { bindings::ast_db_get(family.as_ptr(), key.as_ptr(), buffer.as_mut_ptr(), buffer.len() as i32) };
    (result == 0).then(|| from_c(buffer.as_ptr()))
}

#[allow(dead_code)]
pub fn put(family: &str, key: &str, value: &str) -> bool {
    let (family, key, value) = (to_c(family), to_c(key), to_c(value));
    // SAFETY: all three are valid C strings for the call.
    unsafe { bindings::ast_db_put(family.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}

/// Every (key, value) of a family (keys without the family path), e.g. to migrate them.
pub fn entries(family: &str) -> Vec<(String, String)> {
    let family_c = to_c(family);
    let prefix = format!("/{family}/");
    let mut found = Vec::new();
    // SAFETY: ast_db_gettree returns a list we own until ast_db_freetree; each entry's key and
    // data are NUL-terminated strings inside it.
    unsafe {
        let tree = bindings::ast_db_gettree(family_c.as_ptr(), std::ptr::null());
        let mut entry = tree;
        while !entry.is_null() {
            let key = from_c((*entry).key);
            let value = from_c((*entry).data.as_ptr());
            found.push((key.strip_prefix(&prefix).unwrap_or(&key).to_string(), value));
            entry = (*entry).next;
        }
        bindings::ast_db_freetree(tree);
    }
    found
}

pub fn delete(family: &str, key: &str) -> bool {
    let (family, key) = (to_c(family), to_c(key));
    // SAFETY: both are valid C strings for the call.
    unsafe { bindings::ast_db_del(family.as_ptr(), key.as_ptr()) == 0 }
}
