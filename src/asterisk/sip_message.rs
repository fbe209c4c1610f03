//! What pjsip parsed from a REGISTER and from the registrar's answer to it: the module reads
//! these structures instead of the wire, so it sees exactly what the registrar sees.
use std::borrow::Cow;
use std::ffi::{c_char, c_void};

use super::pjsip::{RxRequest, TxResponse};
use super::text::{lossless, lossless_borrowed, pj_bytes};
use crate::bindings::{self, pj_str_t, pjsip_msg};

/// Room for a printed Contact URI (the registrar itself refuses more than PJSIP_MAX_URL_SIZE).
const URI_BUFFER: usize = 4096;

/// pjsip's "no expires parameter" value (PJSIP_EXPIRES_NOT_SPECIFIED, a cast macro bindgen skips).
const EXPIRES_NOT_SPECIFIED: u32 = 0xFFFF_FFFF;

/// One Contact header of a REGISTER, or of the registrar's 200 OK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactHeader {
    /// `Contact: *`.
    pub star: bool,
    /// sip: or sips: (the registrar ignores other schemes).
    pub sip: bool,
    /// The URI as the registrar prints and stores it (lossless: non-UTF-8 bytes escaped).
    pub uri: String,
    /// The header's `expires` parameter.
    pub expires: Option<u32>,
    /// Header parameters (`+sip.instance`, `pn-*`, ...), names lower-cased, values as sent.
    pub params: Vec<(String, Option<String>)>,
}

/// `text` without leading and trailing white space, still borrowed when it was.
fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) if text.trim().len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(text.trim().to_string()),
    }
}

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable(pub &'static str);

fn text(value: &pj_str_t) -> String {
    // SAFETY: pj_str_t of a parsed message points at `slen` bytes owned by its pool.
    String::from_utf8_lossy(unsafe { pj_bytes(value) }).into_owned()
}

/// Headers of one type in a message, in order, walked without collecting them.
struct Headers {
    msg: *mut pjsip_msg,
    kind: bindings::pjsip_hdr_e,
    start: *const c_void,
    done: bool,
}

/// # Safety
/// `msg` must be a live parsed message, alive while the iterator and its items are used.
unsafe fn headers_of(msg: *mut pjsip_msg, kind: bindings::pjsip_hdr_e) -> Headers {
    Headers { msg, kind, start: std::ptr::null(), done: false }
}

impl Iterator for Headers {
    type Item = *mut c_void;

    fn next(&mut self) -> Option<*mut c_void> {
        if self.done {
            return None;
        }
        // SAFETY: find_hdr walks the live message's header list from `start` (null = the first
        // header); each result's `next` is the following header or the list head, which ends the walk.
        unsafe {
            let header = bindings::pjsip_msg_find_hdr(self.msg, self.kind, self.start);
            if header.is_null() {
                self.done = true;
                return None;
            }
            self.start = (*header.cast::<bindings::pjsip_hdr>()).next.cast();
            Some(header)
        }
    }
}

/// Prints a Contact URI as the registrar stores it into `buffer` (not zeroed first: pjsip writes
/// what it returns); None when it does not fit.
///
/// # Safety
/// `uri` must be a sip:/sips: URI of a live message.
unsafe fn print_contact_uri(
    uri: *const bindings::pjsip_uri,
    buffer: &mut [std::mem::MaybeUninit<u8>; URI_BUFFER],
) -> Option<&[u8]> {
    // SAFETY: pjsip writes at most `len` bytes into the buffer and returns how many it wrote.
    unsafe {
        let length = bindings::multireg_shim_contact_uri_print(uri, buffer.as_mut_ptr().cast::<c_char>(), buffer.len());
        if length < 0 || length as usize > buffer.len() {
            return None;
        }
        Some(std::slice::from_raw_parts(buffer.as_ptr().cast::<u8>(), length as usize))
    }
}

/// Parameters of a pjsip parameter list.
///
/// # Safety
/// `head` must be the list head inside a live header or URI.
unsafe fn params_of(head: *const bindings::pjsip_param) -> Vec<(String, Option<String>)> {
    let mut params = Vec::new();
    // SAFETY: the list is circular with `head` as sentinel; every node belongs to the message.
    unsafe {
        let mut node = (*head).next as *const bindings::pjsip_param;
        while !node.is_null() && node != head {
            let value = (*node).value;
            params.push((
                String::from_utf8_lossy(pj_bytes(&(*node).name)).to_ascii_lowercase(),
                (value.slen > 0).then(|| text(&value)),
            ));
            node = (*node).next;
        }
    }
    params
}

/// Reads every Contact header of a message.
///
/// # Safety
/// `msg` must be a live parsed message.
unsafe fn contacts_of(msg: *mut pjsip_msg) -> Result<Vec<ContactHeader>, Unreadable> {
    let mut contacts = Vec::new();
    // SAFETY: each header found is a pjsip_contact_hdr of the live message.
    unsafe {
        for header in headers_of(msg, bindings::PJSIP_H_CONTACT) {
            let contact = &*header.cast::<bindings::pjsip_contact_hdr>();
            if contact.star != 0 {
                contacts.push(ContactHeader { star: true, sip: false, uri: "*".into(), expires: None, params: Vec::new() });
                continue;
            }
            if contact.uri.is_null() {
                return Err(Unreadable("a Contact header has no URI"));
            }
            let sip = bindings::multireg_shim_uri_is_sip(contact.uri) != 0;
            let uri = if sip {
                let mut buffer = [std::mem::MaybeUninit::uninit(); URI_BUFFER];
                lossless(print_contact_uri(contact.uri, &mut buffer).ok_or(Unreadable("a Contact URI is too long"))?)
            } else {
                String::new()
            };
            let expires = (contact.expires != EXPIRES_NOT_SPECIFIED).then_some(contact.expires);
            contacts.push(ContactHeader { star: false, sip, uri, expires, params: params_of(&contact.other_param) });
        }
    }
    Ok(contacts)
}

/// The parts of a REGISTER the limit decision needs, as pjsip parsed them. Texts borrow the
/// request's own bytes where they are valid UTF-8 (the usual case), so reading one costs no copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterMessage<'a> {
    /// The To URI's user and host (the registrar's AOR lookup starts there).
    pub to_user: Cow<'a, str>,
    pub to_host: Cow<'a, str>,
    pub to_is_sip: bool,
    /// (username, realm) of each Digest Authorization header (read only when asked for: only an
    /// endpoint identified by auth username needs them).
    pub digest_users: Vec<(String, String)>,
    pub call_id: Cow<'a, str>,
    pub cseq: u32,
    pub expires_header: Option<u32>,
    pub user_agent: Cow<'a, str>,
    pub contacts: Vec<ContactHeader>,
}

