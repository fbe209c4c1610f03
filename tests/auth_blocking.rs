//! Failed-authentication blocking (issue 9) against a real Asterisk: only failures that answer a
//! challenge Asterisk really sent to that address count, and a block refuses only the policy's
//! own accounts from that address.
mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{wait_for, Asterisk, Config, Transport};

fn start(extra: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: extra.into(), ..Config::default() })
}

/// A bare UDP sender from `ip`, for requests the test agent would never build.
struct Raw {
    socket: UdpSocket,
    server: std::net::SocketAddr,
    host: String,
}

impl Raw {
    fn new(asterisk: &Asterisk, ip: &str) -> Raw {
        let socket = UdpSocket::bind((ip, 0)).unwrap();
        socket.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        Raw { socket, server: asterisk.sip_addr(), host: asterisk.ip.clone() }
    }

    /// Sends a REGISTER for `user` (with `authorization` if given) and returns the status line
    /// and headers of the final answer.
    fn register(&self, user: &str, call_id: &str, cseq: u32, authorization: Option<&str>) -> String {
        let local = self.socket.local_addr().unwrap();
        let mut text = format!(
            "REGISTER sip:{host} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK-{call_id}-{cseq}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@{host}>;tag={call_id}\r\nTo: <sip:{user}@{host}>\r\n\
             Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{local}>\r\nExpires: 60\r\n",
            host = self.host
        );
        if let Some(value) = authorization {
            text.push_str(&format!("Authorization: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        self.socket.send_to(text.as_bytes(), self.server).unwrap();
        let mut buffer = vec![0u8; 65536];
        loop {
            let (len, _) = self.socket.recv_from(&mut buffer).expect("an answer");
            let answer = String::from_utf8_lossy(&buffer[..len]).into_owned();
            if answer.starts_with("SIP/2.0 1") {
                continue;
            }
            return answer;
        }
    }
}

fn nonce_of(answer: &str) -> String {
    let line = answer.lines().find(|l| l.to_ascii_lowercase().starts_with("www-authenticate")).expect("a challenge");
    let start = line.find("nonce=\"").expect("a nonce") + 7;
    line[start..][..line[start..].find('"').unwrap()].to_string()
}

fn digest(user: &str, host: &str, nonce: &str) -> String {
    format!(
        "Digest username=\"{user}\", realm=\"asterisk\", nonce=\"{nonce}\", uri=\"sip:{host}\", \
         response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5"
    )
}

#[test]
fn failures_without_our_challenge_block_nothing() {
    let asterisk = start("[101]\ntype = multireg\nauth_fail_limit = 3\n");
    // A real nonce, but one Asterisk sent to 127.0.0.3, not to the sender below.
    let elsewhere = Raw::new(&asterisk, "127.0.0.3");
    let challenge = elsewhere.register("101", "stolen-nonce", 1, None);
    assert!(challenge.starts_with("SIP/2.0 401"), "{challenge}");
    let stolen = nonce_of(&challenge);

    let spoofer = Raw::new(&asterisk, "127.0.0.2");
    for n in 0..20 {
        // Half with a made-up nonce, half with the nonce sent to someone else; never challenged.
        let nonce = if n % 2 == 0 { format!("{}/{:032x}", 1_700_000_000 + n, n) } else { stolen.clone() };
        let answer = spoofer.register("101", &format!("spoof-{n}"), 1, Some(&digest("101", &asterisk.ip, &nonce)));
        assert!(answer.starts_with("SIP/2.0 401"), "wrong password refused: {answer}");
    }
    // Asterisk did report each of them as a failed authentication...
    let reported = wait_for(Duration::from_secs(5), || {
        let count = asterisk.messages_log().matches("Failed to authenticate").count();
        (count >= 20).then_some(count)
    });
    assert!(reported.is_some(), "{}", asterisk.messages_log());
    std::thread::sleep(Duration::from_millis(500));
    // ...and none of them counted.
    let blocks = asterisk.cli("multireg show blocks");
    assert!(blocks.contains("0 blocked addresses"), "{blocks}");
    let mut owner = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "pass101");
    assert_eq!(owner.register(), 200, "the real owner at that address is not refused");
}

/// A carrier matched by `identify` on 127.0.0.2. Endpoints are looked up by user name first, so
/// phones behind that address are still told apart from the trunk (the address is shared, as with
/// an office behind the carrier's NAT).
const TRUNK: &str = "
[global](+)
endpoint_identifier_order = username,ip,anonymous

[carrier](endpoint-common)
context = internal
[carrier-ip]
type = identify
endpoint = carrier
match = 127.0.0.2
";

#[test]
fn wrong_passwords_answering_our_challenges_block_only_the_policy_accounts() {
    let asterisk =
        start(&format!("{TRUNK}\n[101]\ntype = multireg\ndual_registration = yes\nauth_fail_limit = 3\nauth_block_time = 120\n"));
    let mut ami = asterisk.ami();
    let mut mistyped = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "pass1O1");
    for _ in 0..3 {
        assert_eq!(mistyped.register(), 401);
    }
    let blocked = ami.wait_event("MultiregAddressBlocked", Duration::from_secs(5), |e| {
        e.get("Address").map(String::as_str) == Some("127.0.0.2")
    });
    let blocked = blocked.expect("block event");
    assert_eq!(blocked.get("Extension").map(String::as_str), Some("101"));

    // The policy's accounts are refused from that address, primary and secondary alike...
    mistyped.password = "pass101".into();
    assert_eq!(mistyped.register(), 403);
    let mut secondary = asterisk.agent(Transport::Udp, "127.0.0.2", "101r", "pass101");
    assert_eq!(secondary.register(), 403);
    // ...but not from elsewhere.
    let mut home = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(home.register(), 200);

    // From the blocked address, an endpoint without a policy still registers...
    let mut other = asterisk.agent(Transport::Udp, "127.0.0.2", "103", "pass103");
    assert_eq!(other.register(), 200, "endpoints without a policy are not refused");
    // ...and the trunk matched by `identify` on that address still places calls.
    let callee = asterisk.agent(Transport::Udp, "127.0.0.1", "102", "pass102");
    let mut callee = callee;
    assert_eq!(callee.register(), 200);
    let mut trunk = asterisk.agent(Transport::Udp, "127.0.0.2", "+15550100", "unused");
    let handle = std::thread::spawn(move || {
        let call = trunk.call("102", Duration::from_secs(10));
        (trunk, call)
    });
    let incoming = callee.wait_invite(Duration::from_secs(8));
    assert!(incoming.is_some(), "the trunk's call reaches 102: {}", asterisk.messages_log());
    callee.reject(&incoming.unwrap(), 486, "Busy Here");
    let _ = handle.join();

    let list = asterisk.cli("multireg show blocks");
    assert!(list.contains("127.0.0.2") && list.contains("101") && list.contains("1 blocked addresses"), "{list}");
}

#[test]
fn limit_zero_never_blocks() {
    let asterisk = start("[101]\ntype = multireg\nauth_fail_limit = 0\n");
    assert!(asterisk.errors().is_empty(), "0 is a valid limit: {:?}", asterisk.errors());
    let mut mistyped = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "wrong");
    for _ in 0..8 {
        assert_eq!(mistyped.register(), 401);
    }
    std::thread::sleep(Duration::from_millis(500));
    mistyped.password = "pass101".into();
    assert_eq!(mistyped.register(), 200);
    assert!(asterisk.cli("multireg show blocks").contains("0 blocked addresses"));
}

