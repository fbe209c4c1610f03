//! RFC 8599 push wake-up (issue 13), with real SIP and a real HTTP listener standing in for the
//! push gateway: a mobile app registers with pn-* parameters, lets its registration lapse, is
//! woken by the push request a call sends, registers again and is rung.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use common::{wait_for, Agent, Asterisk, Config, Transport};

const PRID: &str = "fcm-token-105:APA91b_x";

/// The push gateway: accepts POSTs and hands each body to the test.
struct Gateway {
    url: String,
    bodies: Receiver<(String, String)>,
}

impl Gateway {
    fn start() -> Gateway {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/push", listener.local_addr().unwrap());
        let (sender, bodies) = channel();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                if sender.send((request_line.trim().to_string(), String::from_utf8_lossy(&body).into_owned())).is_err() {
                    break;
                }
            }
        });
        Gateway { url, bodies }
    }

    fn wait_body(&self, timeout: Duration) -> Option<(String, String)> {
        self.bodies.recv_timeout(timeout).ok()
    }
}

/// Extension 105 with a short minimum expiry, push for fcm and apns, and a short push_wait.
fn start(gateway: &Gateway, push_wait: u32) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: policy(&gateway.url, push_wait), ..Config::default() })
}

fn policy(url: &str, push_wait: u32) -> String {
    format!(
        "[105](endpoint-common)\nauth = 105\naors = 105\ncallerid = \"Mobile\" <105>\n\
         [105](aor-common)\nminimum_expiration = 1\n\
         [105](auth-common)\nusername = 105\npassword = pass105\n\
         [105]\ntype = multireg\nmax_ip_phones = 2\nmax_mobile_clients = 2\npush_providers = fcm, apns\n\
         push_wait = {push_wait}\npush_gateway_url = {url}\n"
    )
}

fn mobile(asterisk: &Asterisk, provider: &str) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, &asterisk.ip, "105", "pass105");
    agent.user_agent = "PushPhone/2.0".into();
    agent.contact_uri_override =
        Some(format!("sip:105@{};transport=udp;pn-provider={provider};pn-prid={PRID};pn-param=com.example.voip", agent.local));
    agent
}

fn desk(asterisk: &Asterisk) -> Agent {
    let mut agent = asterisk.agent(Transport::Udp, &asterisk.ip, "105", "pass105");
    assert_eq!(agent.register(), 200, "desk phone registers");
    agent
}

/// Registers the mobile for `expires` seconds and checks the RFC 8599 answer.
fn register_mobile(mobile: &mut Agent, expires: u32) {
    let answer = mobile.register_with_expires(expires).expect("an answer to the push REGISTER");
    assert_eq!(answer.status(), 200, "push REGISTER accepted: {}", answer.raw);
    let caps = answer.headers("Feature-Caps");
    let provider = provider_of(mobile);
    assert_eq!(caps, [format!("*;+sip.pns=\"{provider}\";+sip.pnsreg=\"120\"")], "Feature-Caps of {}", answer.raw);
}

fn provider_of(agent: &Agent) -> String {
    let uri = agent.contact_uri();
    uri.split(";pn-provider=").nth(1).and_then(|rest| rest.split(';').next()).unwrap_or("").to_string()
}

/// Waits until the mobile's registration has lapsed (the registrar no longer lists it).
fn wait_lapsed(asterisk: &Asterisk) {
    let gone = wait_for(Duration::from_secs(8), || (!asterisk.cli("pjsip show contacts").contains("pn-provider")).then_some(()));
    assert!(gone.is_some(), "the mobile's contact expired: {}", asterisk.cli("pjsip show contacts"));
}

fn call_from_102(asterisk: &Asterisk) -> std::thread::JoinHandle<(Agent, common::sip::Call)> {
    let mut caller = asterisk.agent(Transport::Udp, &asterisk.ip, "102", "pass102");
    assert_eq!(caller.register(), 200);
    std::thread::spawn(move || {
        let call = caller.call("105", Duration::from_secs(25));
        (caller, call)
    })
}

