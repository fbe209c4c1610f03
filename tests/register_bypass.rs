//! Every way around the per-type limits found in review, sent as raw bytes to a real Asterisk:
//! the limit holds, and the devices the module counts are the contacts the registrar stored.
mod common;

use common::raw::{status, RawSender};
use common::{Asterisk, Config, Transport};

const POLICY: &str = "[101]
type = multireg
max_ip_phones = 2
";

fn start(extra: &str) -> Asterisk {
    Asterisk::start_with(Config { pjsip_extra: format!("{POLICY}{extra}"), ..Config::default() })
}

fn contact_count(asterisk: &Asterisk, aor: &str) -> usize {
    asterisk.cli("pjsip show contacts").lines().filter(|l| l.trim_start().starts_with(&format!("Contact:  {aor}/"))).count()
}

/// IP phones the module shows for 101 ("2/2" in `multireg show extensions`).
fn module_ip_phones(asterisk: &Asterisk) -> usize {
    let table = asterisk.cli("multireg show extensions");
    let row = table.lines().find(|l| l.starts_with("101 ")).unwrap_or_else(|| panic!("{table}"));
    row.split_whitespace().nth(1).and_then(|cell| cell.split('/').next()).and_then(|n| n.parse().ok()).unwrap_or(usize::MAX)
}

/// Two phones of 101 registered the ordinary way: the IP phone limit is reached.
fn two_phones(asterisk: &Asterisk) -> Vec<common::Agent> {
    (0..2)
        .map(|n| {
            let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
            phone.user_agent = format!("Yealink SIP-T46U {n}");
            assert_eq!(phone.register(), 200);
            phone
        })
        .collect()
}

fn assert_limit_held(asterisk: &Asterisk, what: &str) {
    assert_eq!(contact_count(asterisk, "101"), 2, "{what}: {}", asterisk.cli("pjsip show contacts"));
    assert_eq!(module_ip_phones(asterisk), 2, "{what}: module and registrar disagree");
}

/// A REGISTER for 101 from `sender` with the given header lines (joined by `eol`).
fn message(asterisk: &Asterisk, sender: &RawSender, lines: &[Vec<u8>], eol: &[u8], auth: &str, cseq: u32) -> Vec<u8> {
    let mut out = format!("REGISTER sip:{} SIP/2.0", asterisk.ip).into_bytes();
    out.extend_from_slice(eol);
    let via = format!("Via: SIP/2.0/UDP {};rport;branch=z9hG4bK{}x{cseq}", sender.local, sender.local.port());
    for line in std::iter::once(via.into_bytes()).chain(lines.iter().cloned()) {
        out.extend_from_slice(&line);
        out.extend_from_slice(eol);
    }
    if !auth.is_empty() {
        out.extend_from_slice(auth.trim_end().as_bytes());
        out.extend_from_slice(eol);
    }
    out.extend_from_slice(b"Max-Forwards: 70");
    out.extend_from_slice(eol);
    out.extend_from_slice(b"Content-Length: 0");
    out.extend_from_slice(eol);
    out.extend_from_slice(eol);
    out
}

fn standard_lines(asterisk: &Asterisk, sender: &RawSender, call_id: &str, cseq: u32) -> Vec<Vec<u8>> {
    vec![
        format!("From: <sip:101@{}>;tag=f{call_id}", asterisk.ip).into_bytes(),
        format!("To: <sip:101@{}>", asterisk.ip).into_bytes(),
        format!("Call-ID: {call_id}").into_bytes(),
        format!("CSeq: {cseq} REGISTER").into_bytes(),
        format!("Contact: <sip:third@{}>", sender.local).into_bytes(),
        b"Expires: 600".to_vec(),
        b"User-Agent: Yealink SIP-T46U 3".to_vec(),
    ]
}

/// One hostile form: `edit` changes the standard header lines; `eol` is the line end.
/// Changes the standard header lines of a REGISTER.
type Edit<'a> = &'a dyn Fn(Vec<Vec<u8>>, &RawSender) -> Vec<Vec<u8>>;

fn try_form(asterisk: &Asterisk, name: &str, eol: &[u8], edit: Edit<'_>) -> u16 {
    let sender = RawSender::new("127.0.0.1", asterisk.sip_addr());
    let call_id = format!("bypass-{}-{}", name.replace(' ', "-"), sender.local.port());
    let build = |auth: &str, cseq: u32| {
        let lines = edit(standard_lines(asterisk, &sender, &call_id, cseq), &sender);
        message(asterisk, &sender, &lines, eol, auth, cseq)
    };
    status(&sender.register("101", "pass101", 1, &build))
}