#[test]
fn a_reload_that_exempts_the_address_or_removes_the_section_lifts_blocks_at_once() {
    let policies = "[101]\ntype = multireg\nauth_fail_limit = 2\n[102]\ntype = multireg\nauth_fail_limit = 2\n";
    let asterisk = start(policies);
    for user in ["101", "102"] {
        let mut mistyped = asterisk.agent(Transport::Udp, "127.0.0.2", user, "wrong");
        for _ in 0..2 {
            assert_eq!(mistyped.register(), 401);
        }
    }
    let both = wait_for(Duration::from_secs(5), || {
        let list = asterisk.cli("multireg show blocks");
        list.contains("2 blocked addresses").then_some(list)
    });
    assert!(both.is_some(), "{}", asterisk.cli("multireg show blocks"));
    let mut owner = asterisk.agent(Transport::Udp, "127.0.0.2", "101", "pass101");
    assert_eq!(owner.register(), 403);

    // 101 now exempts 127.0.0.0/24; the section of 102 is gone.
    asterisk.rewrite_pjsip_extra("[101]\ntype = multireg\nauth_fail_limit = 2\nauth_block_exempt = 127.0.0.0/24\n");
    asterisk.cli("module reload res_pjsip_multireg.so");
    let list = asterisk.cli("multireg show blocks");
    assert!(list.contains("0 blocked addresses"), "{list}");
    assert_eq!(owner.register(), 200, "lifted at the reload, not at the next failure");
    let mut other = asterisk.agent(Transport::Udp, "127.0.0.2", "102", "pass102");
    assert_eq!(other.register(), 200);
}
