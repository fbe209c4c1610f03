//! The two reads of MULTIREG_DIAL: into Asterisk's fixed buffer (`read`) and into a growable
//! `ast_str` (`read2`). Each is a panic guard around `AsteriskModule::read_dial`, which returns
//! only whole dial targets that fit the caller's limit. `declare_module!` exports them.
use std::ffi::{c_char, c_int};

use super::entry::{value_or_warning, AsteriskModule};
use super::guard::guarded;
use crate::bindings::{self, ast_channel, ast_str};

/// `read` into `buf` of `len` bytes: at most `len - 1` bytes of whole targets.
///
/// # Safety
/// `chan` null or the evaluating channel; `buf` writable for `len` bytes.
pub unsafe fn dial_read_fixed<M: AsteriskModule>(
    chan: *mut ast_channel,
    data: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> c_int {
    guarded("MULTIREG_DIAL read", -1, || {
        let scope = super::callback::CallbackScope::new();
        // SAFETY: chan is null or the channel evaluating the function; it borrows this call's scope.
        let channel = unsafe { super::channel::Channel::from_callback(chan, &scope) };
        // SAFETY: data is null or the function's NUL-terminated argument string.
        let data = unsafe { super::text::from_c(data) };
        let result = M::read_dial(channel.as_ref(), &data, Some(len.saturating_sub(1)));
        let (value, status) = value_or_warning(result);
        // SAFETY: Asterisk hands us `buf` with `len` writable bytes; the value already fits.
        unsafe { super::text::copy_to_buffer(&value, buf, len) };
        status
    })
}

/// `read2` into an `ast_str`: `maxlen` 0 = grow as needed, -1 = the string's current size,
/// otherwise at most `maxlen` bytes (terminating NUL included, as ast_str_set counts it).
///
/// # Safety
/// `chan` null or the evaluating channel; `out` null or the caller's `ast_str`.
pub unsafe fn dial_read_str<M: AsteriskModule>(
    chan: *mut ast_channel,
    data: *const c_char,
    out: *mut *mut ast_str,
    maxlen: isize,
) -> c_int {
    if out.is_null() {
        return -1;
    }
    guarded("MULTIREG_DIAL read2", -1, || {
        let limit = match maxlen {
            0 => None,
            // SAFETY: Asterisk passes a valid ast_str for read2.
            m if m < 0 => Some(unsafe { bindings::multireg_shim_str_size(*out) }.saturating_sub(1)),
            m => Some(m as usize - 1),
        };
        let scope = super::callback::CallbackScope::new();
        // SAFETY: chan is null or the channel evaluating the function; it borrows this call's scope.
        let channel = unsafe { super::channel::Channel::from_callback(chan, &scope) };
        // SAFETY: data is null or the function's NUL-terminated argument string.
        let data = unsafe { super::text::from_c(data) };
        let (value, status) = value_or_warning(M::read_dial(channel.as_ref(), &data, limit));
        let value = super::text::to_c(&value);
        // SAFETY: `out` is the caller's ast_str; the shim sets it through ast_str_set("%s").
        unsafe { bindings::multireg_shim_str_set(out, maxlen, value.as_ptr()) };
        status
    })
}