impl RxRequest<'_> {
    /// The REGISTER as pjsip parsed it; its Digest users only `with_digest_users`.
    pub fn register_message(&self, with_digest_users: bool) -> Result<RegisterMessage<'_>, Unreadable> {
        // SAFETY: rdata is valid for the callback; msg_info's shortcuts (to, cid, cseq) point at
        // headers of the parsed message, which pjsip guarantees for every request it delivers.
        unsafe {
            let info = &(*self.raw()).msg_info;
            let msg = info.msg;
            if msg.is_null() || info.to.is_null() || info.cid.is_null() || info.cseq.is_null() {
                return Err(Unreadable("the request lacks To, Call-ID or CSeq"));
            }
            let to_uri = (*info.to).uri;
            let to_is_sip = bindings::multireg_shim_uri_is_sip(to_uri) != 0;
            let (to_user, to_host) = if to_is_sip {
                let sip = bindings::multireg_shim_sip_uri(to_uri);
                if sip.is_null() {
                    return Err(Unreadable("the To URI is unreadable"));
                }
                (lossless_borrowed(pj_bytes(&(*sip).user)), lossless_borrowed(pj_bytes(&(*sip).host)))
            } else {
                (Cow::Borrowed(""), Cow::Borrowed(""))
            };
            let mut digest_users = Vec::new();
            let authorizations = if with_digest_users { Some(headers_of(msg, bindings::PJSIP_H_AUTHORIZATION)) } else { None };
            for header in authorizations.into_iter().flatten() {
                let auth = &*header.cast::<bindings::pjsip_authorization_hdr>();
                if pj_bytes(&auth.scheme).eq_ignore_ascii_case(b"digest") {
                    let digest = &auth.credential.digest;
                    digest_users.push((lossless(pj_bytes(&digest.username)), lossless(pj_bytes(&digest.realm))));
                }
            }
            let expires_header =
                headers_of(msg, bindings::PJSIP_H_EXPIRES).next().map(|h| (*h.cast::<bindings::pjsip_expires_hdr>()).ivalue);
            let user_agent_name = pj_str_t { ptr: c"User-Agent".as_ptr().cast_mut(), slen: 10 };
            let agent = bindings::pjsip_msg_find_hdr_by_name(msg, &user_agent_name, std::ptr::null());
            let user_agent = if agent.is_null() {
                Cow::Borrowed("")
            } else {
                trimmed(String::from_utf8_lossy(pj_bytes(&(*agent.cast::<bindings::pjsip_generic_string_hdr>()).hvalue)))
            };
            Ok(RegisterMessage {
                to_user,
                to_host,
                to_is_sip,
                digest_users,
                call_id: lossless_borrowed(pj_bytes(&(*info.cid).id)),
                cseq: (*info.cseq).cseq as u32,
                expires_header,
                user_agent,
                contacts: contacts_of(msg)?,
            })
        }
    }
}

