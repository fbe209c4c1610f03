//! Per-client-type registration limits: each authenticated REGISTER of a policy endpoint is
//! decided just before the registrar, on what pjsip parsed, against the AOR's device book.
//! Guard-clause style, like res_pjsip_registrar.c: read, find the AOR, decide, act, report.
use std::time::Instant;

use super::{books, device_events, logout, policies, stats};
use crate::asterisk::sip_message::{same_contact_uri, ContactHeader, RegisterAnswer, RegisterMessage};
use crate::asterisk::{clock, manager, pjsip, sorcery};
use crate::policy::aor_lookup::{registrar_aor, AorQuery};
use crate::policy::classify::{ClassifierRules, DeviceFacts};
use crate::policy::config::{parse_bool, MultiregConfig};
use crate::policy::contact_uri::UriHead;
use crate::policy::device_book::{normalize_instance, Binding, Device, Refusal, Register, RemovalCause, RequestKey, Verdict};
use crate::policy::policy_index::Side;
use crate::policy::unregister_reasons::UnregisterReason;

pub use crate::asterisk::sorcery::endpoint_aors;

/// A source address in logs and events: "address:port", "[v6]:port", or "unknown".
struct Shown(Option<std::net::SocketAddr>);

impl std::fmt::Display for Shown {
    fn fmt(&self, out: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(address) => address.fmt(out),
            None => out.write_str("unknown"),
        }
    }
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Handles a REGISTER routed past us. True when we answered it (refused).
pub fn on_register(request: &pjsip::RxRequest<'_>) -> bool {
    let Some(endpoint) = request.endpoint() else { return false };
    let policies = policies::current();
    let policy = policies.for_endpoint(endpoint.id());
    // Endpoints without a policy keep stock behaviour and cost one hash lookup, unless debug
    // logging wants to see their REGISTERs.
    if policy.is_none() && !tracing::enabled!(tracing::Level::DEBUG) {
        return false;
    }
    let counted = policy.is_some();
    timed(&stats::DECISIONS, counted, || decide(request, &endpoint, policy), |_| counted)
}

fn decide(
    request: &pjsip::RxRequest<'_>,
    endpoint: &pjsip::Endpoint,
    policy: Option<(&std::sync::Arc<MultiregConfig>, Side)>,
) -> bool {
    let endpoint_name = endpoint.id();
    let source_address = request.source_address();
    let source = Shown(source_address);
    let identify_by_auth_username = endpoint.identifies_by_auth_username();
    let mut message = match request.register_message(identify_by_auth_username) {
        Ok(message) => message,
        Err(unreadable) => return unreadable_register(request, endpoint_name, &source, policy.is_some(), &unreadable),
    };
    if !message.to_is_sip {
        return false; // the registrar answers 416
    }
    let aors = endpoint.aors();
    let query = AorQuery {
        to_user: &message.to_user,
        to_host: &message.to_host,
        ignore_uri_user_options: pjsip::ignore_uri_user_options(),
        digest_users: &message.digest_users,
        identify_by_auth_username,
        aors: &aors,
    };
    let aor = registrar_aor(&query, &pjsip::domain_alias);
    let transport = request.transport_type();
    if tracing::enabled!(tracing::Level::DEBUG) {
        log_register(endpoint_name, aor, &message, &transport, &source);
    }
    let (Some((config, side)), Some(aor)) = (policy, aor) else {
        return false; // no policy, or the registrar answers 404
    };
    let push = match super::push_bindings::check(config, endpoint_name, &message) {
        Ok(push) => push,
        Err(provider) => return refuse_push(request, endpoint_name, &provider, &source),
    };
    let heard = Heard {
        user_agent: &message.user_agent,
        expires_header: message.expires_header,
        key: RequestKey { call_id: message.call_id.as_ref().into(), cseq: message.cseq },
        transport: &transport,
        source: source_address,
    };
    let register = read_register(&mut message.contacts, heard, &config.classifier);
    if logout::refuse_logged_out(request, &config.endpoint, aor, &register) {
        return true;
    }
    let now = now_unix();
    let limits = config.limits_for(side);
    let book = books::book(aor, &config.endpoint);
    // With contacts in a store other nodes write too, the book is confirmed against the store
    // at every REGISTER (other nodes' devices never reach this node's book otherwise).
    let first_try = if super::cluster::location_shared() {
        None
    } else {
        let mut book = books::lock_book(&book);
        book.is_known().then(|| book.decide(&register, &limits, now, false, &same_contact_uri))
    };
    // Across nodes, the AOR's lock is held from the store read until the registrar answered.
    let locked = first_try.is_none() && super::cluster::location_shared() && super::cluster_lock::acquire(aor);
    let verdict = match first_try {
        Some(Verdict::Confirm) | None => confirmed_decision(&book, aor, config, &register, &limits, now),
        Some(verdict) => verdict,
    };
    if locked {
        match verdict {
            Verdict::Admit { .. } => super::cluster_lock::hold_until_answer(register.key.clone(), aor),
            _ => super::cluster_lock::release(aor),
        }
    }
    match verdict {
        Verdict::Admit { removals } => {
            let awaiting = books::Awaiting { aor: aor.to_string(), book: book.clone(), config: config.clone() };
            books::expect_answer(register.key.clone(), awaiting, now);
            if let Some(push) = push {
                super::push_bindings::expect(register.key.clone(), push);
            }
            for removal in removals {
                remove_device(endpoint_name, aor, &removal.device, &removal.cause);
            }
            false
        }
        Verdict::Refuse(refusal) => refuse_over_limit(request, endpoint, aor, &message, &register, &source, refusal),
        Verdict::Confirm => undecided(endpoint_name),
    }
}

