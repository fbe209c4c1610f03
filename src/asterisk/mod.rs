//! Safe wrappers over Asterisk and PJSIP: the only module with `unsafe`. Every callback from C
//! enters through `guard::guarded`, so a Rust panic never unwinds into Asterisk.

pub mod ao2;
pub mod entry;
pub mod guard;
pub mod logger;
pub mod pjsip;
