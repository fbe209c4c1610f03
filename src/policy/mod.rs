//! Pure policy: no FFI, unit-tested without Asterisk.
#![forbid(unsafe_code)]

pub mod aor_lookup;
pub mod authblock;
pub mod call_plan;
pub mod calls;
pub mod classify;
pub mod cluster_lock;
pub mod config;
pub mod device_book;
pub mod dialstring;
pub mod display;
pub mod limits;
pub mod names;
pub mod policy_index;
pub mod ringmode;
pub mod secondary;
