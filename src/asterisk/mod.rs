//! Safe wrappers over Asterisk and PJSIP: the only module with `unsafe`. Every callback from C
//! enters through `guard::guarded`, so a Rust panic never unwinds into Asterisk.
#![deny(clippy::undocumented_unsafe_blocks, unsafe_op_in_unsafe_fn)]

pub mod allocator;
pub mod ao2;
pub mod astdb;
pub mod callback;
pub mod channel;
pub mod cli;
pub mod clock;
pub mod config;
pub mod devstate;
pub mod dialfx;
pub mod dialplan;
pub mod entry;
pub mod functions;
pub mod guard;
pub mod libpq;
pub mod logger;
pub mod manager;
pub mod memory_objects;
pub mod pjsip;
pub mod registration;
pub mod sip_message;
pub mod sorcery;
pub mod sorcery_types;
pub mod text;
