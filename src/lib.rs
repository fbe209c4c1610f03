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

// The `extern "C"` functions the C shim calls, each a panic guard around `module::Multireg`.
#[cfg(not(test))]
asterisk::entry::declare_module!(crate::module::Multireg);

// Fuzz target bodies (also built by fuzz/, which includes this file and src/policy by path).
#[cfg(test)]
mod fuzz_targets;

// Parts of the upper layers without FFI keep their unit tests runnable without Asterisk.
#[cfg(test)]
#[path = "asterisk/guard.rs"]
mod guard;
#[cfg(test)]
mod module {
    #[path = "books.rs"]
    #[allow(dead_code)]
    pub mod books;
    #[path = "policies.rs"]
    pub mod policies;
    #[path = "stats.rs"]
    pub mod stats;
    #[path = "texts.rs"]
    #[allow(dead_code)]
    pub mod texts;
}
