//! Pure policy: no FFI, unit-tested without Asterisk.

pub mod register;