#[test]
fn sleeping_mobile_is_woken_by_push_and_answers() {
    let gateway = Gateway::start();
    let asterisk = start(&gateway, 8);
    let mut ami = asterisk.ami();
    let desk = desk(&asterisk);
    let mut mobile = mobile(&asterisk, "fcm");
    register_mobile(&mut mobile, 2);
    wait_lapsed(&asterisk);
    let shown = asterisk.cli("multireg show extension 105");
    assert!(shown.contains("push devices: 1") && shown.contains("fcm:"), "{shown}");

    let caller = call_from_102(&asterisk);
    let desk_invite = desk.wait_invite(Duration::from_secs(5)).expect("the desk phone rings at once");
    let (request_line, body) = gateway.wait_body(Duration::from_secs(5)).expect("the gateway receives a push request");
    assert!(request_line.starts_with("POST /push "), "{request_line}");
    for expected in [
        "\"provider\":\"fcm\"".to_string(),
        format!("\"prid\":\"{PRID}\""),
        "\"param\":\"com.example.voip\"".into(),
        "\"extension\":\"105\"".into(),
        "\"caller_id_num\":\"102\"".into(),
        "\"wake_token\":\"".into(),
    ] {
        assert!(body.contains(&expected), "{expected} in {body}");
    }
    let event = ami.wait_event("MultiregPushRequest", Duration::from_secs(5), |_| true).expect("AMI event MultiregPushRequest");
    let token = event.get("WakeToken").cloned().unwrap_or_default();
    assert!(token.len() == 24 && body.contains(&token), "AMI WakeToken {token} is the body's wake_token: {body}");
    assert_eq!(event.get("PRID").map(String::as_str), Some(PRID));

    // The app wakes and registers again; the call reaches it and it answers.
    register_mobile(&mut mobile, 60);
    let invite = mobile.wait_invite(Duration::from_secs(5)).expect("the woken mobile is rung");
    let rtp = mobile.answer(&invite);
    assert!(desk.wait_request("CANCEL", Duration::from_secs(5)).is_some(), "the desk phone stops ringing");
    drop(desk_invite);
    let (caller, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200, "the call is connected to the mobile");
    rtp.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let sender = std::thread::scope(|scope| {
        let handle = scope.spawn(|| caller.send_audio(&call, 1500));
        let mut buffer = [0u8; 2048];
        let received = rtp.recv_from(&mut buffer).map(|(n, _)| n).unwrap_or(0);
        handle.join().unwrap();
        received
    });
    assert!(sender > 12, "RTP from the caller reaches the woken mobile");
    caller.hangup(&mut call);
    // One-time token: a second use is refused.
    let channel = format!("Local/{token}@multireg-push/n");
    let output = ami.action("Originate", &[("Channel", &channel), ("Application", "Wait"), ("Data", "1"), ("Async", "true")]);
    let log = asterisk.messages_log_with("unknown or already used wake token");
    assert!(log.contains("unknown or already used wake token"), "a wake token works once: {output:?}");
}

#[test]
fn desk_answering_first_or_a_mobile_that_never_wakes() {
    let gateway = Gateway::start();
    let asterisk = start(&gateway, 3);
    let desk = desk(&asterisk);
    let mut mobile = mobile(&asterisk, "apns");
    let answer = mobile.register_with_expires(2).unwrap();
    assert_eq!(answer.status(), 200);
    wait_lapsed(&asterisk);

    // 1. The desk phone answers at once: the mobile, waking afterwards, is never rung.
    let caller = call_from_102(&asterisk);
    let invite = desk.wait_invite(Duration::from_secs(5)).expect("desk rings");
    let _rtp = desk.answer(&invite);
    let (caller, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200, "the desk phone takes the call");
    if gateway.wait_body(Duration::from_secs(3)).is_some() {
        mobile.register_with_expires(2).unwrap();
    }
    assert!(mobile.wait_invite(Duration::from_secs(4)).is_none(), "the mobile is not rung once the desk answered");
    caller.hangup(&mut call);
    drop(caller);
    wait_lapsed(&asterisk);

    // 2. The mobile never wakes: nothing rings it, the desk keeps ringing and answers later.
    let caller = call_from_102(&asterisk);
    let invite = desk.wait_invite(Duration::from_secs(5)).expect("desk rings");
    assert!(gateway.wait_body(Duration::from_secs(5)).is_some(), "push request sent");
    assert!(desk.wait_request("CANCEL", Duration::from_secs(5)).is_none(), "the desk keeps ringing after push_wait");
    let given_up = asterisk.messages_log_with("did not register within 3 s");
    assert!(given_up.contains("not ringing it"), "{given_up}");
    let _rtp = desk.answer(&invite);
    let (caller, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200, "the call goes on with the desk phone");
    assert!(mobile.wait_invite(Duration::from_millis(200)).is_none());
    caller.hangup(&mut call);
}

