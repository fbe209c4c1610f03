//! A SIP user agent for tests: REGISTER with digest auth, receive and answer calls, place calls,
//! send RFC 4733 DTMF. Messages are built as text and parsed with rsip.
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

pub use super::wire::Transport;
use super::wire::Wire;

static COUNTER: AtomicU64 = AtomicU64::new(1);

pub(crate) fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{prefix}{}x{n}x{nanos:x}", std::process::id())
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed SIP message with easy header access.
#[derive(Debug, Clone)]
pub struct SipMessage {
    pub raw: String,
}

impl SipMessage {
    pub fn is_request(&self) -> bool {
        !self.raw.starts_with("SIP/2.0")
    }
    pub fn method(&self) -> String {
        if self.is_request() {
            self.raw.split_whitespace().next().unwrap_or("").to_string()
        } else {
            self.header("CSeq").and_then(|c| c.split_whitespace().nth(1).map(str::to_string)).unwrap_or_default()
        }
    }
    pub fn status(&self) -> u16 {
        if self.is_request() {
            return 0;
        }
        self.raw.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
    }
    pub fn reason(&self) -> String {
        let first = self.raw.lines().next().unwrap_or("");
        first.splitn(3, ' ').nth(2).unwrap_or("").trim().to_string()
    }
    pub fn request_uri(&self) -> String {
        self.raw.split_whitespace().nth(1).unwrap_or("").to_string()
    }
    /// All values of a header (long or compact name), in order.
    pub fn headers(&self, name: &str) -> Vec<String> {
        let compact = match name.to_ascii_lowercase().as_str() {
            "contact" => Some("m"),
            "from" => Some("f"),
            "to" => Some("t"),
            "via" => Some("v"),
            "call-id" => Some("i"),
            "content-length" => Some("l"),
            "content-type" => Some("c"),
            _ => None,
        };
        let head = self.raw.split("\r\n\r\n").next().unwrap_or("");
        head.lines()
            .skip(1)
            .filter_map(|line| {
                let (key, value) = line.split_once(':')?;
                let key = key.trim();
                (key.eq_ignore_ascii_case(name) || compact.is_some_and(|c| key.eq_ignore_ascii_case(c)))
                    .then(|| value.trim().to_string())
            })
            .collect()
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("")
    }
    pub fn call_id(&self) -> String {
        self.header("Call-ID").unwrap_or_default()
    }
    pub fn cseq(&self) -> (u32, String) {
        let value = self.header("CSeq").unwrap_or_default();
        let mut parts = value.split_whitespace();
        (parts.next().and_then(|n| n.parse().ok()).unwrap_or(0), parts.next().unwrap_or("").to_string())
    }
    /// The user part of the From header's URI (the calling number as Asterisk presents it).
    pub fn caller_user(&self) -> String {
        uri_user(&self.header("From").unwrap_or_default())
    }
    pub fn caller_display(&self) -> String {
        let from = self.header("From").unwrap_or_default();
        from.split('<').next().unwrap_or("").trim().trim_matches('"').to_string()
    }
    /// Check with rsip that the message is well-formed SIP.
    pub fn parses(&self) -> bool {
        rsip::SipMessage::try_from(self.raw.as_bytes()).is_ok()
    }
}

fn uri_user(value: &str) -> String {
    let uri = value.split('<').nth(1).and_then(|v| v.split('>').next()).unwrap_or(value);
    let after_scheme = uri.split_once(':').map(|(_, r)| r).unwrap_or(uri);
    after_scheme.split('@').next().unwrap_or("").to_string()
}

fn digest_param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find(&format!("{name}=")) {
        let start = search + found;
        let boundary_ok = start == 0 || matches!(lower.as_bytes()[start - 1], b' ' | b',' | b'\t');
        let value_start = start + name.len() + 1;
        if boundary_ok {
            let rest = &challenge[value_start..];
            return Some(if let Some(stripped) = rest.strip_prefix('"') {
                stripped.split('"').next().unwrap_or("").to_string()
            } else {
                rest.split(',').next().unwrap_or("").trim().to_string()
            });
        }
        search = value_start;
    }
    None
}

