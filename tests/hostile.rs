//! Hostile SIP against the real Asterisk with the module loaded: raw bytes over UDP and TCP that
//! real devices never send. Each gets a SIP answer, Asterisk keeps serving other devices, and
//! `multireg show extension` agrees with `pjsip show contacts` afterwards.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Asterisk, Config, Transport};
use md5::{Digest, Md5};

const POLICY: &str = "[101]\ntype = multireg\nmax_ip_phones = 2\nmax_desktop_clients = 1\ndual_registration = yes\n";

static SEQUENCE: AtomicU32 = AtomicU32::new(1);

fn md5_hex(data: &[u8]) -> String {
    Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

fn replace(haystack: &[u8], needle: &str, with: &[u8]) -> Vec<u8> {
    let needle = needle.as_bytes();
    let mut out = Vec::with_capacity(haystack.len() + with.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

fn param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}="))? + name.len() + 1;
    let rest = &challenge[start..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted.split('"').next()?.to_string(),
        None => rest.split([',', '\r', '\n']).next()?.trim().to_string(),
    })
}

enum Link {
    Udp(UdpSocket, SocketAddr),
    Tcp(TcpStream, Vec<u8>),
}

/// A raw SIP client: sends bytes as given, answers digest challenges when asked to.
struct Raw {
    link: Link,
    local: SocketAddr,
    server_ip: String,
}

impl Raw {
    fn udp(asterisk: &Asterisk, ip: &str) -> Raw {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let local = socket.local_addr().unwrap();
        Raw { link: Link::Udp(socket, asterisk.sip_addr()), local, server_ip: asterisk.ip.clone() }
    }

    fn tcp(asterisk: &Asterisk) -> Raw {
        let stream = TcpStream::connect(asterisk.sip_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        let local = stream.local_addr().unwrap();
        Raw { link: Link::Tcp(stream, Vec::new()), local, server_ip: asterisk.ip.clone() }
    }

    fn transport(&self) -> &'static str {
        match self.link {
            Link::Udp(..) => "UDP",
            Link::Tcp(..) => "TCP",
        }
    }

    fn send(&mut self, bytes: &[u8]) -> bool {
        match &mut self.link {
            Link::Udp(socket, server) => socket.send_to(bytes, *server).is_ok(),
            Link::Tcp(stream, _) => stream.write_all(bytes).is_ok(),
        }
    }

