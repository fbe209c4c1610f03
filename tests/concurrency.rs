//! Limits under concurrency: waves of simultaneous REGISTERs from distinct devices of one type
//! never leave more than the limit registered, and never refuse a device while a slot is free.
mod common;

use std::sync::{Arc, Barrier};

use common::raw::{status, RawSender};
use common::{Asterisk, Config};

const LIMIT: usize = 3;
const WAVES: usize = 100;
const DEVICES_PER_WAVE: usize = 50;

fn register_bytes(asterisk_ip: &str, sender: &RawSender, call_id: &str, expires: u32, auth: &str, cseq: u32) -> Vec<u8> {
    format!(
        "REGISTER sip:{asterisk_ip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};rport;branch=z9hG4bK{call_id}x{cseq}\r\n\
         Max-Forwards: 70\r\nFrom: <sip:101@{asterisk_ip}>;tag={call_id}\r\nTo: <sip:101@{asterisk_ip}>\r\n\
         Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: <sip:wave@{local}>\r\nExpires: {expires}\r\n\
         User-Agent: Yealink SIP-T46U\r\n{auth}Content-Length: 0\r\n\r\n",
        local = sender.local
    )
    .into_bytes()
}

fn contact_count(asterisk: &Asterisk) -> usize {
    asterisk.cli("pjsip show contacts").lines().filter(|l| l.trim_start().starts_with("Contact:  101/")).count()
}

#[test]
fn waves_of_simultaneous_registers_fill_exactly_the_free_slots() {
    let asterisk = Asterisk::start_with(Config {
        pjsip_extra: format!("[101]\ntype = multireg\nmax_ip_phones = {LIMIT}\n"),
        ..Config::default()
    });
    let ip = asterisk.ip.clone();
    let server = asterisk.sip_addr();
    for wave in 0..WAVES {
        // Each wave starts with the slots of the previous wave's devices taken: it unregisters
        // them first, so every wave sees LIMIT free slots.
        let senders: Vec<RawSender> = (0..DEVICES_PER_WAVE).map(|_| RawSender::new("127.0.0.1", server)).collect();
        let barrier = Arc::new(Barrier::new(DEVICES_PER_WAVE));
        let statuses: Vec<(u16, RawSender, String)> = std::thread::scope(|scope| {
            let handles: Vec<_> = senders
                .into_iter()
                .enumerate()
                .map(|(n, sender)| {
                    let (barrier, ip) = (barrier.clone(), ip.clone());
                    scope.spawn(move || {
                        let call_id = format!("wave{wave}-{n}-{}", sender.local.port());
                        barrier.wait();
                        let build = |auth: &str, cseq: u32| register_bytes(&ip, &sender, &call_id, 600, auth, cseq);
                        let answer = status(&sender.register("101", "pass101", 1, &build));
                        (answer, sender, call_id)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("wave thread")).collect()
        });
        let admitted: Vec<&(u16, RawSender, String)> = statuses.iter().filter(|(s, _, _)| *s == 200).collect();
        let refused = statuses.iter().filter(|(s, _, _)| *s == 403).count();
        assert_eq!(admitted.len(), LIMIT, "wave {wave}: {:?}", statuses.iter().map(|s| s.0).collect::<Vec<_>>());
        assert_eq!(refused, DEVICES_PER_WAVE - LIMIT, "wave {wave}: every other device gets 403");
        assert_eq!(contact_count(&asterisk), LIMIT, "wave {wave}");
        for (_, sender, call_id) in admitted {
            let build = |auth: &str, cseq: u32| register_bytes(&ip, sender, call_id, 0, auth, cseq);
            assert_eq!(status(&sender.register("101", "pass101", 10, &build)), 200, "wave {wave}: unregister");
        }
        assert_eq!(contact_count(&asterisk), 0, "wave {wave}: all unregistered");
    }
}
