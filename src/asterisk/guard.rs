//! The one gate for every call from C into Rust: panics are caught, logged, and turned into the
//! callback's failure value.
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; if it panics, logs the panic with `callback`'s name and returns `on_panic`.
pub fn guarded<R>(callback: &'static str, on_panic: R, body: impl FnOnce() -> R) -> R {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Logging itself must not panic again here; tracing's macros do not.
            tracing::error!("internal error in {callback}: {message}; it gave Asterisk its failure value");
            on_panic
        }
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Keeps Rust's default panic hook from writing to Asterisk's stderr: `guarded` logs instead.
pub fn install_quiet_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        tracing::debug!("panic{location}");
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_the_failure_value() {
        install_quiet_panic_hook();
        let result = guarded("test callback", -1, || -> i32 { panic!("boom") });
        assert_eq!(result, -1);
        let result = guarded("test callback", "failed", || -> &str { panic!("{}", String::from("formatted boom")) });
        assert_eq!(result, "failed");
    }

    #[test]
    fn normal_results_pass_through() {
        assert_eq!(guarded("test callback", -1, || 7), 7);
    }

    #[test]
    fn panic_messages_are_extracted() {
        assert_eq!(panic_message(&"static text"), "static text");
        assert_eq!(panic_message(&String::from("owned text")), "owned text");
        assert_eq!(panic_message(&42u8), "unknown panic");
    }
}
