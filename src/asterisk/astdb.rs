//! Asterisk's persistent key/value store (survives restarts and reboots).
use super::text::{from_c, to_c};
use crate::bindings;

pub fn get(family: &str, key: &str) -> Option<String> {
    let (family, key) = (to_c(family), to_c(key));
    let mut buffer = vec![0 as std::ffi::c_char; 256];
    // SAFETY: the buffer is writable for its full length, which we pass.
    let result = unsafe { bindings::ast_db_get(family.as_ptr(), key.as_ptr(), buffer.as_mut_ptr(), buffer.len() as i32) };
    // SAFETY: on success ast_db_get wrote a NUL-terminated value into the buffer (zeroed, so it
    // is terminated in any case).
    (result == 0).then(|| unsafe { from_c(buffer.as_ptr()) })
}

pub fn put(family: &str, key: &str, value: &str) -> bool {
    let (family, key, value) = (to_c(family), to_c(key), to_c(value));
    // SAFETY: all three are valid C strings for the call.
    unsafe { bindings::ast_db_put(family.as_ptr(), key.as_ptr(), value.as_ptr()) == 0 }
}