// The paths below are rare (a refusal, an unreadable request, debug logging): kept out of line,
// so the code every admitted REGISTER runs stays in few cache lines.

#[cold]
#[inline(never)]
fn unreadable_register(
    request: &pjsip::RxRequest<'_>,
    endpoint_name: &str,
    source: &Shown,
    has_policy: bool,
    unreadable: &crate::asterisk::sip_message::Unreadable,
) -> bool {
    if !has_policy {
        tracing::debug!("REGISTER endpoint={endpoint_name} source={source}: {}; left to the registrar", unreadable.0);
        return false;
    }
    // A policy endpoint's REGISTER is never passed on unchecked.
    tracing::warn!("multireg: refused REGISTER for {endpoint_name} from {source}: {}", unreadable.0);
    request.respond(400, &format!("Bad Request - {}", unreadable.0));
    true
}

#[cold]
#[inline(never)]
fn log_register(endpoint_name: &str, aor: Option<&str>, message: &RegisterMessage<'_>, transport: &str, source: &Shown) {
    tracing::debug!(
        "REGISTER endpoint={endpoint_name} aor={} user_agent=\"{}\" transport={transport} source={source} contacts={}",
        aor.unwrap_or("(none)"),
        message.user_agent,
        message.contacts.len()
    );
}

#[cold]
#[inline(never)]
fn refuse_push(request: &pjsip::RxRequest<'_>, endpoint_name: &str, provider: &str, source: &Shown) -> bool {
    super::push_bindings::refuse(request, endpoint_name, provider, &source.to_string());
    true
}

