//! Wires the policy to Asterisk: `Multireg` implements the entry points Asterisk calls, each one
//! glue that looks up, calls one policy function, acts on the answer and reports. Only the safe
//! wrappers of `crate::asterisk` are used here, never the raw FFI.
#![forbid(unsafe_code)]
pub mod ami;
pub mod authblock;
pub mod book_warmup;
pub mod books;
pub mod busy_lamp;
pub mod call_limit;
pub mod cli;
pub mod cluster;
pub mod cluster_lock;
pub mod device_events;
pub mod dial_features;
pub mod dialplan;
pub mod events;
pub mod logout;
pub mod policies;
pub mod policy_source;
pub mod push_bindings;
pub mod push_wake;
pub mod registrar;
pub mod ring_mode_store;
pub mod secondaries;
pub mod state;
pub mod stats;
pub mod texts;
pub mod views;

use std::sync::Mutex;

use crate::asterisk::channel::Channel;
use crate::asterisk::cli::CliCommand;
use crate::asterisk::dialfx::DialFeaturesRegistration;
use crate::asterisk::dialplan::{DialplanApp, DialplanFunction};
use crate::asterisk::entry::{AsteriskModule, AuthOutcome, CliOutcome, RemovedContact};
use crate::asterisk::manager::AmiRequest;
use crate::asterisk::memory_objects::MemoryWizard;
use crate::asterisk::pjsip::{RxRequest, TxResponse};
use crate::asterisk::registration::{Kind, Registration};
use crate::asterisk::sorcery_types::{self, SorceryTypes, POLICY_TYPE};
use crate::asterisk::{allocator, guard, logger};
use crate::policy::config::{apply_reload, parse_sections};

/// Everything the module registered with Asterisk. Fields drop in declaration order, so the
/// order here is the teardown order: first what brings new work in, last the secondaries'
/// objects that work may still read.
struct Registrations {
    _busy_lamp: Registration,
    _reload_observer: Registration,
    _background: Registration,
    _push_wake: Registration,
    _queue_events: Registration,
    _security_events: Registration,
    _contact_observer: Registration,
    _pjsip_services: Registration,
    _manager_actions: Registration,
    _dial_features: DialFeaturesRegistration,
    _dialplan: Registration,
    _cli: Registration,
    _secondaries: secondaries::Secondaries,
    _sorcery_types: SorceryTypes,
}

static REGISTRATIONS: Mutex<Option<Registrations>> = Mutex::new(None);

/// Empties the tables a load builds again (also after a refused unload, when calls in progress
/// must keep their state).
fn reset_tables() {
    state::reset();
    authblock::reset();
    logout::reset();
    books::clear();
    policies::replace(Default::default());
    push_wake::clear();
    push_bindings::clear();
    policy_source::reset();
    cluster_lock::reset();
}

/// Empties every table the module keeps in statics, returning their memory: dlclose unmaps the
/// statics without dropping what they hold.
fn forget_state() {
    reset_tables();
    book_warmup::reset();
    busy_lamp::forget_calls();
    device_events::forget_pending();
    events::forget_arrivals();
    dial_features::forget_calls();
    texts::forget();
    crate::policy::classify::forget_builtins();
}

/// The module as Asterisk sees it.
pub struct Multireg;

impl AsteriskModule for Multireg {
    fn load() -> Result<(), String> {
        logger::install();
        guard::install_quiet_panic_hook();
        reset_tables();
        book_warmup::reset();
        stats::reset();
        // Built in load order; a failure drops what was built so far, in reverse.
        let sorcery_types = SorceryTypes::register()?;
        cluster::refresh();
        cluster_lock::configure();
        ring_mode_store::migrate_astdb_modes();
        push_bindings::load();
        logout::load();
        let secondaries = secondaries::Secondaries::start(MemoryWizard::map()?);
        if let Err(reason) = apply_policies(true) {
            tracing::error!("multireg: {reason}; starting without type=multireg policies");
        }
        let cli = Registration::new(Kind::CliCommands)?;
        let dialplan = Registration::new(Kind::DialplanItems)?;
        let dial_features = DialFeaturesRegistration::start(dial_features::on_dial)?;
        let manager_actions = Registration::new(Kind::ManagerActions)?;
        let pjsip_services = Registration::new(Kind::PjsipServices)?;
        let contact_observer = Registration::new(Kind::ContactObserver)?;
        let security_events = Registration::new(Kind::SecurityEvents)?;
        let queue_events = Registration::new(Kind::QueueEvents)?;
        let state_interfaces = events::remember_current_members();
        let push_wake = Registration::new(Kind::PushWake)?;
        let reload_observer = Registration::new(Kind::PjsipReloadObserver)?;
        let busy_lamp = Registration::new(Kind::BusyLamp)?;
        busy_lamp::find_early_watchers(&state_interfaces);
        let background = Registration::new(Kind::BackgroundSerializer)?;
        let registrations = Registrations {
            _busy_lamp: busy_lamp,
            _reload_observer: reload_observer,
            _background: background,
            _push_wake: push_wake,
            _queue_events: queue_events,
            _security_events: security_events,
            _contact_observer: contact_observer,
            _pjsip_services: pjsip_services,
            _manager_actions: manager_actions,
            _dial_features: dial_features,
            _dialplan: dialplan,
            _cli: cli,
            _secondaries: secondaries,
            _sorcery_types: sorcery_types,
        };
        *REGISTRATIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(registrations);
        // The contact observer is in place: removals during the reads are seen.
        book_warmup::start();
        allocator::return_free_memory();
        Ok(())
    }

