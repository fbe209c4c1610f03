//! CLI commands: the typed command list, registration and output. Command words and usage texts
//! live in the shim's table (include/shim.c), indexed by `CliCommand`.
use std::ffi::c_int;

use super::text::to_c;
use crate::bindings;

/// The module's CLI commands, in the order of the shim's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CliCommand {
    ShowExtensions,
    ShowExtension,
    SetRingMode,
    ShowBlocks,
    ClearBlocks,
    ShowStats,
    Logout,
    ClearLogouts,
}

impl TryFrom<c_int> for CliCommand {
    type Error = c_int;

    fn try_from(index: c_int) -> Result<Self, c_int> {
        Ok(match index as u32 {
            bindings::MULTIREG_CLI_SHOW_EXTENSIONS => CliCommand::ShowExtensions,
            bindings::MULTIREG_CLI_SHOW_EXTENSION => CliCommand::ShowExtension,
            bindings::MULTIREG_CLI_SET_RINGMODE => CliCommand::SetRingMode,
            bindings::MULTIREG_CLI_SHOW_BLOCKS => CliCommand::ShowBlocks,
            bindings::MULTIREG_CLI_CLEAR_BLOCKS => CliCommand::ClearBlocks,
            bindings::MULTIREG_CLI_SHOW_STATS => CliCommand::ShowStats,
            bindings::MULTIREG_CLI_LOGOUT => CliCommand::Logout,
            bindings::MULTIREG_CLI_CLEAR_LOGOUTS => CliCommand::ClearLogouts,
            _ => return Err(index),
        })
    }
}

/// Writes text to the CLI session `fd`.
pub fn print(fd: i32, text: &str) {
    let text = to_c(text);
    // SAFETY: fd comes from the running CLI command; text is a valid C string.
    unsafe { bindings::multireg_shim_cli_print(fd, text.as_ptr()) }
}