#[cold]
#[inline(never)]
fn refuse_over_limit(
    request: &pjsip::RxRequest<'_>,
    endpoint: &pjsip::Endpoint,
    aor: &str,
    message: &RegisterMessage<'_>,
    register: &Register,
    source: &Shown,
    refusal: Refusal,
) -> bool {
    let Refusal { status, reason, client_type } = refusal;
    let endpoint_name = endpoint.id();
    stats::refusal();
    tracing::info!(
        "multireg: refused REGISTER for {endpoint_name} from {source} ({}, User-Agent \"{}\"): {reason}",
        client_type.display_name(),
        message.user_agent
    );
    request.respond(i32::from(status), &reason);
    request.report_security_refusal(endpoint, &format!("multireg_{}_limit", client_type.as_str()));
    let contact = register.contacts.iter().find(|b| !b.removes).map(|b| b.uri.clone()).unwrap_or_default();
    manager::event(
        "MultiregRegistrationRejected",
        &[
            ("Endpoint", endpoint_name.to_string()),
            ("AOR", aor.to_string()),
            ("ClientType", client_type.as_str().to_string()),
            ("UserAgent", message.user_agent.to_string()),
            ("Contact", contact),
            ("SourceAddress", source.to_string()),
            ("Status", status.to_string()),
            ("Reason", reason),
        ],
    );
    true
}

#[cold]
#[inline(never)]
fn undecided(endpoint_name: &str) -> bool {
    tracing::error!("multireg: {endpoint_name}: no decision after reading the store; REGISTER left to the registrar");
    false
}

/// How often a store read may be overtaken by answers before the book decides on its own.
const STORE_READ_TRIES: usize = 3;

/// Decides after reading the store, which is read without holding the book's lock. A read that
/// an answer or removal overtook is read again; if that keeps happening, the book (kept current
/// by those very answers, with every admitted REGISTER still reserved) decides alone.
#[cold]
#[inline(never)]
fn confirmed_decision(
    book: &books::SharedBook,
    aor: &str,
    config: &MultiregConfig,
    register: &Register,
    limits: &crate::policy::device_book::Limits,
    now: u64,
) -> Verdict {
    for _ in 0..STORE_READ_TRIES {
        let read_at = books::lock_book(book).generation();
        stats::store_read();
        let stored = stored_devices(aor, &config.classifier);
        let mut book = books::lock_book(book);
        if book.load_from_store(stored, now, read_at) {
            return book.decide(register, limits, now, true, &same_contact_uri);
        }
    }
    tracing::debug!("multireg: AOR {aor} changed during every store read; deciding on the registrar's answers");
    books::lock_book(book).decide(register, limits, now, true, &same_contact_uri)
}

/// What a REGISTER says besides its Contacts.
struct Heard<'a> {
    user_agent: &'a str,
    expires_header: Option<u32>,
    key: RequestKey,
    transport: &'a str,
    source: Option<std::net::SocketAddr>,
}

/// The Contacts of a REGISTER as the registrar will apply them, each classified. Each Contact's
/// URI moves into its binding (the message's copy is left empty).
fn read_register(message_contacts: &mut [ContactHeader], heard: Heard<'_>, rules: &ClassifierRules) -> Register {
    let Heard { user_agent, expires_header, key, transport, source } = heard;
    let removes = |contact: &ContactHeader| contact.expires.or(expires_header) == Some(0);
    let classify = |contact: &ContactHeader| {
        let facts = DeviceFacts { transport, user_agent, contact_params: &contact.params, contact_uri: &contact.uri };
        let classification = rules.classify(&facts);
        let profile =
            super::texts::profile(&classification.reason, &super::texts::intern(user_agent), &super::texts::intern(transport));
        (classification.client_type, profile)
    };
    let star = message_contacts.iter().any(|c| c.star);
    let contacts = message_contacts
        .iter_mut()
        .filter(|c| c.sip && !c.star)
        .map(|contact| {
            // Most Contacts carry nothing the rules read: the answer for this User-Agent and
            // transport is then the one given before.
            let (client_type, profile) = if ClassifierRules::contact_matters(&contact.uri, &contact.params) {
                classify(contact)
            } else if let Some(known) = super::texts::classified(rules.id(), transport, user_agent) {
                known
            } else {
                let (client_type, profile) = classify(contact);
                super::texts::remember_classified(rules.id(), client_type, &profile);
                (client_type, profile)
            };
            let instance = contact
                .params
                .iter()
                .find(|(name, _)| name == "+sip.instance")
                .and_then(|(_, value)| value.as_deref())
                .and_then(normalize_instance);
            Binding {
                uri: std::mem::take(&mut contact.uri),
                head_read: Default::default(),
                removes: removes(contact),
                instance,
                client_type,
                profile,
            }
        })
        .collect();
    Register { key, star, contacts, source, expires: expires_header.unwrap_or(3600) }
}

