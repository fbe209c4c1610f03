//! The load generator: many SIP devices registering with MD5 digest auth over UDP, pipelined.
//!
//! Every device has a loopback address of its own (127.77.x.y, up to 65,024 devices) but all share
//! ONE UDP socket bound to the wildcard address and an ephemeral port: each REGISTER leaves with
//! its device's address as the source (IP_PKTINFO), and the answers, addressed to 127.77.x.y:port,
//! come back to that socket. So 50,000 devices cost one file descriptor, and Asterisk sees 50,000
//! distinct source addresses (as from 50,000 phones behind no NAT).
//!
//! One registration = REGISTER → 401 → REGISTER with Authorization → 200 (the device keeps its
//! Call-ID and counts CSeq up, as a phone does). A run keeps at most `window` registrations in
//! flight (closed loop: a new one starts when one ends), retransmits a REGISTER like RFC 3261's
//! timer A (0.5 s doubling, at most 4 s apart, given up after 32 s), retries after a 503 (server
//! overloaded) after 0.5 s at most 10 times, and records per transaction and per registration
//! the time from its first send to its final answer. HA1 = MD5(user:realm:password) and
//! HA2 = MD5(REGISTER:uri) are computed once per device and per run; per registration only the
//! response hash is computed. The generator's own CPU time is measured (getrusage of its thread)
//! so the report can show that it is small against Asterisk's.
use std::fmt::Write as _;
use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

/// The most devices one generator can address (127.77.0.1 .. 127.77.255.254, 254 per /24).
pub const MAX_DEVICES: usize = 254 * 256;

pub struct DeviceSpec {
    pub user: String,
    pub password: String,
    pub user_agent: String,
}

struct Device {
    spec: DeviceSpec,
    ip: Ipv4Addr,
    call_id: String,
    cseq: u32,
    nc: u32,
    /// (realm, HA1 hex) once the first challenge named the realm.
    ha1: Option<(String, String)>,
    registered: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Action {
    Register,
    Unregister,
}

/// What one run measured.
#[derive(Default)]
pub struct Outcome {
    pub completed: usize,
    pub failed: usize,
    /// The first few failures, for the report.
    pub failures: Vec<String>,
    /// First send of the unauthenticated REGISTER → 200 of the authenticated one.
    pub registrations: Vec<Duration>,
    /// Each REGISTER transaction: first send → final answer.
    pub transactions: Vec<Duration>,
    pub retransmissions: usize,
    pub overloaded: usize,
    pub wall: Duration,
    pub generator_cpu: Duration,
}

impl Outcome {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub fn add(&mut self, mut other: Outcome) {
        self.completed += other.completed;
        self.failed += other.failed;
        self.failures.extend(other.failures.drain(..).take(5usize.saturating_sub(self.failures.len())));
        self.registrations.append(&mut other.registrations);
        self.transactions.append(&mut other.transactions);
        self.retransmissions += other.retransmissions;
        self.overloaded += other.overloaded;
        self.wall += other.wall;
        self.generator_cpu += other.generator_cpu;
    }

    fn fail(&mut self, message: String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(message);
        }
    }
}

struct Transaction {
    device: usize,
    authenticated: bool,
    /// The registration's first send.
    began: Instant,
    /// This transaction's first send, its last send, and the retransmission interval.
    first_sent: Instant,
    sent: Instant,
    interval: Duration,
    /// Set after a 503: the registration starts over at this time.
    resume_at: Option<Instant>,
    overload_retries: u32,
    stale_retries: u32,
    message: Vec<u8>,
}

pub struct LoadGen {
    socket: UdpSocket,
    port: u16,
    server: SocketAddrV4,
    domain: String,
    run_id: u32,
    ha2: String,
    devices: Vec<Device>,
}