fn replace(lines: Vec<Vec<u8>>, prefix: &str, with: Vec<u8>) -> Vec<Vec<u8>> {
    lines.into_iter().map(|line| if line.starts_with(prefix.as_bytes()) { with.clone() } else { line }).collect()
}

#[test]
fn rewritten_headers_never_get_past_the_limit() {
    let asterisk = start("");
    let _phones = two_phones(&asterisk);
    // Sanity: the plain form of the third phone is refused.
    assert_eq!(try_form(&asterisk, "plain", b"\r\n", &|lines, _| lines), 403);
    assert_limit_held(&asterisk, "plain");

    let ip = asterisk.ip.clone();
    type Edit = Box<dyn Fn(Vec<Vec<u8>>, &RawSender) -> Vec<Vec<u8>>>;
    let forms: Vec<(&str, &[u8], Edit)> = vec![
        ("compact contact", b"\r\n", Box::new(|l, s| replace(l, "Contact:", format!("m: <sip:third@{}>", s.local).into_bytes()))),
        (
            "compact to, from and call-id",
            b"\r\n",
            Box::new({
                let ip = ip.clone();
                move |l, _| {
                    let l = replace(l, "To:", format!("t: <sip:101@{ip}>").into_bytes());
                    let l = replace(l, "From:", format!("f: <sip:101@{ip}>;tag=compact").into_bytes());
                    l.into_iter()
                        .map(|line| if line.starts_with(b"Call-ID:") { [b"i:".as_slice(), &line[8..]].concat() } else { line })
                        .collect()
                }
            }),
        ),
        ("bare LF line ends", b"\n", Box::new(|l, _| l)),
        (
            "non-UTF-8 display name",
            b"\r\n",
            Box::new({
                let ip = ip.clone();
                move |l, _| {
                    replace(l, "From:", [b"From: \"caf\xe9\" ".as_slice(), format!("<sip:101@{ip}>;tag=x").as_bytes()].concat())
                }
            }),
        ),
        ("non-UTF-8 user agent", b"\r\n", Box::new(|l, _| replace(l, "User-Agent:", b"User-Agent: Yealink \xff\xfe".to_vec()))),
        (
            "folded contact",
            b"\r\n",
            Box::new(|l, s| replace(l, "Contact:", format!("Contact:\r\n   <sip:third@{}>", s.local).into_bytes())),
        ),
        (
            "space before the colon",
            b"\r\n",
            Box::new(|l, s| replace(l, "Contact:", format!("Contact   : <sip:third@{}>", s.local).into_bytes())),
        ),
        (
            "quoted parameter with multi-byte characters",
            b"\r\n",
            Box::new(|l, s| {
                replace(l, "Contact:", format!("Contact: <sip:third@{}>;x=\"a\\\";\u{e9}\u{e9}x=1\"", s.local).into_bytes())
            }),
        ),
        (
            "percent-escaped to user",
            b"\r\n",
            Box::new({
                let ip = ip.clone();
                move |l, _| replace(l, "To:", format!("To: <sip:%31%30%31@{ip}>").into_bytes())
            }),
        ),
    ];
    for (name, eol, edit) in &forms {
        // pjsip answers some forms 400 itself, or drops what it cannot parse; none may be stored.
        let status = try_form(&asterisk, name, eol, edit.as_ref());
        assert_ne!(status, 200, "{name}");
        assert_limit_held(&asterisk, name);
    }
}

#[test]
fn every_contact_of_a_register_counts() {
    let asterisk = start("");
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
    // One REGISTER adding three Contacts to one registered phone would make four.
    let three = |lines: Vec<Vec<u8>>, s: &RawSender| {
        let contact = format!("Contact: <sip:a@{0}>, <sip:b@{0}>", s.local);
        let mut lines = replace(lines, "Contact:", contact.into_bytes());
        lines.push(format!("Contact: <sip:c@{}>", s.local).into_bytes());
        lines
    };
    assert_eq!(try_form(&asterisk, "three contacts", b"\r\n", &three), 403);
    assert_eq!(contact_count(&asterisk, "101"), 1);
    // The registered phone refreshing with two more Contacts would hold three: refused too.
    phone.contact_params = format!(", <sip:more1@{0}>, <sip:more2@{0}>", phone.local);
    assert_eq!(phone.register(), 403);
    assert_eq!(contact_count(&asterisk, "101"), 1);
    // One more Contact fits the limit of two.
    phone.contact_params = format!(", <sip:more1@{}>", phone.local);
    assert_eq!(phone.register(), 200);
    assert_eq!(contact_count(&asterisk, "101"), 2);
    assert_eq!(module_ip_phones(&asterisk), 2);
}