    /// The next message from Asterisk (whole, for TCP by Content-Length), or None after `timeout`.
    fn receive(&mut self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match &mut self.link {
                Link::Udp(socket, _) => {
                    let mut buffer = vec![0u8; 65536];
                    if let Ok((size, _)) = socket.recv_from(&mut buffer) {
                        return Some(String::from_utf8_lossy(&buffer[..size]).into_owned());
                    }
                }
                Link::Tcp(stream, pending) => {
                    if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&pending[..end + 4]).into_owned();
                        let length = head
                            .lines()
                            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                            .and_then(|v| v.parse::<usize>().ok())
                            .unwrap_or(0);
                        if pending.len() >= end + 4 + length {
                            let message: Vec<u8> = pending.drain(..end + 4 + length).collect();
                            return Some(String::from_utf8_lossy(&message).into_owned());
                        }
                    }
                    let mut chunk = [0u8; 16384];
                    match stream.read(&mut chunk) {
                        Ok(0) => return None,
                        Ok(size) => pending.extend_from_slice(&chunk[..size]),
                        Err(_) => {}
                    }
                }
            }
        }
        None
    }

    /// The final response to the request with `call_id` (provisional answers skipped).
    fn final_response(&mut self, call_id: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let Some(message) = self.receive(deadline.saturating_duration_since(Instant::now())) else { continue };
            let is_final = message.starts_with("SIP/2.0 ") && !message.starts_with("SIP/2.0 1");
            if is_final && message.contains(call_id) {
                return Some(message);
            }
        }
        None
    }

    /// Sends `template` (placeholders {VIA} {CALLID} {CSEQ} {AUTH} {SERVER} {LOCAL}); answers a
    /// 401 with digest credentials for `user`/`password`. Returns the final status line.
    fn request(&mut self, template: &[u8], user: &str, password: &str) -> Option<String> {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let call_id = format!("hostile-{}-{n}", std::process::id());
        let via = format!("SIP/2.0/{} {};rport;branch=z9hG4bKh{n}", self.transport(), self.local);
        let (server_ip, local) = (self.server_ip.clone(), self.local.to_string());
        let fill = |cseq: u32, auth: &str, branch: &str| {
            let mut bytes = replace(template, "{VIA}", via.replace(&format!("z9hG4bKh{n}"), branch).as_bytes());
            bytes = replace(&bytes, "{CALLID}", call_id.as_bytes());
            bytes = replace(&bytes, "{CSEQ}", cseq.to_string().as_bytes());
            bytes = replace(&bytes, "{AUTH}", auth.as_bytes());
            bytes = replace(&bytes, "{SERVER}", server_ip.as_bytes());
            replace(&bytes, "{LOCAL}", local.as_bytes())
        };
        let first = fill(1, "", &format!("z9hG4bKh{n}a"));
        self.send(&first);
        let response = self.final_response(&call_id, Duration::from_secs(5))?;
        if !response.starts_with("SIP/2.0 401") {
            return Some(response);
        }
        let challenge = response.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))?.to_string();
        let (realm, nonce) = (param(&challenge, "realm")?, param(&challenge, "nonce")?);
        let method = String::from_utf8_lossy(template).split_whitespace().next().unwrap_or("REGISTER").to_string();
        let uri = format!("sip:{}", self.server_ip);
        let ha1 = md5_hex(format!("{user}:{realm}:{password}").as_bytes());
        let ha2 = md5_hex(format!("{method}:{uri}").as_bytes());
        let mut auth = format!("Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\"");
        if param(&challenge, "qop").is_some() {
            let digest = md5_hex(format!("{ha1}:{nonce}:00000001:c{n}:auth:{ha2}").as_bytes());
            auth.push_str(&format!(", qop=auth, nc=00000001, cnonce=\"c{n}\", response=\"{digest}\""));
        } else {
            auth.push_str(&format!(", response=\"{}\"", md5_hex(format!("{ha1}:{nonce}:{ha2}").as_bytes())));
        }
        if let Some(opaque) = param(&challenge, "opaque") {
            auth.push_str(&format!(", opaque=\"{opaque}\""));
        }
        auth.push_str(", algorithm=MD5\r\n");
        self.send(&fill(2, &auth, &format!("z9hG4bKh{n}b")));
        self.final_response(&call_id, Duration::from_secs(5))
    }
}