fn md5_hex(parts: &[&str]) -> String {
    let mut hasher = Md5::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.update(b":");
        }
        hasher.update(part.as_bytes());
    }
    let mut out = String::with_capacity(32);
    for byte in hasher.finalize() {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// 127.77.x.y for device `n` (y from 1 to 254).
pub fn device_ip(n: usize) -> Ipv4Addr {
    assert!(n < MAX_DEVICES, "at most {MAX_DEVICES} devices per generator");
    Ipv4Addr::new(127, 77, (n / 254) as u8, (n % 254 + 1) as u8)
}

/// One header's value from a SIP message (first occurrence, full or compact name).
fn header<'a>(message: &'a str, name: &str, compact: Option<&str>) -> Option<&'a str> {
    for line in message.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let key = key.trim();
        if key.eq_ignore_ascii_case(name) || compact.is_some_and(|c| key.eq_ignore_ascii_case(c)) {
            return Some(value.trim());
        }
    }
    None
}

/// Every WWW-Authenticate value of a message.
fn challenges(message: &str) -> Vec<&str> {
    message
        .split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|line| line.split_once(':'))
        .filter(|(key, _)| key.trim().eq_ignore_ascii_case("WWW-Authenticate"))
        .map(|(_, value)| value.trim())
        .collect()
}

/// One parameter of a Digest challenge, quoted or not.
fn digest_param(challenge: &str, name: &str) -> Option<String> {
    let body = challenge.trim_start_matches(|c: char| c.is_ascii_alphabetic()).trim_start();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let key = key.trim().trim_start_matches(',').trim();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value.to_string());
        }
        rest = next.trim_start().trim_start_matches(',');
    }
    None
}

fn send_from(fd: i32, source: Ipv4Addr, destination: SocketAddrV4, data: &[u8]) -> std::io::Result<()> {
    // SAFETY: every pointer handed to sendmsg points into locals that outlive the call; the
    // control buffer is 8-byte aligned and large enough for one in_pktinfo (CMSG_SPACE(12) = 32).
    unsafe {
        let mut address: libc::sockaddr_in = std::mem::zeroed();
        address.sin_family = libc::AF_INET as libc::sa_family_t;
        address.sin_port = destination.port().to_be();
        address.sin_addr.s_addr = u32::from(*destination.ip()).to_be();
        let mut iov = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
        let mut control = [0u64; 8];
        let space = libc::CMSG_SPACE(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let mut header: libc::msghdr = std::mem::zeroed();
        header.msg_name = &mut address as *mut libc::sockaddr_in as *mut libc::c_void;
        header.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        header.msg_iov = &mut iov;
        header.msg_iovlen = 1;
        header.msg_control = control.as_mut_ptr() as *mut libc::c_void;
        header.msg_controllen = space;
        let cmsg = libc::CMSG_FIRSTHDR(&header);
        (*cmsg).cmsg_level = libc::IPPROTO_IP;
        (*cmsg).cmsg_type = libc::IP_PKTINFO;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<libc::in_pktinfo>() as u32) as usize;
        let info = libc::in_pktinfo {
            ipi_ifindex: 0,
            ipi_spec_dst: libc::in_addr { s_addr: u32::from(source).to_be() },
            ipi_addr: libc::in_addr { s_addr: 0 },
        };
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg) as *mut libc::in_pktinfo, info);
        if libc::sendmsg(fd, &header, 0) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn set_buffer(fd: i32, option: i32, bytes: i32) {
    // SAFETY: setsockopt reads an int from a local that outlives the call.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            option,
            &bytes as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        );
    }
}

fn wait_readable(fd: i32, timeout: Duration) {
    let mut poll = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: poll reads and writes the one pollfd we pass.
    unsafe {
        libc::poll(&mut poll, 1, timeout.as_millis().min(1000) as i32);
    }
}

const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
const TRANSACTION_TIMEOUT: Duration = Duration::from_secs(32);
const OVERLOAD_RETRIES: u32 = 10;

