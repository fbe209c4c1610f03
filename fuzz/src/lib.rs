//! The module's pure layer and the shared fuzz target bodies, compiled from the main crate's
//! sources (no FFI: `src/policy` forbids unsafe code and uses nothing outside itself).
#[path = "../../src/policy/mod.rs"]
pub mod policy;

#[path = "../../src/fuzz_targets.rs"]
pub mod fuzz_targets;