/// Shared state between the agent and its I/O thread.
struct Inbox {
    responses: VecDeque<SipMessage>,
    requests: VecDeque<SipMessage>,
    /// Every NOTIFY received (MWI tests look here).
    notifies: Vec<SipMessage>,
    closed: bool,
}

pub struct IncomingCall {
    pub invite: SipMessage,
    to_tag: String,
}

pub struct Call {
    pub call_id: String,
    pub from_tag: String,
    pub to_header: String,
    pub remote_target: String,
    pub cseq: u32,
    pub final_status: u16,
    pub rtp: Option<(UdpSocket, SocketAddr)>,
    pub response: Option<SipMessage>,
}

pub struct Agent {
    pub user: String,
    pub auth_user: String,
    pub password: String,
    pub transport: Transport,
    pub local: SocketAddr,
    server: SocketAddr,
    pub(crate) domain: String,
    pub user_agent: String,
    /// Extra Contact header parameters, e.g. ";+sip.instance=\"<urn:uuid:..>\"".
    pub contact_params: String,
    /// Overrides the Contact URI (hostile-contact tests).
    pub contact_uri_override: Option<String>,
    call_id: String,
    from_tag: String,
    cseq: u32,
    outgoing: Sender<String>,
    inbox: Arc<Mutex<Inbox>>,
    io: Option<JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// While set, incoming INVITEs get no provisional answer at all (a device that has not
    /// started ringing yet); they are still queued for wait_invite.
    silent: Arc<std::sync::atomic::AtomicBool>,
    /// Auto-answer incoming INVITEs with 180 Ringing (tests decide about 200/486).
    pub last_register: Option<SipMessage>,
}

