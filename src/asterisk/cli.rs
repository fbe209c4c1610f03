//! CLI commands: registration and output. Commands and usage texts live in the shim's table.
use super::text::to_c;
use crate::bindings;

pub fn register() -> bool {
    // SAFETY: registers the shim's static CLI table with this module as owner.
    unsafe { bindings::multireg_shim_register_cli() == 0 }
}

pub fn unregister() {
    // SAFETY: unregisters the same static table.
    unsafe { bindings::multireg_shim_unregister_cli() }
}

/// Writes text to the CLI session `fd`.
pub fn print(fd: i32, text: &str) {
    let text = to_c(text);
    // SAFETY: fd comes from the running CLI command; text is a valid C string.
    unsafe { bindings::multireg_shim_cli_print(fd, text.as_ptr()) }
}