#[test]
fn rfc8599_registration_rules_and_persistence() {
    let gateway = Gateway::start();
    let mut asterisk = start(&gateway, 3);

    // A provider that is not enabled: 555, and no binding.
    let mut webpush = mobile(&asterisk, "webpush");
    let answer = webpush.register_with_expires(60).expect("answer");
    assert_eq!(answer.status(), 555, "{}", answer.raw);
    assert_eq!(answer.reason(), "Push Notification Service Not Supported");
    drop(webpush);
    assert!(asterisk.cli("multireg show extension 105").contains("push devices: 0"));

    // A capability query (pn-provider without a value) lists every enabled provider.
    let mut query = asterisk.agent(Transport::Udp, &asterisk.ip, "105", "pass105");
    query.contact_uri_override = Some(format!("sip:105@{};pn-provider", query.local));
    let answer = query.register_with_expires(60).expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers("Feature-Caps"), ["*;+sip.pns=\"fcm\"", "*;+sip.pns=\"apns\""], "{}", answer.raw);
    assert_eq!(query.unregister(), 200);
    drop(query);

    // A device that registers a new push token under the same +sip.instance replaces its binding.
    let mut rotating = asterisk.agent(Transport::Udp, &asterisk.ip, "105", "pass105");
    rotating.contact_params = ";+sip.instance=\"<urn:uuid:00000000-0000-0000-0000-00000000abcd>\"".into();
    for token in ["old-token", "new-token"] {
        rotating.contact_uri_override = Some(format!("sip:105@{};pn-provider=fcm;pn-prid={token}", rotating.local));
        register_mobile(&mut rotating, 60);
    }
    let shown = asterisk.cli("multireg show extension 105");
    assert!(shown.contains("push devices: 1") && shown.contains("fcm:new-token") && !shown.contains("old-token"), "{shown}");
    assert_eq!(rotating.unregister(), 200);
    drop(rotating);

    // An enabled one: stored, listed, kept across `core restart now`.
    let mut mobile = mobile(&asterisk, "fcm");
    register_mobile(&mut mobile, 60);
    let shown = wait_for(Duration::from_secs(3), || {
        Some(asterisk.cli("multireg show extension 105")).filter(|s| s.contains("push devices: 1"))
    })
    .unwrap_or_else(|| asterisk.cli("multireg show extension 105"));
    assert!(shown.contains("push devices: 1") && shown.contains("com.example.voip"), "{shown}");
    asterisk.core_restart();
    let shown = asterisk.cli("multireg show extension 105");
    assert!(shown.contains("push devices: 1") && shown.contains("PushPhone/2.0"), "after restart: {shown}");

    // Unregistering the device removes its binding (kept otherwise after the contact lapses).
    assert_eq!(mobile.unregister(), 200);
    let removed = wait_for(Duration::from_secs(3), || {
        asterisk.cli("multireg show extension 105").contains("push devices: 0").then_some(())
    });
    assert!(removed.is_some(), "{}", asterisk.cli("multireg show extension 105"));
    assert!(asterisk.messages_log_with("push binding fcm:").contains("removed (unregistered)"));

    // HTTPS checks the gateway's certificate: a self-signed one is refused, the failure is
    // logged, and the device (never woken) is not rung; the dialplan's fallback runs.
    let (tls_url, _server) = self_signed_https_server();
    asterisk.rewrite_pjsip_extra(&policy(&tls_url, 2));
    asterisk.cli("module reload res_pjsip_multireg.so");
    register_mobile(&mut mobile, 2);
    wait_lapsed(&asterisk);
    let handle = call_from_102(&asterisk);
    let log = asterisk.messages_log_with("did not register within 2 s");
    assert!(log.contains("did not register within 2 s; not ringing it"), "{log}");
    let (caller, mut call) = handle.join().unwrap();
    if call.final_status == 200 {
        caller.hangup(&mut call); // the dialplan's voicemail fallback answered
    }
    let log = asterisk.messages_log_with("invalid peer certificate: UnknownIssuer");
    assert!(log.contains(&format!("to {tls_url} failed (")) && log.contains("invalid peer certificate: UnknownIssuer"), "{log}");
    assert!(mobile.wait_invite(Duration::from_millis(200)).is_none());
}