impl LoadGen {
    /// A generator for `specs` against `server`; device n gets address number `first_ip + n`
    /// (see [`device_ip`]).
    pub fn new(server: SocketAddrV4, specs: Vec<DeviceSpec>, first_ip: usize) -> LoadGen {
        assert!(first_ip + specs.len() <= MAX_DEVICES, "at most {MAX_DEVICES} devices");
        let socket = UdpSocket::bind("0.0.0.0:0").expect("bind the generator's UDP socket");
        socket.set_nonblocking(true).unwrap();
        let fd = socket.as_raw_fd();
        set_buffer(fd, libc::SO_RCVBUF, 8 << 20);
        set_buffer(fd, libc::SO_SNDBUF, 8 << 20);
        let port = socket.local_addr().unwrap().port();
        let domain = server.ip().to_string();
        let run_id = std::process::id() ^ (port as u32) << 8;
        let ha2 = md5_hex(&["REGISTER", &format!("sip:{domain}")]);
        let devices = specs
            .into_iter()
            .enumerate()
            .map(|(n, spec)| Device {
                ip: device_ip(first_ip + n),
                call_id: format!("g{run_id:x}d{n}@bench"),
                spec,
                cseq: 0,
                nc: 0,
                ha1: None,
                registered: false,
            })
            .collect();
        LoadGen { socket, port, server, domain, run_id, ha2, devices }
    }

    pub fn len(&self) -> usize {
        self.devices.len()
    }

    pub fn registered(&self, device: usize) -> bool {
        self.devices[device].registered
    }

    /// Devices currently registered.
    pub fn registered_devices(&self) -> Vec<usize> {
        (0..self.devices.len()).filter(|&n| self.devices[n].registered).collect()
    }

    fn build(&mut self, device: usize, action: Action, authorization: Option<&str>) -> Vec<u8> {
        let (domain, port) = (&self.domain, self.port);
        let d = &mut self.devices[device];
        d.cseq += 1;
        let expires = if action == Action::Register { 3600 } else { 0 };
        let mut text = String::with_capacity(700);
        let _ = write!(
            text,
            "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:{port};rport;branch=z9hG4bK{run:x}.{device}.{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{domain}>;tag=t{device}\r\nTo: <sip:{user}@{domain}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{ip}:{port};transport=udp>\r\n\
             Expires: {expires}\r\nUser-Agent: {agent}\r\n",
            ip = d.ip,
            run = self.run_id,
            user = d.spec.user,
            call_id = d.call_id,
            cseq = d.cseq,
            agent = d.spec.user_agent,
        );
        if let Some(value) = authorization {
            let _ = write!(text, "Authorization: {value}\r\n");
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        text.into_bytes()
    }

    /// The Authorization value answering `challenge` for `device` (None: no MD5 challenge).
    fn authorization(&mut self, device: usize, message: &str) -> Option<String> {
        let challenge = challenges(message)
            .into_iter()
            .find(|c| digest_param(c, "algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")))?;
        let realm = digest_param(challenge, "realm").unwrap_or_default();
        let nonce = digest_param(challenge, "nonce").unwrap_or_default();
        let qop_auth = digest_param(challenge, "qop").is_some_and(|q| q.split(',').any(|v| v.trim() == "auth"));
        let opaque = digest_param(challenge, "opaque");
        let domain = &self.domain;
        let d = &mut self.devices[device];
        if d.ha1.as_ref().is_none_or(|(r, _)| *r != realm) {
            d.ha1 = Some((realm.clone(), md5_hex(&[&d.spec.user, &realm, &d.spec.password])));
        }
        let ha1 = &d.ha1.as_ref().unwrap().1;
        let mut value = format!(
            "Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"sip:{domain}\", algorithm=MD5",
            d.spec.user
        );
        let response = if qop_auth {
            d.nc += 1;
            let nc = format!("{:08x}", d.nc);
            let cnonce = format!("{:x}{:x}", d.cseq, device);
            let _ = write!(value, ", qop=auth, nc={nc}, cnonce=\"{cnonce}\"");
            md5_hex(&[ha1, &nonce, &nc, &cnonce, "auth", &self.ha2])
        } else {
            md5_hex(&[ha1, &nonce, &self.ha2])
        };
        let _ = write!(value, ", response=\"{response}\"");
        if let Some(opaque) = opaque {
            let _ = write!(value, ", opaque=\"{opaque}\"");
        }
        Some(value)
    }