/// The registrar's final answer to a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterAnswer {
    pub status: i32,
    pub call_id: String,
    pub cseq: u32,
}

impl TxResponse<'_> {
    /// Which REGISTER this final response answers, and how; cheap for anything else. The bindings
    /// it lists are read separately (`bindings`), only for answers the module waits for.
    pub fn register_answer(&self) -> Option<RegisterAnswer> {
        // SAFETY: tdata->msg is the response being sent; the headers found belong to it.
        unsafe {
            let msg = (*self.raw()).msg;
            if msg.is_null() || (*msg).type_ != bindings::PJSIP_RESPONSE_MSG {
                return None;
            }
            let status = (*msg).line.status.code;
            if status < 200 {
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
            Some(RegisterAnswer { status, call_id: lossless(pj_bytes(&(*call_id).id)), cseq: (*cseq).cseq as u32 })
        }
    }

    /// The bindings a registrar's 2xx lists: every binding of the AOR with its seconds left
    /// (permanent contacts, which carry no expires, left out). Read into one buffer: the
    /// registrar lists every binding of the AOR in every answer.
    pub fn bindings(&self) -> AnswerBindings {
        // Room for a typical AOR's bindings at once.
        let mut answer = AnswerBindings { text: String::with_capacity(512), spans: Vec::with_capacity(8) };
        // SAFETY: tdata->msg is the response being sent (null-checked); its headers belong to it.
        unsafe {
            let msg = (*self.raw()).msg;
            if msg.is_null() {
                return answer;
            }
            let mut buffer = [std::mem::MaybeUninit::uninit(); URI_BUFFER];
            for header in headers_of(msg, bindings::PJSIP_H_CONTACT) {
                let contact = &*header.cast::<bindings::pjsip_contact_hdr>();
                if contact.star != 0
                    || contact.uri.is_null()
                    || contact.expires == EXPIRES_NOT_SPECIFIED
                    || bindings::multireg_shim_uri_is_sip(contact.uri) == 0
                {
                    continue;
                }
                let Some(printed) = print_contact_uri(contact.uri, &mut buffer) else { continue };
                let start = answer.text.len();
                answer.text.push_str(&lossless_borrowed(printed));
                answer.spans.push((start, answer.text.len(), contact.expires));
            }
        }
        answer
    }
}

/// The bindings of a registrar's answer: (URI, seconds left) each, the URIs in one buffer.
#[derive(Debug, Default)]
pub struct AnswerBindings {
    text: String,
    spans: Vec<(usize, usize, u32)>,
}

impl AnswerBindings {
    /// (URI, seconds left) of each binding, in the answer's order.
    pub fn pairs(&self) -> Vec<(&str, u32)> {
        self.spans.iter().map(|&(start, end, seconds)| (&self.text[start..end], seconds)).collect()
    }
}

/// Whether two stored Contact URIs are the same binding by the registrar's rule (pjsip_uri_cmp).
/// It parses both: the books call it only for pairs their `UriHead`s cannot tell apart.
pub fn same_contact_uri(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (a, b) = (super::text::to_c(a), super::text::to_c(b));
    // SAFETY: two NUL-terminated strings; the shim parses copies in a pool it releases.
    unsafe { bindings::multireg_shim_contact_uris_equal(a.as_ptr(), b.as_ptr()) == 1 }
}
