//! AMI `MultiregDeviceRegistered` / `MultiregDeviceUnregistered`: one event per device that
//! arrives or leaves (refreshes raise nothing), with its client type and why, and why it left.
mod common;

use std::time::Duration;

use common::{Asterisk, Config, Transport};

fn field<'a>(event: &'a common::ami::AmiMessage, name: &str) -> &'a str {
    event.get(name).map(String::as_str).unwrap_or("")
}

#[test]
fn devices_arriving_and_leaving_raise_events_with_type_and_reason() {
    let policy = "[101]\ntype = multireg\nmax_ip_phones = 1\nat_limit = replace_oldest\n";
    let asterisk = Asterisk::start_with(Config { pjsip_extra: policy.into(), ..Config::default() });
    let mut ami = asterisk.ami();
    let wait = Duration::from_secs(5);

    let mut phone = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    phone.user_agent = "Yealink SIP-T46U 108.86.0.20".into();
    assert_eq!(phone.register(), 200);
    let port = format!(":{}", phone.local.port());
    let event =
        ami.wait_event("MultiregDeviceRegistered", wait, |e| field(e, "SourceAddress").ends_with(&port)).expect("registered");
    assert_eq!(field(&event, "Extension"), "101");
    assert_eq!(field(&event, "AOR"), "101");
    assert_eq!(field(&event, "ClientType"), "ip_phone");
    assert!(field(&event, "Classification").contains("no web, mobile or desktop rule"), "{event:?}");
    assert_eq!(field(&event, "UserAgent"), "Yealink SIP-T46U 108.86.0.20");
    assert_eq!(field(&event, "Transport"), "UDP");
    let expires: u32 = field(&event, "Expires").parse().expect("Expires in seconds");
    assert!((3590..=3600).contains(&expires), "{event:?}");

    // A refresh is no new device.
    assert_eq!(phone.register(), 200);
    let mut mobile = asterisk.agent(Transport::Tcp, "127.0.0.1", "101", "pass101");
    mobile.user_agent = "Bria iOS release 6.5.4 stamp 117350".into();
    assert_eq!(mobile.register(), 200);
    let event = ami.wait_event("MultiregDeviceRegistered", wait, |_| true).expect("the mobile app registered");
    assert_eq!((field(&event, "ClientType"), field(&event, "Transport")), ("mobile", "TCP"), "{event:?}");
    assert!(
        ami.wait_event("MultiregDeviceRegistered", Duration::from_millis(500), |_| true).is_none(),
        "one event per device, none for the refresh"
    );

    // The device unregisters itself: removed.
    assert_eq!(mobile.unregister(), 200);
    let event = ami.wait_event("MultiregDeviceUnregistered", wait, |_| true).expect("unregistered");
    assert_eq!((field(&event, "ClientType"), field(&event, "Reason")), ("mobile", "removed"), "{event:?}");
    assert_eq!(field(&event, "UserAgent"), "Bria iOS release 6.5.4 stamp 117350");
    // What the module learned at registration, not a guess from the stored contact.
    assert_eq!(field(&event, "Transport"), "TCP", "{event:?}");
    assert!(!field(&event, "Classification").contains("stored contact"), "{event:?}");

    // A second desk phone replaces the first (max_ip_phones = 1, replace_oldest): replaced.
    let mut second = asterisk.agent(Transport::Udp, "127.0.0.1", "101", "pass101");
    assert_eq!(second.register(), 200);
    let event = ami.wait_event("MultiregDeviceUnregistered", wait, |_| true).expect("the first phone left");
    assert_eq!(field(&event, "Reason"), "replaced", "{event:?}");
    assert!(field(&event, "SourceAddress").ends_with(&port), "{event:?}");
    assert!(ami.wait_event("MultiregDeviceRegistered", wait, |_| true).is_some(), "the second phone arrived");
    let documented = asterisk.cli("manager show event MultiregDeviceUnregistered");
    assert!(documented.contains("logged_out") && documented.contains("Classification"), "{documented}");
}