    fn send(&self, device: usize, message: &[u8]) {
        match send_from(self.socket.as_raw_fd(), self.devices[device].ip, self.server, message) {
            Ok(()) => {}
            // A full send buffer loses the packet like the network would; the timer resends it.
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(e) => panic!("send REGISTER from {}: {e}", self.devices[device].ip),
        }
    }

    /// Registers (or unregisters) `devices`, at most `window` registrations in flight, within
    /// `limit` of wall time (what is still open then counts as failed).
    pub fn run(&mut self, devices: &[usize], action: Action, window: usize, limit: Duration) -> Outcome {
        let window = window.max(1);
        let cpu_before = super::thread_cpu();
        let mut outcome = Outcome {
            registrations: Vec::with_capacity(devices.len()),
            transactions: Vec::with_capacity(devices.len() * 2),
            ..Outcome::default()
        };
        let mut open: Vec<Option<Transaction>> = (0..self.devices.len()).map(|_| None).collect();
        let mut active: Vec<usize> = Vec::with_capacity(window);
        let mut queue = devices.iter().copied();
        let mut buffer = vec![0u8; 65536];
        let started = Instant::now();
        let deadline = started + limit;
        let mut last_scan = started;
        loop {
            // Start new registrations, at most 64 per pass so the first burst is spread out.
            let mut begun = 0;
            while active.len() < window && begun < 64 {
                let Some(device) = queue.next() else { break };
                let message = self.build(device, action, None);
                self.send(device, &message);
                let now = Instant::now();
                open[device] = Some(Transaction {
                    device,
                    authenticated: false,
                    began: now,
                    first_sent: now,
                    sent: now,
                    interval: T1,
                    resume_at: None,
                    overload_retries: 0,
                    stale_retries: 0,
                    message,
                });
                active.push(device);
                begun += 1;
            }
            if active.is_empty() && queue.len() == 0 {
                break;
            }
            if Instant::now() > deadline {
                for device in active.drain(..) {
                    open[device] = None;
                    outcome.fail(format!("{}: still open when the run's {limit:?} ran out", self.devices[device].spec.user));
                }
                for device in queue.by_ref() {
                    outcome.fail(format!("{}: not started before the run's {limit:?} ran out", self.devices[device].spec.user));
                }
                break;
            }
            wait_readable(self.socket.as_raw_fd(), Duration::from_millis(5));
            loop {
                let size = match self.socket.recv(&mut buffer) {
                    Ok(size) => size,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => panic!("generator receive: {e}"),
                };
                let received = Instant::now();
                let Ok(text) = std::str::from_utf8(&buffer[..size]) else { continue };
                self.answer(text, received, action, &mut open, &mut active, &mut outcome);
            }
            let now = Instant::now();
            if now.duration_since(last_scan) >= Duration::from_millis(10) {
                last_scan = now;
                self.timers(now, action, &mut open, &mut active, &mut outcome);
            }
        }
        outcome.wall = started.elapsed();
        outcome.generator_cpu = super::thread_cpu().saturating_sub(cpu_before);
        outcome
    }

    fn finish(device: usize, open: &mut [Option<Transaction>], active: &mut Vec<usize>) {
        open[device] = None;
        if let Some(position) = active.iter().position(|&d| d == device) {
            active.swap_remove(position);
        }
    }

