//! C string conversions shared by the wrappers.
use std::ffi::{c_char, CStr, CString};

/// Copies a C string (null = empty) into Rust.
///
/// # Safety
/// `ptr` must be null or point at a NUL-terminated string that stays valid and unchanged for
/// the duration of this call.
pub unsafe fn from_c(ptr: *const c_char) -> String {
    // SAFETY: the caller's contract.
    unsafe { borrowed_c(ptr) }.into_owned()
}

/// A C string (null = empty) borrowed, copied only where it is not valid UTF-8.
///
/// # Safety
/// `ptr` must be null or point at a NUL-terminated string that stays valid and unchanged for
/// `'a`.
pub unsafe fn borrowed_c<'a>(ptr: *const c_char) -> std::borrow::Cow<'a, str> {
    if ptr.is_null() {
        return std::borrow::Cow::Borrowed("");
    }
    // SAFETY: the caller's contract.
    unsafe { CStr::from_ptr(ptr) }.to_string_lossy()
}

/// Takes a string the shim allocated with Asterisk's allocator: copies it into Rust and hands it
/// back to the shim to free. None for null.
///
/// # Safety
/// `ptr` must be null or a NUL-terminated string the shim allocated for the caller, which nothing
/// else uses or frees.
pub unsafe fn take_shim_string(ptr: *mut c_char) -> Option<String> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: the caller's contract: a valid string, ours to free exactly once.
    unsafe {
        let text = from_c(ptr);
        crate::bindings::multireg_shim_free(ptr.cast());
        Some(text)
    }
}

/// Turns text into a C string, replacing interior NULs so nothing is silently cut.
pub fn to_c(text: &str) -> CString {
    if !text.as_bytes().contains(&0) {
        // Room for the terminating NUL from the start: one allocation, no copy to grow.
        let mut bytes = Vec::with_capacity(text.len() + 1);
        bytes.extend_from_slice(text.as_bytes());
        return CString::new(bytes).unwrap_or_default();
    }
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

/// The bytes of a pjsip string.
///
/// # Safety
/// `value` must point at `slen` readable bytes (a pj_str_t of a live message) for the
/// lifetime of the returned slice.
pub unsafe fn pj_bytes(value: &crate::bindings::pj_str_t) -> &[u8] {
    if value.ptr.is_null() || value.slen <= 0 {
        return &[];
    }
    // SAFETY: the caller's contract.
    unsafe { std::slice::from_raw_parts(value.ptr.cast::<u8>(), value.slen as usize) }
}

/// Text that names something (a URI, a Call-ID): valid UTF-8 stays as it is, every other byte
/// becomes `\xNN` and a backslash `\\`, so two different byte strings never give the same text.
pub fn lossless(bytes: &[u8]) -> String {
    lossless_borrowed(bytes).into_owned()
}

/// `lossless`, borrowing the bytes in the usual case (UTF-8 without backslashes).
pub fn lossless_borrowed(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes) {
        if !text.contains('\\') {
            return std::borrow::Cow::Borrowed(text);
        }
    }
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for ch in chunk.valid().chars() {
            if ch == '\\' {
                out.push_str("\\\\");
            } else {
                out.push(ch);
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `lossless` for a C string (null = empty).
///
/// # Safety
/// As [`from_c`].
pub unsafe fn lossless_c(ptr: *const c_char) -> String {
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: the caller's contract.
    lossless(unsafe { CStr::from_ptr(ptr) }.to_bytes())
}