    fn unload() {
        book_warmup::stop();
        let registrations = REGISTRATIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        drop(registrations);
    }

    /// Each unload/load cycle would otherwise lose the policies, books and tables.
    fn unloaded() {
        forget_state();
        allocator::return_free_memory();
    }

    fn reload() -> Result<(), String> {
        reload()
    }

    fn on_request(request: &RxRequest<'_>) -> bool {
        if request.is_register() {
            return registrar::on_register(request);
        }
        if request.method() == "INVITE" {
            return call_limit::refuse_over_call_limit(request);
        }
        false
    }

    fn on_request_failed(request: &RxRequest<'_>) -> bool {
        registrar::refuse_after_internal_error(request)
    }

    fn on_early_request(request: &RxRequest<'_>) -> bool {
        authblock::refuse_if_blocked(request)
    }

    fn on_response(response: &TxResponse<'_>) {
        push_bindings::on_response(response);
        registrar::on_response(response);
    }

    fn cli(command: CliCommand, args: &[String], out: &mut String) -> CliOutcome {
        cli::execute(command, args, out)
    }

    fn cli_candidates(command: CliCommand, position: usize, word: &str) -> Vec<String> {
        cli::candidates(command, position, word)
    }

    fn ami(request: &AmiRequest) {
        ami::execute(request)
    }

    fn application(app: DialplanApp, channel: &Channel<'_>, data: &str) -> i32 {
        dialplan::run_application(app, channel, data)
    }

    fn read_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str) -> Result<String, String> {
        dialplan::read_function(function, channel, data)
    }

    fn read_dial(channel: Option<&Channel<'_>>, data: &str, limit: Option<usize>) -> Result<String, String> {
        dialplan::read_dial(channel, data, limit)
    }

    fn write_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str, value: &str) -> Result<(), String> {
        dialplan::write_function(function, channel, data, value)
    }

    /// After res_pjsip (re)loaded all its object types, our `multireg` type included: re-read
    /// the policies and re-derive the secondaries once.
    fn pjsip_loaded(_when: &str) {
        cluster::refresh();
        if let Err(reason) = apply_policies(true) {
            tracing::error!("multireg configuration not reloaded, previous settings stay in force: {reason}");
        }
        allocator::return_free_memory();
    }

    fn contact_removed(contact: &RemovedContact) {
        // The event first: it tells what the book learned of the device, which the book forgets.
        device_events::unregistered(contact);
        registrar::on_contact_removed(&contact.aor, &contact.uri);
    }

    fn challenge_sent(address: std::net::IpAddr, nonce: &[u8]) {
        authblock::challenge_sent(address, nonce);
    }

    fn wants_auth_event(outcome: AuthOutcome) -> bool {
        // A success for every registration: with nothing to forgive it ends before its text is
        // copied.
        outcome == AuthOutcome::Failed || authblock::tracks_failures()
    }

    fn auth_event(outcome: AuthOutcome, account: &str, address: &str, challenge: &str) {
        let Some(address) = crate::policy::authblock::security_event_address(address) else { return };
        match outcome {
            AuthOutcome::Failed => authblock::record_failure(account, address, challenge),
            AuthOutcome::Succeeded => authblock::record_success(account, address),
        }
    }

    fn queue_member_added(queue: &str, interface: &str, state_interface: &str) {
        events::member_added(queue, interface, state_interface)
    }

    fn busy_lamp_state(extension: &str) -> i32 {
        busy_lamp::asked(extension).raw()
    }

    fn background_work() {
        book_warmup::run();
    }

    fn device_state_changed(device: &str) {
        busy_lamp::device_changed(device)
    }
}

/// Re-reads the `multireg` objects (pjsip.conf sections or realtime rows) and applies them.
pub fn reload() -> Result<(), String> {
    sorcery_types::reload(POLICY_TYPE);
    cluster::refresh();
    cluster_lock::configure();
    apply_policies(true)
}

/// Applies the `multireg` objects: a section with an error is reported with its name and reason,
/// and keeps its last good settings. Unless `always`, objects equal to the last applied ones
/// are left alone (nothing to re-derive, no errors logged twice).
fn apply_policies(always: bool) -> Result<(), String> {
    let Some(sections) = policy_source::read(policies::current().len()) else { return Ok(()) };
    if !policy_source::changed(&sections) && !always {
        return Ok(());
    }
    let (parsed, errors) = parse_sections(&sections);
    for error in &errors {
        tracing::error!("{error}; this section is ignored (its last good settings, if any, stay in force)");
    }
    // The new configuration and the secondaries derived from it, with no other sync between.
    let mut index = policies::current();
    secondaries::sync_after(|| {
        index = policies::replace(apply_reload(&index.sections(), parsed, &errors));
        // Defaults may have changed, and an administrator may have edited the astdb.
        state::STATE.lock().ring_modes.clear();
    });
    books::retain(|endpoint| index.for_endpoint(endpoint).is_some());
    busy_lamp::policies_applied();
    texts::release_unused();
    authblock::configure(index.sorted().iter().map(|config| &**config));
    for config in index.sorted() {
        registrar::check_aor_settings(&config);
    }
    tracing::debug!("multireg: {} extension policies active", index.len());
    Ok(())
}
