//! Test harness: a real Asterisk 22 per test (the embedded runtime, or another one named by the
//! variables of runtime.rs) and real SIP agents.
#![allow(dead_code)]

pub mod ami;
pub mod asterisk;
pub mod media;
pub mod postgres;
pub mod raw;
pub mod runtime;
pub mod sip;
pub mod subscribe;
pub mod wire;
pub mod wrapper;

pub use ami::Ami;
#[allow(unused_imports)]
pub use asterisk::{Asterisk, Config};
pub use sip::{Agent, Transport};

use std::time::{Duration, Instant};

/// Polls `check` until it returns Some or `timeout` passes.
pub fn wait_for<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
