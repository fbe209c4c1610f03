//! Bad input never crashes Asterisk: malformed SIP gets a SIP answer (or is dropped by PJSIP),
//! hostile but authenticated REGISTERs are handled, and user text never becomes a format string.
mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{Asterisk, Config, Transport};

fn alive(asterisk: &Asterisk) {
    assert!(asterisk.cli("module show like multireg").contains("Running"), "module still running");
    let mut probe = asterisk.agent(Transport::Udp, "127.0.0.1", "103", "pass103");
    assert_eq!(probe.register(), 200, "Asterisk still registers devices");
}

#[test]
fn malformed_datagrams_do_not_hurt_asterisk() {
    let asterisk =
        Asterisk::start_with(Config { pjsip_extra: "[101]\ntype = multireg\nmax_ip_phones = 2\n".into(), ..Config::default() });
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let ip = &asterisk.ip;
    let base = format!(
        "REGISTER sip:{ip} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKx1\r\nFrom: <sip:101@{ip}>;tag=a\r\n\
         To: <sip:101@{ip}>\r\nCall-ID: bad1\r\nCSeq: 1 REGISTER\r\nContact: <sip:101@127.0.0.1:5999>\r\nContent-Length: 0\r\n\r\n"
    );
    let mut cases: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02garbage".to_vec(),
        b"REGISTER\r\n\r\n".to_vec(),
        base.replace("Contact: <sip:101@127.0.0.1:5999>", "Contact: <sip:101@127.0.0.1:5999;x=\"unterminated").into_bytes(),
        base.replace("CSeq: 1 REGISTER", "CSeq: banana").into_bytes(),
        base.replace("Content-Length: 0", "Content-Length: 99999").into_bytes(),
        base.replace("User-Agent", "X").replace("Call-ID: bad1", &format!("Call-ID: {}", "A".repeat(8000))).into_bytes(),
        base.as_bytes()[..base.len() / 2].to_vec(),
    ];
    let mut nul = base.clone().into_bytes();
    nul[40] = 0;
    cases.push(nul);
    let mut answered = 0;
    for case in &cases {
        socket.send_to(case, asterisk.sip_addr()).unwrap();
        let mut buffer = [0u8; 4096];
        if let Ok((size, _)) = socket.recv_from(&mut buffer) {
            let text = String::from_utf8_lossy(&buffer[..size]);
            assert!(text.starts_with("SIP/2.0 "), "a SIP response: {text}");
            answered += 1;
        }
    }
    assert!(answered >= 2, "malformed but addressable requests get SIP answers ({answered})");
    alive(&asterisk);
}

#[test]
fn hostile_authenticated_registers_are_handled_and_logged_literally() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: "[101]\ntype = multireg\nmax_ip_phones = 1\nmax_mobile_clients = 1\n".into(),
        ..Config::default()
    });
    asterisk.cli("core set debug 1 res_pjsip_multireg.so");
    let mut first = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    first.user_agent = "Evil %s%s%n%x %p".into();
    first.contact_params = ";pn-provider=;+sip.instance=\"<>\";x;y=%s".into();
    assert_eq!(first.register(), 200);
    let mut second = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    second.user_agent = format!("Long-{}", "x".repeat(3000));
    // Also a mobile device by its push parameter, so it meets the mobile limit of 1.
    second.contact_params = ";pn-provider=fcm;pn-prid=%n%n".into();
    let refused = second.register_with_expires(60).expect("answered");
    assert_eq!(refused.status(), 403);
    let needle = "user_agent=\"Evil %s%s%n%x %p\"";
    assert!(asterisk.full_log_with(needle).contains(needle), "format specifiers logged as text");
    let detail = asterisk.cli("multireg show extension 101");
    assert!(detail.contains("Evil %s%s%n%x %p"), "{detail}");
    alive(&asterisk);
}