fn status(response: &Option<String>) -> u16 {
    response.as_deref().and_then(|r| r.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A REGISTER for `user` with the given header lines (Via, Call-ID, CSeq, Max-Forwards and
/// Content-Length are added).
fn register(user: &str, headers: &str) -> Vec<u8> {
    format!(
        "REGISTER sip:{{SERVER}} SIP/2.0\r\nVia: {{VIA}}\r\nMax-Forwards: 70\r\nFrom: <sip:{user}@{{SERVER}}>;tag=h{{CALLID}}\r\n\
         To: <sip:{user}@{{SERVER}}>\r\nCall-ID: {{CALLID}}\r\nCSeq: {{CSEQ}} REGISTER\r\n{headers}{{AUTH}}Content-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

fn contact_count(asterisk: &Asterisk, aor: &str) -> usize {
    let needle = format!("Contact:  {aor}/");
    asterisk.cli("pjsip show contacts").lines().filter(|l| l.trim_start().starts_with(&needle)).count()
}

fn shown_devices(asterisk: &Asterisk, extension: &str) -> usize {
    let text = asterisk.cli(&format!("multireg show extension {extension}"));
    text.lines().find_map(|l| l.strip_prefix("Devices: ")).and_then(|n| n.trim().parse().ok()).unwrap_or(usize::MAX)
}

/// Asterisk still works for a normal device, the module is running, and its view agrees with
/// Asterisk's contact store.
fn still_serving(asterisk: &Asterisk) {
    assert!(asterisk.cli("module show like multireg").contains("Running"));
    let mut probe = asterisk.agent(Transport::Udp, "127.0.0.3", "102", "pass102");
    assert_eq!(probe.register(), 200, "another device still registers");
    probe.unregister();
    let (stored, shown) = (contact_count(asterisk, "101") + contact_count(asterisk, "101r"), shown_devices(asterisk, "101"));
    assert_eq!(stored, shown, "multireg show extension agrees with pjsip show contacts");
}

/// A final answer, or a request PJSIP's parser dropped before any module saw it (stock
/// behaviour for a syntax error: logged, no answer). Never nothing at all for another reason.
fn answered_or_dropped(asterisk: &Asterisk, response: &Option<String>, what: &str) -> u16 {
    let code = status(response);
    if code == 0 {
        let dropped = common::wait_for(Duration::from_secs(2), || {
            asterisk.messages_log().contains("PJSIP syntax error exception").then_some(())
        });
        assert!(dropped.is_some(), "{what}: neither answered nor dropped by PJSIP's parser");
    } else {
        assert!((200..700).contains(&code), "{what}: {code}");
    }
    code
}

fn start() -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: POLICY.into(), ..Config::default() })
}

#[test]
fn register_without_contact_or_with_star() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    let contact = "Contact: <sip:101@{LOCAL}>\r\nUser-Agent: Yealink T46\r\nExpires: 600\r\n";
    assert_eq!(status(&raw.request(&register("101", contact), "101", "pass101")), 200);
    assert_eq!(contact_count(&asterisk, "101"), 1);
    // No Contact: a query of the bindings.
    let query = raw.request(&register("101", "User-Agent: Yealink T46\r\n"), "101", "pass101");
    assert_eq!(status(&query), 200, "{query:?}");
    assert!(query.unwrap().contains("sip:101@"), "the 200 lists the binding");
    // Contact: * without Expires: 0 is malformed (RFC 3261 10.3 step 6).
    let star = raw.request(&register("101", "Contact: *\r\nExpires: 600\r\n"), "101", "pass101");
    assert_eq!(status(&star), 400, "{star:?}");
    let star = raw.request(&register("101", "Contact: *\r\n"), "101", "pass101");
    assert_eq!(status(&star), 400, "{star:?}");
    assert_eq!(contact_count(&asterisk, "101"), 1);
    // Contact: * with Expires: 0 removes every binding.
    let clear = raw.request(&register("101", "Contact: *\r\nExpires: 0\r\n"), "101", "pass101");
    assert_eq!(status(&clear), 200, "{clear:?}");
    assert_eq!(contact_count(&asterisk, "101"), 0);
    still_serving(&asterisk);
}

#[test]
fn hundreds_of_contacts_in_one_register() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    let contacts: String = (0..300).map(|i| format!("Contact: <sip:101-{i}@127.0.0.1:{}>\r\n", 6000 + i)).collect();
    let listed: String = format!(
        "Contact: {}\r\n",
        (0..300).map(|i| format!("<sip:101x{i}@127.0.0.1:{}>", 7000 + i)).collect::<Vec<_>>().join(",")
    );
    for headers in [contacts, listed] {
        let response = raw.request(&register("101", &format!("{headers}Expires: 600\r\n")), "101", "pass101");
        let code = status(&response);
        assert!((200..700).contains(&code), "a final answer: {:?}", response.map(|r| r.lines().next().unwrap_or("").to_string()));
        assert!(contact_count(&asterisk, "101") <= 2, "never more devices than max_ip_phones = 2");
        still_serving(&asterisk);
    }
}

#[test]
fn oversized_and_odd_header_values() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    let contact = "Contact: <sip:101@{LOCAL}>\r\n";
    // 60 KB User-Agent over UDP (close to the datagram limit).
    let long_agent = format!("{contact}User-Agent: {}\r\n", "Z".repeat(60_000));
    let response = raw.request(&register("101", &long_agent), "101", "pass101");
    assert!((200..700).contains(&status(&response)), "answered");
    // Expires far beyond 32 bits, and negative.
    for expires in ["99999999999999999999", "4294967296", "-1", "-99999999999", "abc"] {
        let response = raw.request(&register("101", &format!("{contact}Expires: {expires}\r\n")), "101", "pass101");
        answered_or_dropped(&asterisk, &response, &format!("Expires: {expires}"));
        let response =
            raw.request(&register("101", &format!("Contact: <sip:101@{{LOCAL}}>;expires={expires}\r\n")), "101", "pass101");
        answered_or_dropped(&asterisk, &response, &format!("expires={expires}"));
    }
    still_serving(&asterisk);

    // 64 KB User-Agent over TCP: PJSIP's message limit; answered or the connection is closed.
    let mut tcp = Raw::tcp(&asterisk);
    let huge = format!("Contact: <sip:101@{{LOCAL}};transport=tcp>\r\nUser-Agent: {}\r\n", "Y".repeat(64 * 1024));
    let _ = tcp.request(&register("101", &huge), "101", "pass101");
    still_serving(&asterisk);
}

