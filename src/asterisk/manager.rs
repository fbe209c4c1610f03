//! AMI: actions (one dispatcher) and events.
use std::borrow::Cow;
use std::ffi::CStr;

use super::text::{from_c, take_shim_string, to_c};
use crate::bindings::{self, mansession, message};

/// An AMI event being written: AMI fields are one line each, so user text must not break the
/// framing or carry terminal escapes to an operator's screen (control characters are written as
/// `\xHH`). Each field is escaped straight into one buffer, which Asterisk receives as it is:
/// events raised for every new binding cost no String per field.
pub struct Event {
    name: Cow<'static, CStr>,
    body: String,
}

/// Appends one field, its value escaped.
fn push_field(body: &mut String, key: &str, value: &str) {
    body.push_str(key);
    body.push_str(": ");
    crate::policy::display::push_escaped(body, value);
    body.push_str("\r\n");
}

impl Event {
    pub fn new(name: &'static CStr) -> Event {
        // Room for MultiregDeviceRegistered (raised per new binding) without growing.
        Event { name: Cow::Borrowed(name), body: String::with_capacity(512) }
    }

    pub fn text(mut self, key: &str, value: &str) -> Event {
        push_field(&mut self.body, key, value);
        self
    }

    pub fn number(mut self, key: &str, value: u64) -> Event {
        self.body.push_str(key);
        self.body.push_str(": ");
        crate::policy::display::push_decimal(&mut self.body, value);
        self.body.push_str("\r\n");
        self
    }

    /// "address:port" ("[v6]:port"), or empty when unknown.
    pub fn address(mut self, key: &str, value: Option<std::net::SocketAddr>) -> Event {
        self.body.push_str(key);
        self.body.push_str(": ");
        if let Some(address) = value {
            crate::policy::display::push_socket_address(&mut self.body, address);
        }
        self.body.push_str("\r\n");
        self
    }

    /// Raises it in the "system" class.
    pub fn raise(mut self) {
        // Every value went through push_escaped, which writes a NUL as "\x00", and the keys are
        // the module's own: this is the only NUL.
        self.body.push('\0');
        // SAFETY: both are NUL-terminated; the shim passes body through a constant "%s" format.
        unsafe { bindings::multireg_shim_manager_event(self.name.as_ptr(), self.body.as_ptr().cast()) }
    }
}

/// AMI fields, escaped as `Event` writes them.
fn format_fields(fields: &[(&str, String)]) -> String {
    let mut body = String::with_capacity(fields.iter().map(|(key, value)| key.len() + value.len() + 4).sum());
    for (key, value) in fields {
        push_field(&mut body, key, value);
    }
    body
}

/// Raises an AMI event in the "system" class, its fields escaped (see `Event`).
pub fn event(name: &str, fields: &[(&str, String)]) {
    Event { name: Cow::Owned(to_c(name)), body: format_fields(fields) }.raise()
}

/// One AMI action being served; valid only during the callback.
pub struct AmiRequest<'a> {
    session: *mut mansession,
    message: *const message,
    _callback: std::marker::PhantomData<&'a message>,
}

impl<'a> AmiRequest<'a> {
    /// # Safety
    /// Both pointers must come from the running AMI action callback, whose `scope` bounds the value.
    pub unsafe fn from_callback(
        session: *mut mansession,
        message: *const message,
        _scope: &'a super::callback::CallbackScope,
    ) -> Self {
        AmiRequest { session, message, _callback: std::marker::PhantomData }
    }

    pub fn header(&self, name: &str) -> String {
        let name = to_c(name);
        // SAFETY: message is valid during the callback; astman_get_header never writes the name
        // and returns a NUL-terminated string of the message (or "").
        unsafe { from_c(bindings::astman_get_header(self.message, name.as_ptr().cast_mut())) }
    }

    pub fn error(&self, text: &str) {
        let text = to_c(text);
        // SAFETY: valid session/message for the callback; text copied by Asterisk.
        unsafe { bindings::astman_send_error(self.session, self.message, text.as_ptr().cast_mut()) }
    }

    pub fn ack(&self, text: &str) {
        let text = to_c(text);
        // SAFETY: as above.
        unsafe { bindings::astman_send_ack(self.session, self.message, text.as_ptr().cast_mut()) }
    }

    /// Answers with a list: an ack, one event per item, and `<complete_event>` with the count.
    pub fn list(&self, what: &str, event_name: &str, items: &[Vec<(&str, String)>], complete_event: &str) {
        let named: Vec<(&str, &[(&str, String)])> = items.iter().map(|item| (event_name, item.as_slice())).collect();
        self.list_of(what, &named, complete_event);
    }

    /// A list whose events have different names (e.g. a summary, then one event per device).
    /// Every event carries the request's ActionID and goes only to the requesting session.
    pub fn list_of(&self, what: &str, items: &[(&str, &[(&str, String)])], complete_event: &str) {
        let action_id = self.header("ActionID");
        let id_line = if action_id.is_empty() { String::new() } else { format_fields(&[("ActionID", action_id)]) };
        let text = to_c(&format!("{what} will follow"));
        let start = to_c("start");
        // SAFETY: valid session/message; the strings live across the calls.
        unsafe { bindings::astman_send_listack(self.session, self.message, text.as_ptr().cast_mut(), start.as_ptr().cast_mut()) };
        for (event_name, item) in items {
            let body = to_c(&format!("Event: {event_name}\r\n{id_line}{}\r\n", format_fields(item)));
            // SAFETY: as above; appended through a constant "%s" format.
            unsafe { bindings::multireg_shim_ami_append(self.session, body.as_ptr()) };
        }
        let complete = to_c(complete_event);
        // SAFETY: as above.
        unsafe {
            bindings::astman_send_list_complete_start(self.session, self.message, complete.as_ptr(), items.len() as i32);
            bindings::astman_send_list_complete_end(self.session);
        }
    }
}

/// Runs an AMI action inside Asterisk ("Action: QueueRemove\r\n...") and returns its response
/// text. Only this action's response is seen: no hook on the manager's event stream is involved.
pub fn run_action(message: &str) -> Option<String> {
    let message = to_c(message);
    // SAFETY: a valid C string; the shim returns null or a string it allocated for us.
    unsafe { take_shim_string(bindings::multireg_shim_run_action(message.as_ptr())) }
}