/// `openssl s_server` with a fresh self-signed certificate on a free loopback port.
fn self_signed_https_server() -> (String, KillOnDrop) {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let status = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl (package openssl)");
    assert!(status.success());
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = std::process::Command::new("openssl")
        .args(["s_server", "-quiet", "-www", "-accept", &format!("127.0.0.1:{port}"), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let listening = wait_for(Duration::from_secs(5), || std::net::TcpStream::connect(("127.0.0.1", port)).ok());
    assert!(listening.is_some(), "openssl s_server listens");
    (format!("https://127.0.0.1:{port}/push"), KillOnDrop(child, dir))
}

struct KillOnDrop(std::process::Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Staggered ring applies to a push device as to any mobile app: its push is sent when the
/// mobile's turn comes (ring_delay_mobile), while the desk phone rings at once.
#[test]
fn a_push_device_waits_for_the_mobile_ring_delay() {
    let gateway = Gateway::start();
    let policy = format!("{}ring_delay_mobile = 2\n", policy(&gateway.url, 4));
    let asterisk = Asterisk::start_with(Config { pjsip_extra: policy, ..Config::default() });
    let desk = desk(&asterisk);
    let mut mobile = mobile(&asterisk, "fcm");
    register_mobile(&mut mobile, 2);
    wait_lapsed(&asterisk);

    let caller = call_from_102(&asterisk);
    let invite = desk.wait_invite(Duration::from_secs(5)).expect("the desk phone rings at once");
    let rang = std::time::Instant::now();
    assert!(gateway.wait_body(Duration::from_millis(1500)).is_none(), "no push before the mobile's turn");
    let (_, body) = gateway.wait_body(Duration::from_secs(5)).expect("the push is sent when the mobile's turn comes");
    let waited = rang.elapsed();
    assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(4), "push after {waited:?}: {body}");
    let _rtp = desk.answer(&invite);
    let (caller, mut call) = caller.join().unwrap();
    assert_eq!(call.final_status, 200);
    caller.hangup(&mut call);
}

/// Bindings stored by earlier versions directly in the astdb family multireg/push/<endpoint> are
/// moved into the sorcery type multireg_push (astdb family multireg/multireg_push) at load;
/// expired ones are dropped.
#[test]
fn push_bindings_stored_by_earlier_versions_are_moved_into_the_sorcery_type_at_load() {
    let gateway = Gateway::start();
    let asterisk = start(&gateway, 3);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let old = |prid: &str, expires: u64| {
        format!("1\tfcm\t{prid}\tcom.example.voip\tsip:105@127.0.0.1:5099\tOldApp/1.0\t{now}\t{expires}\t")
    };
    let mut ami = asterisk.ami();
    for (key, value) in [("00000000000000a1", old("live-token", now + 3600)), ("00000000000000a2", old("gone-token", now - 5))] {
        let answer = ami.action("DBPut", &[("Family", "multireg/push/105"), ("Key", key), ("Val", &value)]);
        assert_eq!(answer.get("Response").map(String::as_str), Some("Success"), "{answer:?}");
    }
    assert!(asterisk.cli("module unload res_pjsip_multireg.so").contains("Unloaded"));
    assert!(asterisk.cli("module load res_pjsip_multireg.so").contains("Loaded"));
    let shown = asterisk.cli("multireg show extension 105");
    assert!(shown.contains("push devices: 1") && shown.contains("fcm:live-token") && shown.contains("OldApp/1.0"), "{shown}");
    assert!(!shown.contains("gone-token"), "an expired binding is not moved: {shown}");
    let old_family = asterisk.cli("database show multireg/push");
    assert!(!old_family.contains("/multireg/push/105/"), "moved keys are deleted: {old_family}");
    let new_family = asterisk.cli("database show multireg/multireg_push");
    assert!(new_family.contains("/multireg/multireg_push/105;") && new_family.contains("live-token"), "{new_family}");
    assert!(!new_family.contains("gone-token"), "{new_family}");
}