/// The Contact URIs of a policy AOR for the dial path, as `PJSIP_DIAL_CONTACTS` would give them.
/// A known book answers alone when nothing else can be in the AOR: no `contact=` permanent
/// contacts and no qualify (which can find a registered contact unreachable). Otherwise, and
/// for an AOR not seen since load (whose book is then filled from the read), the store is read.
pub fn dial_contact_uris(aor: &str, config: &MultiregConfig) -> Vec<String> {
    // Devices registered through other nodes never reach this node's books.
    if super::cluster::location_shared() {
        return sorcery::aor_reachable_contact_uris(aor);
    }
    let Some(facts) = sorcery::aor_dial_facts(aor) else { return Vec::new() };
    let now = now_unix();
    let book = books::book(aor, &config.endpoint);
    let book_alone = !facts.permanent_contacts && !facts.qualified;
    let (devices, read_at) = {
        let book = books::lock_book(&book);
        let devices = if !book.is_known() {
            None
        } else if book.awaits_answer(now) {
            // The store may already hold the binding of the REGISTER awaiting its answer.
            Some(None)
        } else {
            Some(Some(book.devices(now).iter().map(|device| device.uri.to_string()).collect::<Vec<_>>()))
        };
        (devices, book.generation())
    };
    match devices {
        Some(Some(uris)) if book_alone || (uris.is_empty() && !facts.permanent_contacts) => uris,
        Some(_) => sorcery::aor_reachable_contact_uris(aor),
        None => {
            stats::store_read();
            let stored = stored_devices(aor, &config.classifier);
            let uris: Vec<String> = stored.iter().map(|device| device.uri.to_string()).collect();
            books::lock_book(&book).load_from_store(stored, now, read_at);
            if book_alone {
                uris
            } else {
                sorcery::aor_reachable_contact_uris(aor)
            }
        }
    }
}

/// Reads `aor` from the store into its book unless the book already knows it; true when read.
pub fn fill_book(aor: &str, config: &MultiregConfig) -> bool {
    let book = books::book(aor, &config.endpoint);
    let read_at = {
        let book = books::lock_book(&book);
        if book.is_known() {
            return false;
        }
        book.generation()
    };
    stats::book_read_ahead();
    let stored = stored_devices(aor, &config.classifier);
    books::lock_book(&book).load_from_store(stored, now_unix(), read_at);
    true
}

fn stored_devices(aor: &str, rules: &ClassifierRules) -> Vec<Device> {
    sorcery::aor_contacts(aor).iter().map(|stored| device_from_store(stored, rules)).collect()
}

pub fn device_from_store(stored: &sorcery::StoredContact, rules: &ClassifierRules) -> Device {
    Device {
        source: via_address(stored),
        call_id: stored.field("call_id").into(),
        expires_at: stored.field("expiration_time").parse().unwrap_or(0),
        ..device_from_store_fields(stored.field("uri"), stored.field("user_agent"), rules)
    }
}

/// The address a stored contact's device wrote in its Via, when it is one (it can be a name).
pub fn via_address(stored: &sorcery::StoredContact) -> Option<std::net::SocketAddr> {
    let address: std::net::IpAddr = stored.field("via_addr").trim_matches(['[', ']']).parse().ok()?;
    Some(std::net::SocketAddr::new(address, stored.field("via_port").parse().unwrap_or(0)))
}

/// Where a stored contact's device is, for people: its source address when the book knows it,
/// else what it wrote in its Via.
pub fn source_text(device: &Device, stored: &sorcery::StoredContact) -> String {
    match device.source {
        Some(source) => source.to_string(),
        None => via_text(stored),
    }
}

