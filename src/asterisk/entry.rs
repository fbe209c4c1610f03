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
