//! res_pjsip_multireg: one extension on many devices, for Asterisk 22 LTS.
//!
//! Layers, never skipped: `bindings` (bindgen + C shim) → `asterisk` (the only `unsafe`, safe
//! wrappers around Asterisk and PJSIP) → `policy` (plain Rust, unit-tested without Asterisk).
//! `module` wires the policy to Asterisk through the wrappers.

pub mod policy;

#[cfg(not(test))]
mod build_info;

#[cfg(not(test))]
mod asterisk;
#[cfg(not(test))]
mod bindings;
#[cfg(not(test))]
mod module;

// The panic guard has no FFI, so its own unit tests run without Asterisk.
#[cfg(test)]
#[path = "asterisk/guard.rs"]
mod guard;
