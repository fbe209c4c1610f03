//! Pure policy: no FFI, unit-tested without Asterisk.
#![forbid(unsafe_code)]

pub mod admin_args;
pub mod agent_matcher;
pub mod aor_lookup;
pub mod authblock;
pub mod busy_lamp;
pub mod call_plan;
pub mod calls;
pub mod classification_memo;
pub mod classify;
pub mod cluster_lock;
pub mod config;
pub mod contact_uri;
pub mod device_book;
pub mod dial_features;
pub mod dialstring;
pub mod display;
pub mod fast_hash;
pub mod footprint;
pub mod interner;
pub mod limits;
pub mod logouts;
pub mod names;
pub mod policy_index;
pub mod profiles;
pub mod push;
pub mod ringmode;
pub mod secondary;
pub mod shards;
pub mod unregister_reasons;
