//! REGISTERs as exact bytes over UDP, with digest authentication, for requests no well-behaved
//! agent would send (compact or folded headers, bare LF line ends, bytes that are not UTF-8).
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// One UDP sender with its own address and port.
pub struct RawSender {
    socket: UdpSocket,
    server: SocketAddr,
    pub local: SocketAddr,
}

/// How a REGISTER's bytes are built: `build(authorization_line, cseq)` returns the whole message
/// (the authorization line is empty on the first try, "Authorization: ...\r\n" on the second).
pub type Builder<'a> = &'a dyn Fn(&str, u32) -> Vec<u8>;

impl RawSender {
    pub fn new(local_ip: &str, server: SocketAddr) -> RawSender {
        let socket = UdpSocket::bind((local_ip, 0)).expect("bind UDP");
        socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let local = socket.local_addr().unwrap();
        RawSender { socket, server, local }
    }

    fn exchange(&self, message: &[u8], cseq: u32) -> Option<String> {
        self.socket.send_to(message, self.server).ok()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut buffer = vec![0u8; 65536];
        while Instant::now() < deadline {
            let Ok((length, _)) = self.socket.recv_from(&mut buffer) else { continue };
            let text = String::from_utf8_lossy(&buffer[..length]).into_owned();
            let is_final = text.starts_with("SIP/2.0 ") && !text.starts_with("SIP/2.0 1");
            let cseq_matches = text.lines().any(|l| {
                let lower = l.to_ascii_lowercase();
                (lower.starts_with("cseq:") && lower.contains(&format!(" {cseq} register")))
                    || (lower.starts_with("cseq:") && lower.contains(&format!(":{cseq} register")))
            });
            if is_final && cseq_matches {
                return Some(text);
            }
        }
        None
    }

    /// Sends the REGISTER, answers a digest challenge for `user`/`password`, and returns the
    /// final response (status line and headers).
    pub fn register(&self, user: &str, password: &str, cseq: u32, build: Builder<'_>) -> Option<String> {
        let first = self.exchange(&build("", cseq), cseq)?;
        if !(first.starts_with("SIP/2.0 401") || first.starts_with("SIP/2.0 407")) {
            return Some(first);
        }
        let challenge = first.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))?.to_string();
        let param = |name: &str| -> Option<String> {
            let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
            Some(challenge[start..start + challenge[start..].find('"')?].to_string())
        };
        let (realm, nonce) = (param("realm")?, param("nonce")?);
        let opaque = param("opaque");
        let uri = format!("sip:{}", self.server.ip());
        let ha1 = md5_hex(&format!("{user}:{realm}:{password}"));
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let cnonce = format!("cn{cseq}{}", self.local.port());
        let response = md5_hex(&format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}"));
        let mut line = format!(
            "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5, \
             qop=auth, nc=00000001, cnonce=\"{cnonce}\", response=\"{response}\""
        );
        if let Some(opaque) = opaque {
            line.push_str(&format!(", opaque=\"{opaque}\""));
        }
        line.push_str("\r\n");
        self.exchange(&build(&line, cseq + 1), cseq + 1)
    }
}

/// The status code of a response's first line (0 when none).
pub fn status(response: &Option<String>) -> u16 {
    response.as_deref().and_then(|r| r.get(8..11)).and_then(|s| s.parse().ok()).unwrap_or(0)
}
