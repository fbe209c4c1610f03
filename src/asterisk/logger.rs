//! Forwards `tracing` events to Asterisk's logger. Messages are passed as data to a fixed "%s"
//! format in the shim, so no user text is ever interpreted as a format string.
use std::fmt::Write as _;

use once_cell::sync::OnceCell;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Level, Metadata, Subscriber};

use super::text::to_c;
use crate::bindings;

struct AsteriskLogger;

fn severity(level: &Level) -> i32 {
    match *level {
        Level::ERROR => bindings::MULTIREG_SEVERITY_ERROR as i32,
        Level::WARN => bindings::MULTIREG_SEVERITY_WARNING as i32,
        Level::INFO => bindings::MULTIREG_SEVERITY_NOTICE as i32,
        _ => bindings::MULTIREG_SEVERITY_DEBUG as i32,
    }
}

fn debug_enabled(level: &Level) -> bool {
    let depth = if *level == Level::TRACE { 3 } else { 1 };
    // SAFETY: reads Asterisk's debug settings; safe to call from any thread at any time.
    unsafe { bindings::multireg_shim_debug_enabled(depth) != 0 }
}

#[derive(Default)]
struct MessageText {
    message: String,
    fields: String,
}

impl Visit for MessageText {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }
}

impl Subscriber for AsteriskLogger {
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        // Debug output depends on `core set debug`, which can change at any time.
        Interest::sometimes()
    }
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= Level::INFO || debug_enabled(metadata.level())
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut text = MessageText::default();
        event.record(&mut text);
        text.message.push_str(&text.fields);
        // Device text (User-Agents, URIs) never reaches the console as raw terminal escapes.
        let message = to_c(&crate::policy::display::escape_controls_in_log(&text.message));
        let file = to_c(metadata.file().unwrap_or("res_pjsip_multireg"));
        let function = to_c(metadata.module_path().unwrap_or("res_pjsip_multireg"));
        // SAFETY: all pointers are valid NUL-terminated strings for the duration of the call; the
        // shim logs `message` through a constant "%s" format.
        unsafe {
            bindings::multireg_shim_log(
                severity(metadata.level()),
                file.as_ptr(),
                metadata.line().unwrap_or(0) as i32,
                function.as_ptr(),
                message.as_ptr(),
            );
        }
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

static INSTALLED: OnceCell<()> = OnceCell::new();

/// Routes this module's `tracing` events to Asterisk. Idempotent across unload/load, because the
/// shared object may stay mapped after its first unload.
pub fn install() {
    INSTALLED.get_or_init(|| {
        let _ = tracing::subscriber::set_global_default(AsteriskLogger);
    });
}
