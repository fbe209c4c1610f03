//! PJSIP: the service that sees REGISTER requests, and a safe view of one received request.
use std::marker::PhantomData;

use super::ao2::Ao2;
use super::text::{borrowed_c, from_c};
use crate::bindings::{self, ast_sip_endpoint, pjsip_rx_data};

/// A request PJSIP handed to our service; valid only during that callback.
pub struct RxRequest<'a> {
    rdata: *mut pjsip_rx_data,
    _callback: PhantomData<&'a pjsip_rx_data>,
}

/// An address as `multireg_shim_sockaddr_bytes` gives it: `length` 4 (IPv4) or 16 (IPv6) leading
/// bytes of `bytes`, network order; None for any other length.
pub fn address_from_shim(bytes: [u8; 16], length: std::ffi::c_int) -> Option<std::net::IpAddr> {
    match length {
        4 => Some(std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).into()),
        16 => Some(std::net::Ipv6Addr::from(bytes).into()),
        _ => None,
    }
}

impl<'a> RxRequest<'a> {
    /// # Safety
    /// `rdata` must be null or the request PJSIP passed to the running `on_rx_request`; the
    /// value must not outlive that callback.
    pub unsafe fn from_callback(rdata: *mut pjsip_rx_data, _scope: &'a super::callback::CallbackScope) -> Option<Self> {
        (!rdata.is_null()).then_some(RxRequest { rdata, _callback: PhantomData })
    }

    pub(super) fn raw(&self) -> *mut pjsip_rx_data {
        self.rdata
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

    /// Whether the request starts a dialog (its To header has no tag), as pjsip parsed it.
    pub fn is_initial(&self) -> bool {
        // SAFETY: msg_info.to is the parsed To header of this request (null-checked).
        unsafe {
            let to = (*self.rdata).msg_info.to;
            !to.is_null() && (*to).tag.slen <= 0
        }
    }

    /// Transport name as PJSIP reports it: "UDP", "TCP", "TLS", "WS", "WSS".
    pub fn transport_type(&self) -> std::borrow::Cow<'_, str> {
        // SAFETY: tp_info.transport is set for every received message; type_name is a static
        // string of the transport, which outlives the request.
        unsafe {
            let transport = (*self.rdata).tp_info.transport;
            if transport.is_null() {
                return "".into();
            }
            borrowed_c((*transport).type_name)
        }
    }

    /// Source address and port of the packet, read without allocating (None only if the
    /// transport wrote something that is not an address).
    pub fn source_address(&self) -> Option<std::net::SocketAddr> {
        // Read in binary (every transport fills src_addr; src_name is its printed copy, which
        // would have to be parsed back).
        let mut bytes = [0u8; 16];
        // SAFETY: pkt_info is filled by the transport and alive with rdata; the shim writes at
        // most 16 bytes into `bytes`.
        let (length, port) = unsafe {
            let info = &(*self.rdata).pkt_info;
            (bindings::multireg_shim_sockaddr_bytes(&info.src_addr, bytes.as_mut_ptr()), info.src_port as u16)
        };
        Some(std::net::SocketAddr::new(address_from_shim(bytes, length)?, port))
    }