/// What a stored contact's device wrote in its Via: "address:port" (the address can be a name).
pub fn via_text(stored: &sorcery::StoredContact) -> String {
    format!("{}:{}", stored.field("via_addr"), stored.field("via_port"))
}

/// A stored contact's device, classified from its URI and User-Agent only.
pub fn device_from_store_fields(uri: &str, user_agent: &str, rules: &ClassifierRules) -> Device {
    let transport = if uri.to_ascii_lowercase().contains(";transport=ws") { "WS" } else { "" };
    let mut classification = rules.classify(&DeviceFacts { transport, user_agent, contact_params: &[], contact_uri: uri });
    classification.reason.push_str(" (from the stored contact)");
    Device {
        uri: uri.into(),
        uri_head: UriHead::of(uri),
        call_id: "".into(),
        instance: None,
        source: None,
        profile: super::texts::profile(&classification.reason, &super::texts::intern(user_agent), &super::texts::intern("")),
        cseq: 0,
        client_type: classification.client_type,
        registered_at: 0,
        expires_at: 0,
    }
}

/// Removes a device the decision replaced (or that moved) from the store, and reports it.
#[cold]
#[inline(never)]
fn remove_device(endpoint: &str, aor: &str, device: &Device, cause: &RemovalCause) {
    device_events::removing(aor, &device.uri, UnregisterReason::Replaced);
    let removed = sorcery::aor_contacts(aor).iter().filter(|c| c.field("uri") == &*device.uri).all(sorcery::delete_contact);
    if !removed {
        tracing::warn!("multireg: {endpoint}: could not remove contact {} from AOR {aor}", device.uri);
    }
    match cause {
        RemovalCause::Moved => {
            tracing::info!("multireg: {endpoint}: device {} re-registered at a new address; old binding removed", device.uri);
        }
        RemovalCause::Replaced(new_type) => {
            super::push_bindings::forget_device(endpoint, &device.uri, "device replaced");
            tracing::info!(
                "multireg: {endpoint}: {} limit reached, replacing the oldest {} device {} ({})",
                new_type.display_name(),
                device.client_type.display_name(),
                device.uri,
                device.user_agent()
            );
            manager::event(
                "MultiregDeviceReplaced",
                &[
                    ("Endpoint", endpoint.to_string()),
                    ("AOR", aor.to_string()),
                    ("ClientType", device.client_type.as_str().to_string()),
                    ("Contact", device.uri.to_string()),
                    ("UserAgent", device.user_agent().to_string()),
                ],
            );
        }
    }
}

/// A response is being sent: if it answers a REGISTER the module admitted, the registrar's
/// answer updates the book. Answers nobody waits for cost one hash lookup (and, one in 16, a
/// read of the thread's CPU clock). The time of the answers applied goes to `stats`.
pub fn on_response(response: &pjsip::TxResponse<'_>) {
    // A challenge comes from the authenticator, which runs before this module's decision: no
    // REGISTER the module admitted is ever answered 401 or 407 (one per registration).
    if matches!(response.status(), 401 | 407) {
        return;
    }
    let Some(answer) = response.register_answer() else { return };
    timed(&stats::ANSWERS, true, || apply_answer(response, answer), |applied| *applied);
}

/// Runs `work`, adding its wall time to `timings` when `counted` says so, and one time in 16
/// (if `sample`) its thread CPU time too.
fn timed<R>(timings: &stats::Timings, sample: bool, work: impl FnOnce() -> R, counted: impl Fn(&R) -> bool) -> R {
    let cpu_started = (sample && timings.sample_cpu()).then(clock::thread_cpu_time).flatten();
    let started = Instant::now();
    let result = work();
    if counted(&result) {
        timings.record(started.elapsed());
        if let Some(cpu) = cpu_started.and_then(|before| Some(clock::thread_cpu_time()?.saturating_sub(before))) {
            timings.record_cpu(cpu);
        }
    }
    result
}