#[test]
fn one_host_cannot_exceed_the_limit_with_new_call_ids_and_contacts() {
    let asterisk = start("");
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
    let sender = RawSender::new("127.0.0.1", asterisk.sip_addr());
    let mut statuses = Vec::new();
    for (n, user) in ["a", "b", "c"].iter().enumerate() {
        let call_id = format!("host-{user}-{}", sender.local.port());
        let build = |auth: &str, cseq: u32| {
            let mut lines = standard_lines(&asterisk, &sender, &call_id, cseq);
            lines = replace(lines, "Contact:", format!("Contact: <sip:{user}@{}>", sender.local).into_bytes());
            message(&asterisk, &sender, &lines, b"\r\n", auth, cseq)
        };
        statuses.push(status(&sender.register("101", "pass101", 10 * (n as u32 + 1), &build)));
    }
    assert_eq!(statuses, [200, 403, 403]);
    assert_eq!(contact_count(&asterisk, "101"), 2);
    assert_eq!(module_ip_phones(&asterisk), 2);
}

#[test]
fn a_device_that_moves_keeps_one_slot() {
    let asterisk = start("");
    let _phones = two_phones(&asterisk);
    let mut mover = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    mover.contact_params = ";+sip.instance=\"<urn:uuid:00000000-0000-4000-8000-000000000001>\"".into();
    assert_eq!(mover.register(), 403, "a third phone is refused");
    // Unregister one phone, register the instance, then re-register it from a new address.
    let mut phones = _phones;
    assert_eq!(phones[0].unregister(), 200);
    assert_eq!(mover.register(), 200);
    let mut moved = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    moved.contact_params = mover.contact_params.clone();
    assert_eq!(moved.register(), 200, "same +sip.instance at a new address is the same device");
    assert_eq!(contact_count(&asterisk, "101"), 2, "{}", asterisk.cli("pjsip show contacts"));
    assert_eq!(module_ip_phones(&asterisk), 2);
}

#[test]
fn an_aor_found_by_auth_username_is_the_one_counted() {
    // identify_by=auth_username and an AOR named user@domain: the registrar binds to
    // "201@asterisk", found from the Digest username and realm.
    let extra = "
[201]
type = multireg
max_ip_phones = 1

[201](endpoint-common)
auth = 201
aors = 201@asterisk
identify_by = auth_username
[201@asterisk](aor-common)
[201](auth-common)
username = 201
password = pass201
";
    let asterisk = start(extra);
    let register = |user_in_to: &str| {
        let sender = RawSender::new("127.0.0.1", asterisk.sip_addr());
        let call_id = format!("auth-aor-{}", sender.local.port());
        let ip = asterisk.ip.clone();
        let build = |auth: &str, cseq: u32| {
            let lines = vec![
                format!("From: <sip:{user_in_to}@{ip}>;tag=a{cseq}").into_bytes(),
                format!("To: <sip:{user_in_to}@{ip}>").into_bytes(),
                format!("Call-ID: {call_id}").into_bytes(),
                format!("CSeq: {cseq} REGISTER").into_bytes(),
                format!("Contact: <sip:dev@{}>", sender.local).into_bytes(),
                b"Expires: 600".to_vec(),
            ];
            message(&asterisk, &sender, &lines, b"\r\n", auth, cseq)
        };
        let answer = sender.register("201", "pass201", 1, &build);
        (status(&answer), answer.unwrap_or_default())
    };
    let (first, answer) = register("someone");
    assert_eq!(first, 200, "{answer}\n{}", asterisk.messages_log());
    assert_eq!(contact_count(&asterisk, "201@asterisk"), 1);
    let (second, answer) = register("another");
    assert_eq!(second, 403, "a second IP phone on the same AOR is over the limit of 1: {answer}");
    assert_eq!(contact_count(&asterisk, "201@asterisk"), 1);
}

#[test]
fn an_unreadable_register_of_a_policy_endpoint_is_refused_and_logged() {
    let asterisk = start("");
    // A Contact URI longer than pjsip can print for the registrar.
    let long_user = "u".repeat(5000);
    let status = try_form(&asterisk, "long contact", b"\r\n", &|lines, s| {
        replace(lines, "Contact:", format!("Contact: <sip:{long_user}@{}>", s.local).into_bytes())
    });
    assert_ne!(status, 200);
    assert_eq!(contact_count(&asterisk, "101"), 0);
    // Asterisk keeps serving.
    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(phone.register(), 200);
}
