//! PJSIP: the service that sees REGISTER requests, and a safe view of one received request.
use std::marker::PhantomData;

use super::ao2::Ao2;
use super::text::from_c;
use crate::bindings::{self, ast_sip_endpoint, pjsip_rx_data};

/// A request PJSIP handed to our service; valid only during that callback.
pub struct RxRequest<'a> {
    rdata: *mut pjsip_rx_data,
    _callback: PhantomData<&'a pjsip_rx_data>,
}

impl<'a> RxRequest<'a> {
    /// # Safety
    /// `rdata` must be the non-null request PJSIP passed to the current `on_rx_request` callback.
    pub unsafe fn from_callback(rdata: *mut pjsip_rx_data) -> Self {
        RxRequest { rdata, _callback: PhantomData }
    }

    pub fn is_register(&self) -> bool {
        // SAFETY: rdata is valid for the callback; msg_info.msg is PJSIP's parsed message, and
        // `line.req` is the active member for requests (on_rx_request only receives requests).
        unsafe {
            let msg = (*self.rdata).msg_info.msg;
            !msg.is_null()
                && (*msg).type_ == bindings::PJSIP_REQUEST_MSG
                && (*msg).line.req.method.id == bindings::PJSIP_REGISTER_METHOD
        }
    }

    /// The request exactly as it arrived on the wire (this message only, also on streams).
    pub fn raw_message(&self) -> &'a [u8] {
        // SAFETY: msg_buf/len describe this message inside rdata's packet buffer, which lives
        // until the callback returns (bounded by 'a).
        unsafe {
            let info = &(*self.rdata).msg_info;
            if info.msg_buf.is_null() || info.len <= 0 {
                return &[];
            }
            std::slice::from_raw_parts(info.msg_buf.cast::<u8>(), info.len as usize)
        }
    }

    /// Transport name as PJSIP reports it: "UDP", "TCP", "TLS", "WS", "WSS".
    pub fn transport_type(&self) -> String {
        // SAFETY: tp_info.transport is set for every received message; type_name is a static string.
        unsafe {
            let transport = (*self.rdata).tp_info.transport;
            if transport.is_null() {
                return String::new();
            }
            from_c((*transport).type_name)
        }
    }

    /// Source address and port of the packet.
    pub fn source(&self) -> (String, u16) {
        // SAFETY: pkt_info.src_name is a NUL-terminated array filled by the transport.
        unsafe {
            let info = &(*self.rdata).pkt_info;
            (from_c(info.src_name.as_ptr()), info.src_port as u16)
        }
    }

    /// The endpoint the identifier/authenticator matched, if any.
    pub fn endpoint(&self) -> Option<Ao2<ast_sip_endpoint>> {
        // SAFETY: returns a new reference (or null), which Ao2 takes over.
        unsafe { Ao2::from_owned(bindings::ast_pjsip_rdata_get_endpoint(self.rdata)) }
    }

    /// Answers the request statelessly with `status` and `reason`.
    pub fn respond(&self, status: i32, reason: &str) -> bool {
        let mut reason_bytes = reason.as_bytes().to_vec();
        let text = bindings::pj_str_t { ptr: reason_bytes.as_mut_ptr().cast(), slen: reason_bytes.len() as bindings::pj_ssize_t };
        // SAFETY: the PJSIP endpoint is alive while res_pjsip is loaded (we require it); rdata is
        // the current request; `text` points into `reason_bytes`, which outlives the call.
        let status = unsafe {
            bindings::pjsip_endpt_respond_stateless(
                bindings::ast_sip_get_pjsip_endpoint(),
                self.rdata,
                status,
                &text,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        status == bindings::PJ_SUCCESS as i32
    }
}

impl RxRequest<'_> {
    /// Raises Asterisk's FailedACL security event for this request (fail2ban and the security
    /// log see it), naming `acl` as the rule that refused it.
    pub fn report_security_refusal(&self, endpoint: &Ao2<ast_sip_endpoint>, acl: &str) {
        let acl = super::text::to_c(acl);
        // SAFETY: endpoint and rdata are alive for the callback; the name is copied.
        unsafe { bindings::ast_sip_report_failed_acl(endpoint.as_ptr(), self.rdata, acl.as_ptr()) }
    }
}