/// Applies the registrar's answer to the book that waits for it; false when none waits.
fn apply_answer(response: &pjsip::TxResponse<'_>, answer: RegisterAnswer) -> bool {
    let key = RequestKey { call_id: answer.call_id.into(), cseq: answer.cseq };
    if super::cluster::location_shared() {
        super::cluster_lock::answered(&key);
    }
    let Some(books::Awaiting { aor, book, config }) = books::answered(&key) else { return false };
    let extension = &config.endpoint;
    let success = (200..300).contains(&answer.status);
    let answered = if success { response.bindings() } else { Default::default() };
    let bindings = answered.pairs();
    let now = now_unix();
    let (complete, added, leaving) = {
        let mut book = books::lock_book(&book);
        let live =
            |book: &crate::policy::device_book::DeviceBook, uri: &str| book.device(uri).is_some_and(|d| d.expires_at > now);
        let arriving: Vec<&str> = bindings.iter().map(|(uri, _)| *uri).filter(|uri| !live(&book, uri)).collect();
        let leaving = if success { book.unregistered_by(&key, &bindings) } else { Vec::new() };
        let complete = book.on_answer(&key, success, &bindings, now);
        // Written under the lock (no copy of each device), raised after it.
        let added: Vec<manager::Event> = arriving
            .into_iter()
            .filter_map(|uri| book.device(uri).map(|device| device_events::registered(extension, &aor, device, now)))
            .collect();
        (complete, added, leaving)
    };
    device_events::leaving(&aor, leaving, now);
    // The busy lamp follows from PJSIP/<endpoint>'s device state, which Asterisk publishes when
    // the endpoint comes online (busy_lamp::device_changed), not from each contact.
    for event in added {
        event.raise();
    }
    if !complete {
        incomplete_answer(&aor);
    }
    true
}

#[cold]
#[inline(never)]
fn incomplete_answer(aor: &str) {
    tracing::debug!("multireg: AOR {aor} holds a binding this module did not see registering; re-reading it next time");
}

/// A contact left the store (expired, unregistered, removed): the book re-reads the store at
/// its next decision if it still counted it.
pub fn on_contact_removed(aor: &str, uri: &str) {
    if let Some(book) = books::existing(aor) {
        books::lock_book(&book).on_removed(uri, now_unix());
    }
}

/// Warns when an AOR's own settings would refuse devices the per-type limits allow.
pub fn check_aor_settings(config: &MultiregConfig) {
    if sorcery::retrieve("endpoint", &config.endpoint).is_none() {
        tracing::warn!(
            "multireg [{}]: endpoint '{}' does not exist; the policy applies once it is configured",
            config.section,
            config.endpoint
        );
        return;
    }
    for aor_name in endpoint_aors(&config.endpoint) {
        let Some(aor) = sorcery::retrieve("aor", &aor_name) else { continue };
        let fields = aor.fields();
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default();
        if let Ok(max_contacts) = field("max_contacts").parse::<u32>() {
            if let Some(problem) = config.max_contacts_problem(&aor_name, max_contacts) {
                tracing::warn!("{problem}");
            }
        }
        if parse_bool(&field("remove_existing")) == Ok(true) {
            tracing::warn!(
                "multireg [{}]: AOR '{aor_name}' has remove_existing=yes, which removes registered devices regardless of the per-type limits; set remove_existing=no",
                config.section
            );
        }
    }
}

/// The REGISTER decision failed inside the module (a bug): a policy endpoint's REGISTER is
/// answered 500 rather than stored unchecked; everything else goes on to the registrar.
pub fn refuse_after_internal_error(request: &pjsip::RxRequest<'_>) -> bool {
    if !request.is_register() {
        return false;
    }
    let Some(endpoint) = request.endpoint() else { return false };
    if policies::current().for_endpoint(endpoint.id()).is_none() {
        return false;
    }
    tracing::error!("multireg: REGISTER for {} refused with 500 after an internal error (see the previous line)", endpoint.id());
    request.respond(500, "Server Internal Error");
    true
}
