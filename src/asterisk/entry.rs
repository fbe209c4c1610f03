//! The `extern "C"` functions the shim calls. Each one is a panic guard around `crate::module`.
use std::ffi::c_int;

use super::guard::guarded;
use super::pjsip::RxRequest;
use crate::bindings::{self, pj_bool_t, pjsip_rx_data};

const LOAD_DECLINE: c_int = bindings::AST_MODULE_LOAD_DECLINE as c_int;

#[no_mangle]
pub extern "C" fn multireg_load_module() -> c_int {
    guarded("load_module", LOAD_DECLINE, || match crate::module::load() {
        Ok(()) => bindings::AST_MODULE_LOAD_SUCCESS as c_int,
        Err(reason) => {
            tracing::error!("res_pjsip_multireg not loaded: {reason}");
            LOAD_DECLINE
        }
    })
}

#[no_mangle]
pub extern "C" fn multireg_unload_module() -> c_int {
    // A failed unload keeps the module loaded, the safe outcome when something went wrong.
    guarded("unload_module", -1, || {
        crate::module::unload();
        0
    })
}

#[no_mangle]
pub extern "C" fn multireg_reload_module() -> c_int {
    guarded("reload_module", -1, || match crate::module::reload() {
        Ok(()) => 0,
        Err(reason) => {
            tracing::error!("reload failed, previous settings stay in force: {reason}");
            -1
        }
    })
}

/// PJSIP's on_rx_request. PJ_FALSE passes the request on to the registrar; a panic passes it on
/// too, so a bug here never stops phones from registering.
#[no_mangle]
pub extern "C" fn multireg_on_rx_request(rdata: *mut pjsip_rx_data) -> pj_bool_t {
    let pass_on = bindings::PJ_FALSE as pj_bool_t;
    if rdata.is_null() {
        return pass_on;
    }
    guarded("on_rx_request", pass_on, || {
        // SAFETY: PJSIP passed this non-null rdata to the running callback.
        let request = unsafe { RxRequest::from_callback(rdata) };
        if crate::module::on_request(&request) {
            bindings::PJ_TRUE as pj_bool_t
        } else {
            pass_on
        }
    })
}

/// PJSIP's on_tx_response for the REGISTER service: learns how the registrar answered.
#[no_mangle]
pub extern "C" fn multireg_on_tx_response(tdata: *mut bindings::pjsip_tx_data) {
    if tdata.is_null() {
        return;
    }
    guarded("on_tx_response", (), || {
        // SAFETY: PJSIP passed this non-null tdata to the running callback.
        let response = unsafe { super::pjsip::TxResponse::from_callback(tdata) };
        if let Some((status, call_id)) = response.register_outcome() {
            crate::module::registrar::on_register_answered(status, &call_id);
        }
    })
}

/// CLI dispatcher: 0 = success, 1 = show usage, 2 = failure.
#[no_mangle]
pub extern "C" fn multireg_cli_execute(command: c_int, fd: c_int, argc: c_int, argv: *const *const std::ffi::c_char) -> c_int {
    guarded("cli", 2, || {
        let args: Vec<String> = (0..argc.max(0) as usize)
            // SAFETY: Asterisk passes argc valid argv entries for the running command.
            .map(|i| super::text::from_c(unsafe { *argv.add(i) }))
            .collect();
        let mut output = String::new();
        let result = crate::module::cli::execute(command as u32, &args, &mut output);
        super::cli::print(fd, &output);
        result
    })
}

/// Tab-completion candidates for the word at `position`, newline-separated (null for none).
/// The shim hands the string back to `multireg_cli_candidates_free`.
#[no_mangle]
pub extern "C" fn multireg_cli_candidates(
    command: c_int,
    position: c_int,
    word: *const std::ffi::c_char,
) -> *mut std::ffi::c_char {
    guarded("cli completion", std::ptr::null_mut(), || {
        let word = super::text::from_c(word);
        let candidates = crate::module::cli::candidates(command as u32, position.max(0) as usize, &word);
        if candidates.is_empty() {
            return std::ptr::null_mut();
        }
        super::text::to_c(&candidates.join("\n")).into_raw()
    })
}