#[test]
fn non_utf8_bytes_everywhere() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    let headers = b"Contact: <sip:101@{LOCAL}>\r\nUser-Agent: Zoiper \xff\xfe\xfd \x1b[2J\r\nX-Junk: \xc0\xaf\xed\xa0\x80\r\n";
    let message = replace(&register("101", "@@HEADERS@@"), "@@HEADERS@@", headers);
    let response = raw.request(&message, "101", "pass101");
    assert_eq!(status(&response), 200, "{response:?}");
    let shown = asterisk.cli("multireg show extension 101");
    assert!(!shown.contains('\u{1b}'), "no raw escape reaches the CLI: {shown:?}");
    // In the Contact's display name and parameters.
    let headers = b"Contact: \"\xff\xfe\x80 D\xc3\x28sk\" <sip:101@{LOCAL}>;x=\xe2\x28\xa1\r\n";
    let message = replace(&register("101", "@@HEADERS@@"), "@@HEADERS@@", headers);
    let response = raw.request(&message, "101", "pass101");
    answered_or_dropped(&asterisk, &response, "non-UTF-8 Contact");
    // Non-UTF-8 in the request line's user and in the From/To user.
    let bad_user = b"REGISTER sip:{SERVER} SIP/2.0\r\nVia: {VIA}\r\nMax-Forwards: 70\r\nFrom: <sip:1\xff01@{SERVER}>;tag=x\r\n\
                     To: <sip:1\xff01@{SERVER}>\r\nCall-ID: {CALLID}\r\nCSeq: {CSEQ} REGISTER\r\nContact: <sip:\xfe@{LOCAL}>\r\n\
                     {AUTH}Content-Length: 0\r\n\r\n";
    let response = raw.request(bad_user, "101", "pass101");
    let code = status(&response);
    assert!(code == 0 || (400..700).contains(&code), "refused or dropped, never accepted: {code}");
    still_serving(&asterisk);
}

#[test]
fn compact_and_folded_headers_are_understood() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    let compact = b"REGISTER sip:{SERVER} SIP/2.0\r\nv: {VIA}\r\nMax-Forwards: 70\r\nf: <sip:101@{SERVER}>;tag=c\r\n\
                    t: <sip:101@{SERVER}>\r\ni: {CALLID}\r\nCSeq: {CSEQ} REGISTER\r\nm: <sip:101@{LOCAL}>\r\n\
                    User-Agent: Compact\r\n Phone 1.0\r\nExpires:\r\n\t600\r\n{AUTH}l: 0\r\n\r\n";
    let response = raw.request(compact, "101", "pass101");
    assert_eq!(status(&response), 200, "{response:?}");
    assert_eq!(contact_count(&asterisk, "101"), 1);
    let shown = asterisk.cli("multireg show extension 101");
    assert!(shown.contains("Compact"), "{shown}");
    still_serving(&asterisk);
}

#[test]
fn unknown_uri_schemes_in_contact() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    for contact in ["<tel:+441234>", "<mailto:a@b>", "<foo:bar>", "<http://example.invalid/>", "<urn:uuid:1>", "<sip:>"] {
        let response = raw.request(&register("101", &format!("Contact: {contact}\r\nExpires: 600\r\n")), "101", "pass101");
        answered_or_dropped(&asterisk, &response, contact);
    }
    still_serving(&asterisk);
}

#[test]
fn names_that_look_like_the_secondary_are_not_it() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.1");
    for user in ["101rr", "r", "101R", "101 r", "101r;x", "101%72", "0101r"] {
        let from = user.replace(' ', "%20");
        let response = raw.request(&register(&from, "Contact: <sip:x@{LOCAL}>\r\n"), user, "pass101");
        assert_eq!(status(&response), 401, "{user} is no endpoint: {response:?}");
    }
    // The real secondary still works.
    let response = raw.request(&register("101r", "Contact: <sip:101r@{LOCAL}>\r\n"), "101r", "pass101");
    assert_eq!(status(&response), 200);
    still_serving(&asterisk);
}

