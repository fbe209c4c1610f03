//! `make bench`: the module's cost measured against stock Asterisk 22 in the same run.
//!
//! Two instances are started from the same embedded runtime, on loopback addresses of their own:
//! stock (modules.conf says `noload => res_pjsip_multireg.so`) and with the module and a
//! `type=multireg` policy on extension 101. Both get the same workloads, one instance at a time,
//! in BENCH_ROUNDS rounds whose order alternates (stock first, then module first, ...):
//!
//! 1. REGISTER refreshes with digest auth (401 challenge, then the authenticated REGISTER) from
//!    BENCH_AGENTS devices of extension 101, BENCH_REFRESHES each per round, sequential per device,
//!    devices in parallel threads: registrations per second and p50/p99 latency of one refresh.
//! 2. The dial string of 101 with those devices registered, evaluated BENCH_DIAL_EVALS times per
//!    round through AMI Getvar: `MULTIREG_DIAL(101)` (module) against `PJSIP_DIAL_CONTACTS(101)`
//!    (stock); `PJSIP_DIAL_CONTACTS(101)` with the module loaded is shown too.
//!
//! The refreshes are sent by a plain blocking UDP client here (default, BENCH_CLIENT=raw): the
//! test `Agent` polls its socket and its inbox every 10-20 ms, which would be most of what is
//! measured. BENCH_CLIENT=agent uses the test `Agent` instead.
//!
//! Environment: BENCH_AGENTS (5, at most 5: the policy allows 5 IP phones), BENCH_REFRESHES (200),
//! BENCH_WARMUP (20 refreshes per device before timing), BENCH_DIAL_EVALS (500), BENCH_ROUNDS (3),
//! BENCH_CLIENT (raw or agent).
#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use common::sip::SipMessage;
use common::{Agent, Ami, Asterisk, Config, Transport};

const MAX_AGENTS: usize = 5;
const POLICY: &str = "[101]\ntype = multireg\nmax_ip_phones = 5\ndual_registration = yes\n";