    /// The endpoint the identifier/authenticator matched, if any.
    pub fn endpoint(&self) -> Option<Endpoint> {
        // SAFETY: returns a new reference (or null), which Ao2 takes over.
        unsafe { Ao2::from_owned(bindings::ast_pjsip_rdata_get_endpoint(self.rdata)) }.map(Endpoint)
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
    pub fn report_security_refusal(&self, endpoint: &Endpoint, acl: &str) {
        let acl = super::text::to_c(acl);
        // SAFETY: endpoint and rdata are alive for the callback; the name is copied.
        unsafe { bindings::ast_sip_report_failed_acl(endpoint.0.as_ptr(), self.rdata, acl.as_ptr()) }
    }
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

impl<'a> TxResponse<'a> {
    /// # Safety
    /// `tdata` must be null or the response PJSIP passed to the running `on_tx_response`; the
    /// value must not outlive that callback.
    pub unsafe fn from_callback(tdata: *mut bindings::pjsip_tx_data, _scope: &'a super::callback::CallbackScope) -> Option<Self> {
        (!tdata.is_null()).then_some(TxResponse { tdata, _callback: PhantomData })
    }

    pub(super) fn raw(&self) -> *mut bindings::pjsip_tx_data {
        self.tdata
    }

    /// The response's status code (0 when the message is not a response).
    pub fn status(&self) -> i32 {
        // SAFETY: tdata is the response being sent; its msg is null-checked before reading.
        unsafe {
            let msg = (*self.tdata).msg;
            if msg.is_null() || (*msg).type_ != bindings::PJSIP_RESPONSE_MSG {
                return 0;
            }
            (*msg).line.status.code
        }
    }

    /// Adds a header to the response before it is printed (RFC 8599 Feature-Caps).
    pub fn add_header(&self, name: &str, value: &str) -> bool {
        let (name, value) = (super::text::to_c(name), super::text::to_c(value));
        // SAFETY: tdata is the response being sent, still modifiable in on_tx_response (the
        // transport layer prints it later); ast_sip_add_header copies both strings into its
        // pool; invalidating drops any earlier printed form so the header is sent.
        unsafe {
            let added = bindings::ast_sip_add_header(self.tdata, name.as_ptr(), value.as_ptr()) == 0;
            bindings::pjsip_tx_data_invalidate_msg(self.tdata);
            added
        }
    }
}

/// A PJSIP endpoint (a reference to the sorcery object).
pub struct Endpoint(Ao2<ast_sip_endpoint>);

impl Endpoint {
    /// The sorcery id, borrowed from the object (no copy: this runs on every request).
    pub fn id(&self) -> &str {
        // SAFETY: the id is a NUL-terminated string owned by the object, which `self` keeps
        // alive for the borrow.
        let id = unsafe { bindings::ast_sorcery_object_get_id(self.0.as_ptr().cast()) };
        if id.is_null() {
            return "";
        }
        // SAFETY: as above.
        unsafe { std::ffi::CStr::from_ptr(id) }.to_str().unwrap_or("")
    }

    /// The `aors` option.
    pub fn aors(&self) -> std::borrow::Cow<'_, str> {
        // SAFETY: `aors` is a NUL-terminated string field of the live endpoint, which `self`
        // keeps alive for the borrow (string fields change only by replacing the object).
        unsafe { borrowed_c((*self.0.as_ptr()).aors) }
    }

    /// Whether `identify_by` includes `auth_username`.
    pub fn identifies_by_auth_username(&self) -> bool {
        identifies_by_auth_username(&self.0)
    }
}

fn identifies_by_auth_username(endpoint: &Ao2<ast_sip_endpoint>) -> bool {
    // SAFETY: ident_method_order is a vector of `current` enum values owned by the endpoint.
    unsafe {
        let order = &(*endpoint.as_ptr()).ident_method_order;
        if order.elems.is_null() {
            return false;
        }
        std::slice::from_raw_parts(order.elems, order.current).contains(&bindings::AST_SIP_ENDPOINT_IDENTIFY_BY_AUTH_USERNAME)
    }
}

/// res_pjsip's `ignore_uri_user_options` (global section).
pub fn ignore_uri_user_options() -> bool {
    // SAFETY: a plain getter of res_pjsip's global configuration.
    unsafe { bindings::ast_sip_get_ignore_uri_user_options() != 0 }
}

/// The domain a `domain_alias` object maps `domain` to.
pub fn domain_alias(domain: &str) -> Option<String> {
    let (object_type, id) = (super::text::to_c("domain_alias"), super::text::to_c(domain));
    // SAFETY: a retrieve result carries one reference we own (released by Ao2); `domain` is a
    // string field of the live alias object.
    unsafe {
        let object = bindings::ast_sorcery_retrieve_by_id(bindings::ast_sip_get_sorcery(), object_type.as_ptr(), id.as_ptr());
        let alias = Ao2::from_owned(object.cast::<bindings::ast_sip_domain_alias>())?;
        Some(from_c((*alias.as_ptr()).domain))
    }
}