#[test]
fn invite_and_register_bursts_from_one_address() {
    let asterisk = start();
    let mut raw = Raw::udp(&asterisk, "127.0.0.2");
    let (mut sent, mut answered) = (0, 0);
    for burst in 0..3 {
        let mut ids = Vec::new();
        for i in 0..150 {
            let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
            let call_id = format!("burst-{}-{burst}-{i}-{n}", std::process::id());
            let method = if i % 2 == 0 { "REGISTER" } else { "INVITE" };
            let message = format!(
                "{method} sip:{}@{} SIP/2.0\r\nVia: SIP/2.0/UDP {};rport;branch=z9hG4bKb{n}\r\nMax-Forwards: 70\r\n\
                 From: <sip:101@{}>;tag=b{n}\r\nTo: <sip:{}@{}>\r\nCall-ID: {call_id}\r\nCSeq: 1 {method}\r\n\
                 Contact: <sip:101@{}>\r\nContent-Length: 0\r\n\r\n",
                if method == "INVITE" { "102" } else { "101" },
                asterisk.ip,
                raw.local,
                asterisk.ip,
                if method == "INVITE" { "102" } else { "101" },
                asterisk.ip,
                raw.local
            );
            raw.send(message.as_bytes());
            ids.push(call_id);
            sent += 1;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = std::collections::HashSet::new();
        while seen.len() < ids.len() && Instant::now() < deadline {
            if let Some(message) = raw.receive(Duration::from_millis(200)) {
                if let Some(id) = ids.iter().find(|id| message.contains(id.as_str())) {
                    if message.starts_with("SIP/2.0 ") && !message.starts_with("SIP/2.0 1") {
                        seen.insert(id.clone());
                    }
                }
            }
        }
        answered += seen.len();
    }
    assert_eq!(answered, sent, "every request of the bursts got a final answer");
    still_serving(&asterisk);
}

#[test]
fn register_burst_on_one_tcp_connection() {
    let asterisk = start();
    let mut tcp = Raw::tcp(&asterisk);
    let mut ids = Vec::new();
    let mut burst = Vec::new();
    for i in 0..200 {
        let n = SEQUENCE.fetch_add(1, Ordering::Relaxed);
        let call_id = format!("tcpburst-{}-{i}-{n}", std::process::id());
        burst.extend_from_slice(
            format!(
                "REGISTER sip:{ip} SIP/2.0\r\nVia: SIP/2.0/TCP {local};rport;branch=z9hG4bKt{n}\r\nMax-Forwards: 70\r\n\
                 From: <sip:101@{ip}>;tag=t{n}\r\nTo: <sip:101@{ip}>\r\nCall-ID: {call_id}\r\nCSeq: 1 REGISTER\r\n\
                 Contact: <sip:101@{local};transport=tcp>\r\nContent-Length: 0\r\n\r\n",
                ip = asterisk.ip,
                local = tcp.local
            )
            .as_bytes(),
        );
        ids.push(call_id);
    }
    assert!(tcp.send(&burst), "the burst is written in one go");
    let mut seen = std::collections::HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.len() < ids.len() && Instant::now() < deadline {
        if let Some(message) = tcp.receive(Duration::from_millis(200)) {
            if let Some(id) = ids.iter().find(|id| message.contains(id.as_str())) {
                if message.starts_with("SIP/2.0 401") {
                    seen.insert(id.clone());
                }
            }
        }
    }
    assert_eq!(seen.len(), ids.len(), "every REGISTER on the connection was challenged");
    still_serving(&asterisk);
}

/// Bytes that are not UTF-8 in the User-Agent change nothing: the limit is decided on what pjsip
/// parsed, like every other REGISTER (before the REGISTER path was rebuilt, such a REGISTER was
/// passed on unchecked: 200, 200, 200).
#[test]
fn non_utf8_user_agents_still_meet_the_limit() {
    let asterisk = start();
    let mut codes = Vec::new();
    for i in 0..3 {
        let mut raw = Raw::udp(&asterisk, "127.0.0.1");
        let headers = format!("Contact: <sip:101-{i}@{{LOCAL}}>\r\nUser-Agent: Phone @@UA@@\r\n");
        let message = replace(&register("101", &headers), "@@UA@@", b"\xff\xfe");
        codes.push(status(&raw.request(&message, "101", "pass101")));
    }
    assert_eq!(codes, [200, 200, 403]);
    assert_eq!(contact_count(&asterisk, "101"), 2);
}
