//! A channel running one of our dialplan applications or functions, plus channel counting.
use std::ffi::c_char;
use std::marker::PhantomData;

use super::text::{from_c, to_c};
use crate::bindings::{self, ast_channel};
use crate::policy::calls::{counts_as_call, is_channel_of_endpoint, ChannelState};

/// A channel handed to a dialplan callback; valid only during that callback.
pub struct Channel<'a> {
    chan: *mut ast_channel,
    _callback: PhantomData<&'a ast_channel>,
}

impl<'a> Channel<'a> {
    /// # Safety
    /// `chan` must be null or the channel Asterisk passed to the running dialplan callback, whose
    /// `scope` bounds the value.
    pub unsafe fn from_callback(chan: *mut ast_channel, _scope: &'a super::callback::CallbackScope) -> Option<Self> {
        (!chan.is_null()).then_some(Channel { chan, _callback: PhantomData })
    }

    /// The raw channel, for the wrappers of this layer (valid during the callback).
    pub(crate) fn as_ptr(&self) -> *mut ast_channel {
        self.chan
    }

    pub fn name(&self) -> String {
        // SAFETY: the channel is alive during the callback; its name is a NUL-terminated string,
        // copied at once.
        unsafe { from_c(bindings::ast_channel_name(self.chan)) }
    }

    /// A channel without a name: the stand-in Asterisk makes to evaluate a function with no
    /// channel (AMI Getvar without Channel, CLI), discarded right after.
    pub fn is_dummy(&self) -> bool {
        // SAFETY: the channel is alive during the callback; its name is a NUL-terminated string.
        unsafe {
            let name = bindings::ast_channel_name(self.chan);
            name.is_null() || *name == 0
        }
    }

    pub fn set_variable(&self, name: &str, value: &str) {
        let (name, value) = (to_c(name), to_c(value));
        // SAFETY: pbx_builtin_setvar_helper locks the channel itself and copies both strings.
        unsafe { bindings::pbx_builtin_setvar_helper(self.chan, name.as_ptr(), value.as_ptr()) };
    }

    /// Answers the channel; false if it hung up.
    pub fn answer(&self) -> bool {
        // SAFETY: answering the channel running our application.
        unsafe { bindings::ast_answer(self.chan) == 0 }
    }

    /// Plays a sound (or `&`-joined list); false only if the caller hung up. A missing sound
    /// file is logged and skipped, so a prompt typo never drops the call.
    pub fn play(&self, files: &str) -> bool {
        for file in files.split('&').filter(|f| !f.is_empty()) {
            let (file_c, digits) = (to_c(file), to_c(""));
            // SAFETY: streams to our channel from its own thread (the application's).
            let result = unsafe { bindings::ast_stream_and_wait(self.chan, file_c.as_ptr(), digits.as_ptr()) };
            if result < 0 {
                if self.hung_up() {
                    return false;
                }
                tracing::warn!("multireg: could not play sound '{file}' on {}", self.name());
            }
        }
        true
    }

    pub fn hung_up(&self) -> bool {
        // SAFETY: locks and checks our own live channel.
        unsafe { bindings::ast_check_hangup_locked(self.chan) != 0 }
    }

    /// Plays `prompt` and collects one digit. Ok(None) on silence, Err(()) when the caller hung up.
    pub fn prompt_digit(&self, prompt: &str, timeout_ms: i32) -> Result<Option<char>, ()> {
        let prompt = to_c(prompt);
        let mut digits = [0 as c_char; 4];
        // SAFETY: buffer of 4 bytes with maxlen 1 (plus NUL); prompt is a valid C string.
        let result = unsafe { bindings::ast_app_getdata(self.chan, prompt.as_ptr(), digits.as_mut_ptr(), 1, timeout_ms) };
        if result == bindings::AST_GETDATA_FAILED || result == bindings::AST_GETDATA_INTERRUPTED {
            return Err(());
        }
        // SAFETY: the zeroed 4-byte buffer holds at most one digit, so it is NUL-terminated.
        Ok(unsafe { from_c(digits.as_ptr()) }.chars().next())
    }

    /// Runs a dialplan application (e.g. Dial) on this channel and returns its result.
    pub fn exec(&self, application: &str, arguments: &str) -> Result<i32, String> {
        let name = to_c(application);
        // SAFETY: pbx_findapp returns a registered application or null; the pointer stays valid
        // while the application's module is loaded, which pbx_exec relies on too.
        let app = unsafe { bindings::pbx_findapp(name.as_ptr()) };
        if app.is_null() {
            return Err(format!("application {application} is not available (module not loaded)"));
        }
        let arguments = to_c(arguments);
        // SAFETY: executing on our own channel from its own thread, as the dialplan does.
        Ok(unsafe { bindings::pbx_exec(self.chan, app, arguments.as_ptr()) })
    }
}

impl Channel<'_> {
    /// The value of a dialplan function such as `CALLERID(num)` on this channel ("" if none).
    pub fn function(&self, expression: &str) -> String {
        let expression = to_c(expression);
        let mut buffer = [0 as c_char; 512];
        // SAFETY: the buffer is writable for its length, which we pass; the function locks the
        // channel itself.
        let result = unsafe { bindings::ast_func_read(self.chan, expression.as_ptr(), buffer.as_mut_ptr(), buffer.len()) };
        if result == 0 {
            // SAFETY: ast_func_read wrote a NUL-terminated string into our zeroed buffer.
            unsafe { from_c(buffer.as_ptr()) }
        } else {
            String::new()
        }
    }

    /// The linked id shared by every channel of the call.
    pub fn linkedid(&self) -> String {
        // SAFETY: the string belongs to our live channel and is copied at once.
        unsafe { from_c(bindings::ast_channel_linkedid(self.chan)) }
    }

    /// Waits `millis` while serving the channel's frames; false when it hung up.
    pub fn safe_sleep(&self, millis: i32) -> bool {
        // SAFETY: waits on our own channel from its own thread (the application's).
        unsafe { bindings::ast_safe_sleep(self.chan, millis) == 0 }
    }
}

/// How many channels of endpoint `endpoint` are in a call: named exactly
/// `PJSIP/<endpoint>-<8 hex>` and past the ringing stage (see `policy::calls::counts_as_call`).
pub fn active_channels(endpoint: &str) -> u32 {
    let prefix = format!("PJSIP/{endpoint}-");
    let prefix_c = to_c(&prefix);
    let mut count = 0;
    // SAFETY: the iterator and each returned channel are references we release; the name and
    // state are read while we hold the reference (the name is copied at once).
    unsafe {
        let iterator = bindings::ast_channel_iterator_by_name_new(prefix_c.as_ptr(), prefix.len());
        if iterator.is_null() {
            return 0;
        }
        loop {
            let chan = bindings::ast_channel_iterator_next(iterator);
            if chan.is_null() {
                break;
            }
            let state = match bindings::ast_channel_state(chan) {
                bindings::AST_STATE_DOWN => ChannelState::Down,
                bindings::AST_STATE_RINGING => ChannelState::Ringing,
                _ => ChannelState::Other,
            };
            if counts_as_call(state) && is_channel_of_endpoint(&from_c(bindings::ast_channel_name(chan)), endpoint) {
                count += 1;
            }
            super::ao2::release(chan.cast());
        }
        bindings::ast_channel_iterator_destroy(iterator);
    }
    count
}
