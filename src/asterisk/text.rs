//! C string conversions shared by the wrappers.
use std::ffi::{c_char, CStr, CString};

/// Copies a C string (null = empty) into Rust.
pub fn from_c(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: callers pass NUL-terminated strings that stay valid for this call.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned()
}

/// Turns text into a C string, replacing interior NULs so nothing is silently cut.
pub fn to_c(text: &str) -> CString {
    CString::new(text.replace('\0', "\\0")).unwrap_or_default()
}

/// Copies `text` into a C buffer of `len` bytes, truncating and always NUL-terminating.
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
pub unsafe fn copy_to_buffer(text: &str, buf: *mut c_char, len: usize) {
    if buf.is_null() || len == 0 {
        return;
    }
    let bytes = text.as_bytes();
    let count = bytes.len().min(len - 1);
    // SAFETY: count < len and buf has len writable bytes (caller's contract).
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), count);
        *buf.add(count) = 0;
    }
}
