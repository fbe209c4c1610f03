//! Pure policy: no FFI, unit-tested without Asterisk.

pub mod authblock;
pub mod calls;
pub mod classify;
pub mod config;
pub mod dialstring;
pub mod display;
pub mod identity;
pub mod limits;
pub mod register;
pub mod ringmode;
pub mod secondary;