#[no_mangle]
pub extern "C" fn multireg_cli_candidates_free(candidates: *mut std::ffi::c_char) {
    if !candidates.is_null() {
        // SAFETY: the pointer came from CString::into_raw in multireg_cli_candidates.
        drop(unsafe { std::ffi::CString::from_raw(candidates) });
    }
}

#[no_mangle]
pub extern "C" fn multireg_ami_execute(session: *mut bindings::mansession, message: *const bindings::message) -> c_int {
    // SAFETY: Asterisk passes the live session and message of the running action.
    let request = unsafe { super::manager::AmiRequest::from_callback(session, message) };
    guarded("ami", 0, || {
        crate::module::ami::execute(&request);
        0
    })
}

/// Dialplan application dispatcher; -1 hangs the channel up, as Asterisk applications do.
#[no_mangle]
pub extern "C" fn multireg_app_execute(app: c_int, chan: *mut bindings::ast_channel, data: *const std::ffi::c_char) -> c_int {
    guarded("dialplan application", -1, || {
        // SAFETY: Asterisk passes the channel running this application.
        let Some(channel) = (unsafe { super::channel::Channel::from_callback(chan) }) else { return -1 };
        crate::module::dialplan::run_application(app as u32, &channel, &super::text::from_c(data))
    })
}

#[no_mangle]
pub extern "C" fn multireg_function_read(
    function: c_int,
    chan: *mut bindings::ast_channel,
    data: *const std::ffi::c_char,
    buf: *mut std::ffi::c_char,
    len: usize,
) -> c_int {
    guarded("dialplan function read", -1, || {
        // SAFETY: chan is null or the channel evaluating the function.
        let channel = unsafe { super::channel::Channel::from_callback(chan) };
        match crate::module::dialplan::read_function(function as u32, channel.as_ref(), &super::text::from_c(data)) {
            Ok(value) => {
                // SAFETY: Asterisk hands us `buf` with `len` writable bytes.
                unsafe { super::text::copy_to_buffer(&value, buf, len) };
                0
            }
            Err(reason) => {
                tracing::warn!("{reason}");
                // SAFETY: as above.
                unsafe { super::text::copy_to_buffer("", buf, len) };
                -1
            }
        }
    })
}

#[no_mangle]
pub extern "C" fn multireg_function_write(
    function: c_int,
    chan: *mut bindings::ast_channel,
    data: *const std::ffi::c_char,
    value: *const std::ffi::c_char,
) -> c_int {
    guarded("dialplan function write", -1, || {
        // SAFETY: chan is null or the channel evaluating the function.
        let channel = unsafe { super::channel::Channel::from_callback(chan) };
        let (data, value) = (super::text::from_c(data), super::text::from_c(value));
        match crate::module::dialplan::write_function(function as u32, channel.as_ref(), &data, &value) {
            Ok(()) => 0,
            Err(reason) => {
                tracing::warn!("{reason}");
                -1
            }
        }
    })
}

/// res_pjsip finished (re)loading an object type: endpoints re-read our configuration; auths
/// and AORs re-derive the secondaries (whatever order the types load in, the last one wins).
#[no_mangle]
pub extern "C" fn multireg_on_pjsip_loaded(object_type: *const std::ffi::c_char) {
    let object_type = super::text::from_c(object_type);
    guarded("pjsip reload observer", (), || {
        if object_type == "endpoint" {
            if let Err(reason) = crate::module::reload() {
                tracing::error!("multireg configuration not reloaded, previous settings stay in force: {reason}");
            }
        } else {
            crate::module::secondaries::sync();
        }
    })
}

/// The guard before authentication: PJ_TRUE when we refused (blocked address).
#[no_mangle]
pub extern "C" fn multireg_on_rx_early(rdata: *mut pjsip_rx_data) -> pj_bool_t {
    let pass_on = bindings::PJ_FALSE as pj_bool_t;
    if rdata.is_null() {
        return pass_on;
    }
    guarded("address guard", pass_on, || {
        // SAFETY: PJSIP passed this non-null rdata to the running callback.
        let request = unsafe { RxRequest::from_callback(rdata) };
        if crate::module::authblock::refuse_if_blocked(&request) {
            bindings::PJ_TRUE as pj_bool_t
        } else {
            pass_on
        }
    })
}