impl Agent {
    /// `server` is the SIP address (UDP/TCP) or the HTTP address (WS) of Asterisk.
    pub fn new(transport: Transport, local_ip: &str, server: SocketAddr, domain: &str, user: &str, password: &str) -> Agent {
        let (mut wire, local) = Wire::connect(transport, local_ip, server).expect("connect SIP transport");
        let (outgoing, to_send): (Sender<String>, Receiver<String>) = channel();
        let inbox = Arc::new(Mutex::new(Inbox {
            responses: VecDeque::new(),
            requests: VecDeque::new(),
            notifies: Vec::new(),
            closed: false,
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let silent = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (thread_inbox, thread_stop, reply) = (inbox.clone(), stop.clone(), outgoing.clone());
        let thread_silent = silent.clone();
        let io = std::thread::spawn(move || loop {
            if thread_stop.load(Ordering::Relaxed) {
                break;
            }
            while let Ok(message) = to_send.try_recv() {
                if wire.send(&message).is_err() {
                    thread_inbox.lock().unwrap().closed = true;
                }
            }
            match wire.receive() {
                Ok(Some(text)) => {
                    route_incoming(SipMessage { raw: text }, &thread_inbox, &reply, thread_silent.load(Ordering::Relaxed))
                }
                Ok(None) => {}
                Err(_) => {
                    thread_inbox.lock().unwrap().closed = true;
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        });
        Agent {
            user: user.into(),
            auth_user: user.into(),
            password: password.into(),
            transport,
            local,
            server,
            domain: domain.into(),
            user_agent: "multireg-test-agent/1.0".into(),
            contact_params: String::new(),
            contact_uri_override: None,
            call_id: unique("reg"),
            from_tag: unique("t"),
            cseq: 1,
            outgoing,
            inbox,
            io: Some(io),
            stop,
            silent,
            last_register: None,
        }
    }

    fn sent_by(&self) -> String {
        match self.transport {
            Transport::Ws => format!("{}.invalid", self.user_token()),
            _ => self.local.to_string(),
        }
    }

    fn user_token(&self) -> String {
        format!("c{}", self.local.port())
    }

    pub fn contact_uri(&self) -> String {
        if let Some(uri) = &self.contact_uri_override {
            return uri.clone();
        }
        format!("sip:{}@{};transport={}", self.user, self.sent_by(), self.transport.uri_param())
    }

    pub(crate) fn via(&self, branch: &str) -> String {
        format!("SIP/2.0/{} {};rport;branch={branch}", self.transport.via_name(), self.sent_by())
    }

    /// Stops (true) or resumes (false) the automatic 100 Trying / 180 Ringing to INVITEs.
    pub fn set_silent(&self, silent: bool) {
        self.silent.store(silent, Ordering::Relaxed);
    }

    pub fn send_raw(&self, message: &str) {
        let _ = self.outgoing.send(message.to_string());
    }

    pub(crate) fn wait_response(&self, call_id: &str, cseq: u32, timeout: Duration) -> Option<SipMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut inbox = self.inbox.lock().unwrap();
                if let Some(index) =
                    inbox.responses.iter().position(|r| r.call_id() == call_id && r.cseq().0 == cseq && r.status() >= 200)
                {
                    return inbox.responses.remove(index);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn authorization(&self, challenge: &SipMessage, method: &str, uri: &str) -> Option<(String, String)> {
        let (header_name, value) = if challenge.status() == 407 {
            ("Proxy-Authorization", challenge.header("Proxy-Authenticate")?)
        } else {
            ("Authorization", challenge.header("WWW-Authenticate")?)
        };
        let realm = digest_param(&value, "realm").unwrap_or_default();
        let nonce = digest_param(&value, "nonce").unwrap_or_default();
        let opaque = digest_param(&value, "opaque");
        let qop = digest_param(&value, "qop");
        let ha1 = md5_hex(&format!("{}:{realm}:{}", self.auth_user, self.password));
        let ha2 = md5_hex(&format!("{method}:{uri}"));
        let mut header =
            format!("Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5", self.auth_user);
        let response = if qop.as_deref().is_some_and(|q| q.split(',').any(|v| v.trim() == "auth")) {
            let cnonce = unique("cn");
            let response = md5_hex(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"));
            header.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"{cnonce}\""));
            response
        } else {
            md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
        };
        header.push_str(&format!(", response=\"{response}\""));
        if let Some(opaque) = opaque {
            header.push_str(&format!(", opaque=\"{opaque}\""));
        }
        Some((header_name.to_string(), header))
    }

    fn register_message(&self, expires: u32, auth: Option<&(String, String)>) -> String {
        let uri = format!("sip:{}", self.domain);
        let contact = format!("<{}>{}", self.contact_uri(), self.contact_params);
        let mut text = format!(
            "REGISTER {uri} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: <sip:{}@{}>;tag={}\r\nTo: <sip:{}@{}>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\nUser-Agent: {}\r\n",
            self.via(&unique("z9hG4bK")),
            self.user,
            self.domain,
            self.from_tag,
            self.user,
            self.domain,
            self.call_id,
            self.cseq,
            self.user_agent
        );
        if let Some((name, value)) = auth {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        text
    }

    /// REGISTER (with digest auth when challenged); returns the final response.
    pub fn register_with_expires(&mut self, expires: u32) -> Option<SipMessage> {
        self.cseq += 1;
        self.send_raw(&self.register_message(expires, None));
        let mut response = self.wait_response(&self.call_id, self.cseq, Duration::from_secs(5))?;
        if response.status() == 401 || response.status() == 407 {
            let realm = |r: &SipMessage| r.header("WWW-Authenticate").and_then(|c| digest_param(&c, "realm"));
            let first_realm = realm(&response);
            let auth = self.authorization(&response, "REGISTER", &format!("sip:{}", self.domain))?;
            self.cseq += 1;
            self.send_raw(&self.register_message(expires, Some(&auth)));
            response = self.wait_response(&self.call_id, self.cseq, Duration::from_secs(5))?;
            // Right after boot res_pjsip_authenticator_digest learns its default realm from an
            // asynchronous "global loaded" notification: a challenge sent before it has an empty
            // realm and cannot be answered. Only then (the realm changed) answer the new challenge.
            if response.status() == 401 && realm(&response) != first_realm {
                let auth = self.authorization(&response, "REGISTER", &format!("sip:{}", self.domain))?;
                self.cseq += 1;
                self.send_raw(&self.register_message(expires, Some(&auth)));
                response = self.wait_response(&self.call_id, self.cseq, Duration::from_secs(5))?;
            }
        }
        self.last_register = Some(response.clone());
        Some(response)
    }

    /// REGISTER for an hour; returns the final status (0 when no answer).
    pub fn register(&mut self) -> u16 {
        self.register_with_expires(3600).map(|r| r.status()).unwrap_or(0)
    }

    pub fn unregister(&mut self) -> u16 {
        self.register_with_expires(0).map(|r| r.status()).unwrap_or(0)
    }

    /// Waits for an INVITE (auto-answered with 180 Ringing by the I/O thread).
    pub fn wait_invite(&self, timeout: Duration) -> Option<IncomingCall> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut inbox = self.inbox.lock().unwrap();
                if let Some(index) = inbox.requests.iter().position(|r| r.method() == "INVITE") {
                    let invite = inbox.requests.remove(index).unwrap();
                    return Some(IncomingCall { to_tag: ringing_tag(&invite), invite });
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for a request of `method` that is not an INVITE (BYE, CANCEL, NOTIFY...).
    pub fn wait_request(&self, method: &str, timeout: Duration) -> Option<SipMessage> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut inbox = self.inbox.lock().unwrap();
                if let Some(index) = inbox.requests.iter().position(|r| r.method() == method) {
                    return inbox.requests.remove(index);
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn notifies(&self) -> Vec<SipMessage> {
        self.inbox.lock().unwrap().notifies.clone()
    }

    fn respond_to(&self, request: &SipMessage, status: u16, reason: &str, to_tag: &str, extra: &str, body: &str) {
        self.send_raw(&response_text(request, status, reason, to_tag, &self.contact_uri(), extra, body));
    }

    /// Answers an incoming call with 200 OK and an SDP offering PCMU and telephone-event.
    pub fn answer(&self, call: &IncomingCall) -> UdpSocket {
        let rtp = UdpSocket::bind((self.local.ip(), 0)).expect("rtp socket");
        let sdp = sdp(&self.local.ip().to_string(), rtp.local_addr().unwrap().port());
        self.respond_to(&call.invite, 200, "OK", &call.to_tag, "Content-Type: application/sdp\r\n", &sdp);
        rtp
    }

    pub fn reject(&self, call: &IncomingCall, status: u16, reason: &str) {
        self.respond_to(&call.invite, status, reason, &call.to_tag, "", "");
    }

    fn invite_message(&self, target: &str, call: &Call, auth: Option<&(String, String)>, sdp_body: &str) -> String {
        let mut text = format!(
            "INVITE {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: <sip:{}@{}>;tag={}\r\nTo: <{target}>\r\n\
             Call-ID: {}\r\nCSeq: {} INVITE\r\nContact: <{}>\r\nUser-Agent: {}\r\nContent-Type: application/sdp\r\n",
            self.via(&unique("z9hG4bK")),
            self.user,
            self.domain,
            call.from_tag,
            call.call_id,
            call.cseq,
            self.contact_uri(),
            self.user_agent
        );
        if let Some((name, value)) = auth {
            text.push_str(&format!("{name}: {value}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{sdp_body}", sdp_body.len()));
        text
    }

    fn ack(&self, call: &Call, target: &str, to_header: &str) {
        self.send_raw(&format!(
            "ACK {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: <sip:{}@{}>;tag={}\r\nTo: {to_header}\r\n\
             Call-ID: {}\r\nCSeq: {} ACK\r\nContent-Length: 0\r\n\r\n",
            self.via(&unique("z9hG4bK")),
            self.user,
            self.domain,
            call.from_tag,
            call.call_id,
            call.cseq
        ));
    }

    /// Calls `number` and waits up to `timeout` for a final answer. Returns the call (see final_status).
    pub fn call(&mut self, number: &str, timeout: Duration) -> Call {
        let target = format!("sip:{number}@{}", self.domain);
        let rtp = UdpSocket::bind((self.local.ip(), 0)).expect("rtp socket");
        let offer = sdp(&self.local.ip().to_string(), rtp.local_addr().unwrap().port());
        let mut call = Call {
            call_id: unique("call"),
            from_tag: unique("t"),
            to_header: String::new(),
            remote_target: target.clone(),
            cseq: 1,
            final_status: 0,
            rtp: None,
            response: None,
        };
        self.send_raw(&self.invite_message(&target, &call, None, &offer));
        let mut response = self.wait_response(&call.call_id, call.cseq, timeout);
        if let Some(challenge) = response.as_ref().filter(|r| r.status() == 401 || r.status() == 407) {
            let to = challenge.header("To").unwrap_or_default();
            self.ack(&call, &target, &to);
            let auth = self.authorization(challenge, "INVITE", &target);
            call.cseq += 1;
            self.send_raw(&self.invite_message(&target, &call, auth.as_ref(), &offer));
            response = self.wait_response(&call.call_id, call.cseq, timeout);
        }
        let Some(response) = response else { return call };
        call.final_status = response.status();
        call.to_header = response.header("To").unwrap_or_default();
        self.ack(&call, &target, &call.to_header.clone());
        if response.status() == 200 {
            if let Some(contact) = response.header("Contact") {
                call.remote_target = contact.split('<').nth(1).and_then(|c| c.split('>').next()).unwrap_or(&target).to_string();
            }
            if let Some(remote) = sdp_media_address(response.body()) {
                call.rtp = Some((rtp, remote));
            }
        }
        call.response = Some(response);
        call
    }

    /// Sends one DTMF digit as RFC 4733 telephone-event packets (payload type 101).
    pub fn send_dtmf(&self, call: &Call, digit: char) {
        let Some((socket, remote)) = &call.rtp else { panic!("no media for DTMF") };
        let event = match digit {
            '0'..='9' => digit as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => panic!("bad DTMF digit"),
        };
        static SEQ: AtomicU64 = AtomicU64::new(1000);
        let ssrc: u32 = 0x1234_5678;
        let timestamp: u32 = (SEQ.load(Ordering::Relaxed) as u32).wrapping_mul(160);
        let send = |marker: bool, end: bool, duration: u16| {
            let seq = SEQ.fetch_add(1, Ordering::Relaxed) as u16;
            let mut packet = vec![0x80, if marker { 0x80 | 101 } else { 101 }];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&timestamp.to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.push(event);
            packet.push(if end { 0x80 | 10 } else { 10 });
            packet.extend_from_slice(&duration.to_be_bytes());
            let _ = socket.send_to(&packet, remote);
        };
        for step in 0..6u16 {
            send(step == 0, false, 160 * (step + 1));
            std::thread::sleep(Duration::from_millis(20));
        }
        for _ in 0..3 {
            send(false, true, 1120);
        }
        std::thread::sleep(Duration::from_millis(60));
    }

    /// Sends `millis` of PCMU silence on an established call (e.g. to leave a voicemail).
    pub fn send_audio(&self, call: &Call, millis: u64) {
        let Some((socket, remote)) = &call.rtp else { panic!("no media") };
        let ssrc: u32 = 0x0bad_cafe;
        for n in 0..(millis / 20) as u32 {
            let mut packet = vec![0x80, if n == 0 { 0x80 } else { 0x00 }];
            packet.extend_from_slice(&((n + 1) as u16).to_be_bytes());
            packet.extend_from_slice(&(n * 160).to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.extend(std::iter::repeat_n(0xFFu8, 160));
            let _ = socket.send_to(&packet, remote);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn hangup(&self, call: &mut Call) {
        call.cseq += 1;
        self.send_raw(&format!(
            "BYE {} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: <sip:{}@{}>;tag={}\r\nTo: {}\r\n\
             Call-ID: {}\r\nCSeq: {} BYE\r\nContent-Length: 0\r\n\r\n",
            call.remote_target,
            self.via(&unique("z9hG4bK")),
            self.user,
            self.domain,
            call.from_tag,
            call.to_header,
            call.call_id,
            call.cseq
        ));
        let _ = self.wait_response(&call.call_id, call.cseq, Duration::from_secs(3));
    }

    /// Hangs up a call this agent answered (BYE inside the incoming dialog).
    pub fn hangup_incoming(&self, incoming: &IncomingCall) {
        let invite = &incoming.invite;
        let contact = invite.header("Contact").unwrap_or_default();
        let target = contact.split('<').nth(1).and_then(|c| c.split('>').next()).unwrap_or("").to_string();
        let from = invite.header("From").unwrap_or_default();
        let to = format!("{};tag={}", invite.header("To").unwrap_or_default(), incoming.to_tag);
        self.send_raw(&format!(
            "BYE {target} SIP/2.0\r\nVia: {}\r\nMax-Forwards: 70\r\nFrom: {to}\r\nTo: {from}\r\n\
             Call-ID: {}\r\nCSeq: 9000 BYE\r\nContent-Length: 0\r\n\r\n",
            self.via(&unique("z9hG4bK")),
            invite.call_id()
        ));
        let _ = self.wait_response(&invite.call_id(), 9000, Duration::from_secs(3));
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(io) = self.io.take() {
            let _ = io.join();
        }
    }
}

/// The To tag this agent uses for a dialog it answers (stable per Call-ID).
fn ringing_tag(invite: &SipMessage) -> String {
    format!("r{}", &md5_hex(&invite.call_id())[..8])
}

fn response_text(
    request: &SipMessage,
    status: u16,
    reason: &str,
    to_tag: &str,
    contact: &str,
    extra: &str,
    body: &str,
) -> String {
    let mut text = format!("SIP/2.0 {status} {reason}\r\n");
    for via in request.headers("Via") {
        text.push_str(&format!("Via: {via}\r\n"));
    }
    let to = request.header("To").unwrap_or_default();
    let to = if to.contains(";tag=") || to_tag.is_empty() { to } else { format!("{to};tag={to_tag}") };
    text.push_str(&format!(
        "From: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {}\r\nContact: <{contact}>\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        request.header("From").unwrap_or_default(),
        request.call_id(),
        request.header("CSeq").unwrap_or_default(),
        body.len()
    ));
    text
}

/// I/O thread side: stores responses, answers routine requests, surfaces the rest.
fn route_incoming(message: SipMessage, inbox: &Arc<Mutex<Inbox>>, reply: &Sender<String>, silent: bool) {
    if !message.is_request() {
        inbox.lock().unwrap().responses.push_back(message);
        return;
    }
    let method = message.method();
    let contact = message.request_uri();
    match method.as_str() {
        "INVITE" if silent => inbox.lock().unwrap().requests.push_back(message),
        "INVITE" => {
            let tag = ringing_tag(&message);
            let _ = reply.send(response_text(&message, 100, "Trying", "", &contact, "", ""));
            let _ = reply.send(response_text(&message, 180, "Ringing", &tag, &contact, "", ""));
            inbox.lock().unwrap().requests.push_back(message);
        }
        "ACK" => {}
        "CANCEL" => {
            let _ = reply.send(response_text(&message, 200, "OK", "", &contact, "", ""));
            let mut inbox = inbox.lock().unwrap();
            // The cancelled INVITE gets 487 and leaves the queue of unanswered calls.
            if let Some(index) = inbox.requests.iter().position(|r| r.method() == "INVITE" && r.call_id() == message.call_id()) {
                let invite = inbox.requests.remove(index).unwrap();
                let tag = ringing_tag(&invite);
                let _ = reply.send(response_text(&invite, 487, "Request Terminated", &tag, &contact, "", ""));
            }
            inbox.requests.push_back(message);
        }
        "NOTIFY" => {
            let _ = reply.send(response_text(&message, 200, "OK", "", &contact, "", ""));
            inbox.lock().unwrap().notifies.push(message);
        }
        _ => {
            let _ = reply.send(response_text(&message, 200, "OK", "", &contact, "", ""));
            inbox.lock().unwrap().requests.push_back(message);
        }
    }
}

fn sdp(ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no=- 1 1 IN IP4 {ip}\r\ns=test\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\n\
         a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    )
}

fn sdp_media_address(body: &str) -> Option<SocketAddr> {
    let ip = body.lines().find_map(|l| l.strip_prefix("c=IN IP4 "))?.trim();
    let port = body.lines().find_map(|l| l.strip_prefix("m=audio "))?.split_whitespace().next()?;
    format!("{ip}:{port}").parse().ok()
}