fn env_count(name: &str, default: usize) -> usize {
    match std::env::var(name) {
        Ok(value) => value.trim().parse().unwrap_or_else(|_| panic!("{name}={value:?} is not a count")),
        Err(_) => default,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum ClientKind {
    Raw,
    Agent,
}

struct Settings {
    agents: usize,
    refreshes: usize,
    warmup: usize,
    dial_evals: usize,
    rounds: usize,
    client: ClientKind,
}

impl Settings {
    fn from_env() -> Settings {
        let agents = env_count("BENCH_AGENTS", 5);
        assert!(
            (1..=MAX_AGENTS).contains(&agents),
            "BENCH_AGENTS must be 1-{MAX_AGENTS} (the policy admits {MAX_AGENTS} IP phones)"
        );
        let client = match std::env::var("BENCH_CLIENT").as_deref() {
            Err(_) | Ok("raw") => ClientKind::Raw,
            Ok("agent") => ClientKind::Agent,
            Ok(other) => panic!("BENCH_CLIENT={other:?}: use raw or agent"),
        };
        Settings {
            agents,
            refreshes: env_count("BENCH_REFRESHES", 200).max(1),
            warmup: env_count("BENCH_WARMUP", 20),
            dial_evals: env_count("BENCH_DIAL_EVALS", 500).max(1),
            rounds: env_count("BENCH_ROUNDS", 3).max(1),
            client,
        }
    }
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// One parameter of a Digest challenge (quoted or not).
fn digest_param(challenge: &str, name: &str) -> Option<String> {
    let lower = challenge.to_ascii_lowercase();
    let mut search = 0;
    while let Some(found) = lower[search..].find(&format!("{name}=")) {
        let start = search + found;
        let value_start = start + name.len() + 1;
        if start == 0 || matches!(lower.as_bytes()[start - 1], b' ' | b',' | b'\t') {
            let rest = &challenge[value_start..];
            return Some(match rest.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap_or("").to_string(),
                None => rest.split(',').next().unwrap_or("").trim().to_string(),
            });
        }
        search = value_start;
    }
    None
}

/// A device of extension 101 that refreshes its registration over UDP with blocking reads.
struct Registrant {
    socket: UdpSocket,
    local: SocketAddr,
    server: SocketAddr,
    domain: String,
    user: String,
    password: String,
    user_agent: String,
    call_id: String,
    from_tag: String,
    cseq: u32,
    branch: u64,
    nc: u32,
}

impl Registrant {
    fn new(asterisk: &Asterisk, n: usize, user: &str, password: &str, user_agent: &str) -> Registrant {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind UDP on loopback");
        socket.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let local = socket.local_addr().unwrap();
        let tag = format!("{}x{n}x{}", std::process::id(), local.port());
        Registrant {
            socket,
            local,
            server: asterisk.sip_addr(),
            domain: asterisk.ip.clone(),
            user: user.into(),
            password: password.into(),
            user_agent: user_agent.into(),
            call_id: format!("bench-reg-{tag}"),
            from_tag: format!("bt{tag}"),
            cseq: 0,
            branch: 0,
            nc: 0,
        }
    }

    fn transaction(&mut self, authorization: Option<&str>) -> Result<SipMessage, String> {
        self.cseq += 1;
        self.branch += 1;
        let (user, domain) = (&self.user, &self.domain);
        let mut text = format!(
            "REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK{tag}b{branch}\r\nMax-Forwards: 70\r\n\
             From: <sip:{user}@{domain}>;tag={tag}\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n\
             Contact: <sip:{user}@{local};transport=udp>\r\nExpires: 3600\r\nUser-Agent: {agent}\r\n",
            local = self.local,
            tag = self.from_tag,
            branch = self.branch,
            call_id = self.call_id,
            cseq = self.cseq,
            agent = self.user_agent,
        );
        if let Some(value) = authorization {
            text.push_str(&format!("Authorization: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.socket.send_to(text.as_bytes(), self.server).map_err(|e| format!("send REGISTER: {e}"))?;
        let mut buffer = vec![0u8; 65536];
        loop {
            let (size, _) = self
                .socket
                .recv_from(&mut buffer)
                .map_err(|e| format!("no answer to REGISTER CSeq {} in 5 s: {e}", self.cseq))?;
            let message = SipMessage { raw: String::from_utf8_lossy(&buffer[..size]).into_owned() };
            if !message.is_request()
                && message.call_id() == self.call_id
                && message.cseq().0 == self.cseq
                && message.status() >= 200
            {
                return Ok(message);
            }
        }
    }

    fn authorization(&mut self, challenge: &SipMessage) -> Result<String, String> {
        let challenges = challenge.headers("WWW-Authenticate");
        let value = challenges
            .iter()
            .find(|c| digest_param(c, "algorithm").is_none_or(|a| a.eq_ignore_ascii_case("MD5")))
            .ok_or_else(|| format!("no MD5 digest challenge in:\n{}", challenge.raw))?;
        let realm = digest_param(value, "realm").unwrap_or_default();
        let nonce = digest_param(value, "nonce").unwrap_or_default();
        let uri = format!("sip:{}", self.domain);
        let ha1 = md5_hex(&format!("{}:{realm}:{}", self.user, self.password));
        let ha2 = md5_hex(&format!("REGISTER:{uri}"));
        let mut header =
            format!("Digest username=\"{}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", algorithm=MD5", self.user);
        let response = if digest_param(value, "qop").is_some_and(|q| q.split(',').any(|v| v.trim() == "auth")) {
            self.nc += 1;
            let cnonce = format!("{:x}{:x}", self.branch, self.local.port());
            header.push_str(&format!(", qop=auth, nc={:08x}, cnonce=\"{cnonce}\"", self.nc));
            md5_hex(&format!("{ha1}:{nonce}:{:08x}:{cnonce}:auth:{ha2}", self.nc))
        } else {
            md5_hex(&format!("{ha1}:{nonce}:{ha2}"))
        };
        header.push_str(&format!(", response=\"{response}\""));
        if let Some(opaque) = digest_param(value, "opaque") {
            header.push_str(&format!(", opaque=\"{opaque}\""));
        }
        Ok(header)
    }

    /// REGISTER, answered 401, then REGISTER with credentials, answered 200.
    fn register(&mut self) -> Result<(), String> {
        let mut response = self.transaction(None)?;
        if response.status() == 401 {
            let authorization = self.authorization(&response)?;
            response = self.transaction(Some(&authorization))?;
        }
        match response.status() {
            200 => Ok(()),
            status => Err(format!("REGISTER answered {status} {}", response.reason())),
        }
    }
}

enum Client {
    Raw(Box<Registrant>),
    Agent(Box<Agent>),
}

impl Client {
    fn new(kind: ClientKind, asterisk: &Asterisk, n: usize) -> Client {
        let user_agent = format!("Yealink SIP-T46U 108.86.0.{n}");
        match kind {
            ClientKind::Raw => Client::Raw(Box::new(Registrant::new(asterisk, n, "101", "pass101", &user_agent))),
            ClientKind::Agent => {
                let mut agent = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
                agent.user_agent = user_agent;
                Client::Agent(Box::new(agent))
            }
        }
    }

    fn register(&mut self) -> Result<(), String> {
        match self {
            Client::Raw(registrant) => registrant.register(),
            Client::Agent(agent) => match agent.register() {
                200 => Ok(()),
                0 => Err("no answer to REGISTER".into()),
                status => Err(format!("REGISTER answered {status}")),
            },
        }
    }
}

/// Latencies of one workload and the wall time it took (summed over rounds).
#[derive(Default)]
struct Sample {
    latencies: Vec<Duration>,
    wall: Duration,
}

impl Sample {
    fn add(&mut self, mut other: Sample) {
        self.latencies.append(&mut other.latencies);
        self.wall += other.wall;
    }

    fn per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }

    /// Nearest-rank percentile in milliseconds.
    fn percentile_ms(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
        sorted[rank - 1].as_secs_f64() * 1000.0
    }
}

/// Runs `work(n, client)` for every client in a thread of its own, started together; returns the
/// clients (in order), the wall time from the start to the last thread's end and any failures.
fn in_parallel<T: Send + 'static>(
    clients: Vec<Client>,
    work: impl Fn(usize, &mut Client) -> Result<T, String> + Send + Sync + 'static,
) -> (Vec<Client>, Vec<T>, Duration) {
    let barrier = Arc::new(Barrier::new(clients.len() + 1));
    let work = Arc::new(work);
    let threads: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(n, mut client)| {
            let (barrier, work) = (barrier.clone(), work.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let result = work(n, &mut client);
                (client, result)
            })
        })
        .collect();
    barrier.wait();
    let start = Instant::now();
    let (mut clients, mut results, mut failures) = (Vec::new(), Vec::new(), Vec::new());
    for thread in threads {
        let (client, result) = thread.join().expect("REGISTER thread");
        clients.push(client);
        match result {
            Ok(value) => results.push(value),
            Err(error) => failures.push(error),
        }
    }
    let wall = start.elapsed();
    assert!(failures.is_empty(), "REGISTER workload failed:\n{}", failures.join("\n"));
    (clients, results, wall)
}

/// The devices of 101, registered (first REGISTER adds the contact) and warmed up with refreshes.
/// They stay registered for the whole run: new devices would be refused over max_ip_phones.
fn register_devices(asterisk: &Asterisk, settings: &Settings) -> Vec<Client> {
    let clients = (0..settings.agents).map(|n| Client::new(settings.client, asterisk, n)).collect();
    let warmup = settings.warmup;
    let ip = asterisk.ip.clone();
    let (clients, _, _) = in_parallel(clients, move |n, client| {
        (0..=warmup)
            .try_for_each(|round| client.register().map_err(|e| format!("{ip}: device {n}, warm-up REGISTER {round}: {e}")))
    });
    clients
}

/// Workload 1, one round: every device refreshes `refreshes` times in a row.
fn register_round(asterisk: &Asterisk, clients: &mut Vec<Client>, refreshes: usize) -> Sample {
    let ip = asterisk.ip.clone();
    let (back, latencies, wall) = in_parallel(std::mem::take(clients), move |n, client| {
        let mut latencies = Vec::with_capacity(refreshes);
        for round in 0..refreshes {
            let start = Instant::now();
            client.register().map_err(|e| format!("{ip}: device {n}, refresh {round}: {e}"))?;
            latencies.push(start.elapsed());
        }
        Ok(latencies)
    });
    *clients = back;
    Sample { latencies: latencies.into_iter().flatten().collect(), wall }
}

/// An AMI connection evaluating one dial-string expression; checked and warmed up when made.
struct DialProbe {
    ami: Ami,
    expression: &'static str,
    value: String,
}

impl DialProbe {
    fn new(asterisk: &Asterisk, expression: &'static str, devices: usize) -> DialProbe {
        let mut ami = asterisk.ami();
        let check = ami.action("Getvar", &[("Variable", expression)]);
        let value = check.get("Value").cloned().unwrap_or_default();
        let targets = value.split('&').filter(|t| !t.is_empty()).count();
        assert_eq!(targets, devices, "{expression} on {} should name every registered device: {check:?}", asterisk.ip);
        let mut probe = DialProbe { ami, expression, value };
        probe.round(50);
        probe
    }

    /// Workload 2, one round: `evals` Getvar in a row.
    fn round(&mut self, evals: usize) -> Sample {
        let mut latencies = Vec::with_capacity(evals);
        let start = Instant::now();
        for _ in 0..evals {
            let began = Instant::now();
            let response = self.ami.action("Getvar", &[("Variable", self.expression)]);
            latencies.push(began.elapsed());
            assert_eq!(response.get("Value"), Some(&self.value), "{} changed during the run", self.expression);
        }
        Sample { latencies, wall: start.elapsed() }
    }
}

fn module_loaded(asterisk: &Asterisk) -> bool {
    asterisk.cli("module show like res_pjsip_multireg").contains("res_pjsip_multireg.so")
}

struct Row {
    workload: String,
    unit: &'static str,
    stock: f64,
    module: f64,
}

impl Row {
    fn group(workload: &str, unit: &'static str, stock: &Sample, module: &Sample) -> [Row; 3] {
        [
            Row { workload: workload.to_string(), unit, stock: stock.per_second(), module: module.per_second() },
            Row {
                workload: format!("{workload}, p50"),
                unit: "ms",
                stock: stock.percentile_ms(0.50),
                module: module.percentile_ms(0.50),
            },
            Row {
                workload: format!("{workload}, p99"),
                unit: "ms",
                stock: stock.percentile_ms(0.99),
                module: module.percentile_ms(0.99),
            },
        ]
    }
}

fn print_table(rows: &[Row]) {
    let width = rows.iter().map(|r| r.workload.len() + r.unit.len() + 3).max().unwrap_or(0).max(8);
    println!("{:<width$}  {:>10}  {:>10}  {:>8}", "workload", "stock", "module", "ratio");
    println!("{}", "-".repeat(width + 36));
    for row in rows {
        let label = format!("{} ({})", row.workload, row.unit);
        println!("{label:<width$}  {:>10.2}  {:>10.2}  {:>8.3}", row.stock, row.module, row.module / row.stock);
    }
    println!("ratio = module / stock: below 1 is slower in per-second rows, above 1 is slower in ms rows.");
}

fn main() {
    let settings = Settings::from_env();
    let begun = Instant::now();
    eprintln!("bench: starting stock Asterisk (res_pjsip_multireg not loaded) and Asterisk with the module ...");
    let stock = Asterisk::start_with(Config { without_module: true, ..Config::default() });
    let module = Asterisk::start_with(Config { pjsip_extra: POLICY.into(), ..Config::default() });
    assert!(!module_loaded(&stock), "stock instance has res_pjsip_multireg loaded");
    assert!(module_loaded(&module), "module instance lacks res_pjsip_multireg");
    assert!(module.cli("multireg show extensions").lines().any(|l| l.starts_with("101 ")), "policy for 101 not loaded");

    let client = if settings.client == ClientKind::Raw { "blocking UDP client" } else { "test Agent" };
    let rounds = settings.rounds;
    eprintln!(
        "bench: REGISTER workload ({rounds} rounds of {} devices x {} refreshes, {client}) ...",
        settings.agents, settings.refreshes
    );
    let mut stock_devices = register_devices(&stock, &settings);
    let mut module_devices = register_devices(&module, &settings);
    let (mut stock_register, mut module_register) = (Sample::default(), Sample::default());
    for round in 0..rounds {
        if round % 2 == 0 {
            stock_register.add(register_round(&stock, &mut stock_devices, settings.refreshes));
            module_register.add(register_round(&module, &mut module_devices, settings.refreshes));
        } else {
            module_register.add(register_round(&module, &mut module_devices, settings.refreshes));
            stock_register.add(register_round(&stock, &mut stock_devices, settings.refreshes));
        }
    }

    eprintln!("bench: dial-string workload ({rounds} rounds of {} AMI Getvar each) ...", settings.dial_evals);
    let mut probes = [
        DialProbe::new(&stock, "PJSIP_DIAL_CONTACTS(101)", settings.agents),
        DialProbe::new(&module, "MULTIREG_DIAL(101)", settings.agents),
        DialProbe::new(&module, "PJSIP_DIAL_CONTACTS(101)", settings.agents),
    ];
    let mut dial: [Sample; 3] = Default::default();
    for round in 0..rounds {
        // Each probe goes first in turn.
        for step in 0..probes.len() {
            let index = (round + step) % probes.len();
            dial[index].add(probes[index].round(settings.dial_evals));
        }
    }
    drop((stock_devices, module_devices));

    let registers = format!("REGISTER refresh {}x{}x{}", rounds, settings.agents, settings.refreshes);
    let evals = format!("{}x{}", rounds, settings.dial_evals);
    let mut rows = Vec::new();
    rows.extend(Row::group(&registers, "reg/s", &stock_register, &module_register));
    rows.extend(Row::group(&format!("MULTIREG_DIAL vs PJSIP_DIAL_CONTACTS {evals}"), "evals/s", &dial[0], &dial[1]));
    rows.extend(Row::group(&format!("PJSIP_DIAL_CONTACTS, module loaded {evals}"), "evals/s", &dial[0], &dial[2]));

    println!();
    println!(
        "res_pjsip_multireg vs stock Asterisk 22: same runtime, same run ({:.0} s), rounds alternate which goes first",
        begun.elapsed().as_secs_f64()
    );
    println!("  stock: noload => res_pjsip_multireg.so    module: [101] type=multireg, max_ip_phones=5, dual_registration=yes");
    println!(
        "  REGISTER: {} devices of 101 in parallel, {} sequential refreshes each per round after {} warm-up, UDP on loopback, {client};",
        settings.agents, settings.refreshes, settings.warmup
    );
    println!("    one refresh = REGISTER, 401, REGISTER with MD5 digest, 200");
    println!(
        "  dial string: AMI Getvar in a row on one connection, {} devices registered on 101; stock column is",
        settings.agents
    );
    println!("    PJSIP_DIAL_CONTACTS(101) on the stock instance");
    println!();
    print_table(&rows);
    for (name, asterisk) in [("stock", &stock), ("module", &module)] {
        let errors = asterisk.errors();
        if !errors.is_empty() {
            println!("\n{name} instance logged {} ERROR lines, first: {}", errors.len(), errors[0]);
        }
    }
}