/// The sorcery id ("101") of an endpoint.
pub fn endpoint_name(endpoint: &Ao2<ast_sip_endpoint>) -> String {
    // SAFETY: the endpoint is a live sorcery object; the id string lives as long as the object.
    from_c(unsafe { bindings::ast_sorcery_object_get_id(endpoint.as_ptr().cast()) })
}

/// Registers the REGISTER service (priority just before the registrar).
pub fn register_service() -> bool {
    // SAFETY: registers the shim's static pjsip_module; res_pjsip is loaded (module requirement).
    unsafe { bindings::multireg_shim_register_service() == 0 }
}

/// Removes the service; after this returns PJSIP makes no further calls into the module.
pub fn unregister_service() {
    // SAFETY: unregisters the same static module; a no-op if it was not registered.
    unsafe { bindings::multireg_shim_unregister_service() }
}

/// Registers the guard that refuses blocked addresses before authentication.
pub fn register_guard() -> bool {
    // SAFETY: registers the shim's static guard module.
    unsafe { bindings::multireg_shim_register_guard() == 0 }
}

pub fn unregister_guard() {
    // SAFETY: unregisters the same module.
    unsafe { bindings::multireg_shim_unregister_guard() }
}

impl RxRequest<'_> {
    /// The request's method name ("INVITE", "ACK", ...).
    pub fn method(&self) -> String {
        // SAFETY: msg_info.msg is the parsed request; method.name is a pj_str_t into it.
        unsafe {
            let msg = (*self.rdata).msg_info.msg;
            if msg.is_null() || (*msg).type_ != bindings::PJSIP_REQUEST_MSG {
                return String::new();
            }
            let name = (*msg).line.req.method.name;
            if name.ptr.is_null() || name.slen <= 0 {
                return String::new();
            }
            String::from_utf8_lossy(std::slice::from_raw_parts(name.ptr.cast::<u8>(), name.slen as usize)).into_owned()
        }
    }
}

/// A response about to be sent; valid only during `on_tx_response`.
pub struct TxResponse<'a> {
    tdata: *mut bindings::pjsip_tx_data,
    _callback: PhantomData<&'a bindings::pjsip_tx_data>,
}

fn pj_text(text: &bindings::pj_str_t) -> String {
    if text.ptr.is_null() || text.slen <= 0 {
        return String::new();
    }
    // SAFETY: a pj_str_t points at `slen` readable bytes owned by the message's pool.
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(text.ptr.cast::<u8>(), text.slen as usize) }).into_owned()
}

impl TxResponse<'_> {
    /// # Safety
    /// `tdata` must be the non-null response PJSIP passed to the current `on_tx_response`.
    pub unsafe fn from_callback(tdata: *mut bindings::pjsip_tx_data) -> Self {
        TxResponse { tdata, _callback: PhantomData }
    }

    /// (status, Call-ID) when this is a response to a REGISTER.
    pub fn register_outcome(&self) -> Option<(i32, String)> {
        // SAFETY: tdata->msg is the response being sent; the headers found belong to it, and
        // CSeq/Call-ID headers have the layouts bindgen read from the same pjproject headers.
        unsafe {
            let msg = (*self.tdata).msg;
            if msg.is_null() || (*msg).type_ != bindings::PJSIP_RESPONSE_MSG {
                return None;
            }
            let cseq =
                bindings::pjsip_msg_find_hdr(msg, bindings::PJSIP_H_CSEQ, std::ptr::null()).cast::<bindings::pjsip_cseq_hdr>();
            if cseq.is_null() || (*cseq).method.id != bindings::PJSIP_REGISTER_METHOD {
                return None;
            }
            let call_id =
                bindings::pjsip_msg_find_hdr(msg, bindings::PJSIP_H_CALL_ID, std::ptr::null()).cast::<bindings::pjsip_cid_hdr>();
            if call_id.is_null() {
                return None;
            }
            Some(((*msg).line.status.code, pj_text(&(*call_id).id)))
        }
    }
}