    fn answer(
        &mut self,
        text: &str,
        received: Instant,
        action: Action,
        open: &mut [Option<Transaction>],
        active: &mut Vec<usize>,
        outcome: &mut Outcome,
    ) {
        if !text.starts_with("SIP/2.0 ") || text.len() < 12 {
            return;
        }
        let Ok(status) = text[8..11].parse::<u16>() else { return };
        let Some(call_id) = header(text, "Call-ID", Some("i")) else { return };
        let prefix = format!("g{:x}d", self.run_id);
        let Some(device) = call_id
            .strip_prefix(prefix.as_str())
            .and_then(|rest| rest.split('@').next())
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|&n| n < self.devices.len())
        else {
            return;
        };
        let cseq = header(text, "CSeq", None).and_then(|v| v.split_whitespace().next()).and_then(|n| n.parse::<u32>().ok());
        if cseq != Some(self.devices[device].cseq) || status < 200 {
            return;
        }
        let Some(transaction) = open[device].as_mut() else { return };
        if transaction.resume_at.is_some() {
            return;
        }
        outcome.transactions.push(received.duration_since(transaction.first_sent));
        let user = self.devices[device].spec.user.clone();
        match status {
            401 | 407 if !transaction.authenticated || digest_param_stale(text) => {
                let stale = transaction.authenticated;
                if stale {
                    transaction.stale_retries += 1;
                    if transaction.stale_retries > 3 {
                        outcome.fail(format!("{user}: nonce stale more than 3 times"));
                        Self::finish(device, open, active);
                        return;
                    }
                }
                let Some(authorization) = self.authorization(device, text) else {
                    outcome.fail(format!("{user}: no MD5 digest challenge in {}", text.lines().next().unwrap_or("")));
                    Self::finish(device, open, active);
                    return;
                };
                let message = self.build(device, action, Some(&authorization));
                self.send(device, &message);
                let now = Instant::now();
                let transaction = open[device].as_mut().unwrap();
                transaction.authenticated = true;
                transaction.first_sent = now;
                transaction.sent = now;
                transaction.interval = T1;
                transaction.message = message;
            }
            200..=299 => {
                outcome.completed += 1;
                outcome.registrations.push(received.duration_since(transaction.began));
                self.devices[device].registered = action == Action::Register;
                Self::finish(device, open, active);
            }
            503 => {
                outcome.overloaded += 1;
                transaction.overload_retries += 1;
                if transaction.overload_retries > OVERLOAD_RETRIES {
                    outcome.fail(format!("{user}: 503 more than {OVERLOAD_RETRIES} times"));
                    Self::finish(device, open, active);
                } else {
                    transaction.resume_at = Some(received + T1);
                }
            }
            _ => {
                let line = text.lines().next().unwrap_or("").to_string();
                outcome.fail(format!("{user} ({}): {line}", self.devices[device].ip));
                Self::finish(device, open, active);
            }
        }
    }

    fn timers(
        &mut self,
        now: Instant,
        action: Action,
        open: &mut [Option<Transaction>],
        active: &mut Vec<usize>,
        outcome: &mut Outcome,
    ) {
        for index in (0..active.len()).rev() {
            let device = active[index];
            let transaction = open[device].as_mut().unwrap();
            if let Some(resume) = transaction.resume_at {
                if now >= resume {
                    // After a 503 the registration starts over with a new transaction.
                    transaction.resume_at = None;
                    let message = self.build(device, action, None);
                    self.send(device, &message);
                    let transaction = open[device].as_mut().unwrap();
                    transaction.authenticated = false;
                    transaction.first_sent = now;
                    transaction.sent = now;
                    transaction.interval = T1;
                    transaction.message = message;
                }
                continue;
            }
            if now.duration_since(transaction.sent) < transaction.interval {
                continue;
            }
            if now.duration_since(transaction.first_sent) >= TRANSACTION_TIMEOUT {
                let user = self.devices[device].spec.user.clone();
                outcome.fail(format!("{user}: no answer in {TRANSACTION_TIMEOUT:?}"));
                open[device] = None;
                active.swap_remove(index);
                continue;
            }
            transaction.sent = now;
            transaction.interval = (transaction.interval * 2).min(T2);
            outcome.retransmissions += 1;
            let message = std::mem::take(&mut transaction.message);
            self.send(device, &message);
            open[device].as_mut().unwrap().message = message;
        }
    }
}

fn digest_param_stale(message: &str) -> bool {
    challenges(message).iter().any(|c| digest_param(c, "stale").is_some_and(|s| s.eq_ignore_ascii_case("true")))
}
