//! Wires the policy to Asterisk: load, unload, reload, and the request/dialplan/CLI/AMI entry
//! points. Only safe wrappers from `crate::asterisk` are used here.
pub mod ami;
pub mod authblock;
pub mod cli;
pub mod dialplan;
pub mod events;
pub mod registrar;
pub mod ringmodes;
pub mod secondaries;
pub mod state;
pub mod views;

use crate::asterisk::{cli as ast_cli, config, dialplan as ast_dialplan, guard, logger, manager, memory_objects, pjsip};
use crate::policy::config::{apply_reload, parse_sections};

pub fn load() -> Result<(), String> {
    logger::install();
    guard::install_quiet_panic_hook();
    state::reset();
    secondaries::reset();
    if !memory_objects::setup() {
        return Err("could not map the memory wizard for secondary endpoints".into());
    }
    if let Err(reason) = reload() {
        tracing::error!("multireg: {reason}; starting without type=multireg policies");
    }
    if !pjsip::register_service() || !pjsip::register_guard() {
        unload();
        return Err("could not register the PJSIP services".into());
    }
    events::start();
    let registered = ast_cli::register() & ast_dialplan::register() & manager::register() & ast_dialplan::observe_pjsip_reloads();
    if !registered {
        unload();
        return Err("could not register CLI commands, dialplan applications, AMI actions or the reload observer".into());
    }
    Ok(())
}

pub fn unload() {
    ast_dialplan::stop_observing_pjsip_reloads();
    events::stop();
    pjsip::unregister_guard();
    pjsip::unregister_service();
    manager::unregister();
    ast_dialplan::unregister();
    ast_cli::unregister();
    secondaries::teardown();
}

/// Re-reads the type=multireg sections of pjsip.conf. A section with an error is reported with
/// its name and reason, and keeps its last good settings.
pub fn reload() -> Result<(), String> {
    let sections = config::load_sections("pjsip.conf", "multireg")?;
    let (parsed, errors) = parse_sections(&sections);
    for error in &errors {
        tracing::error!("{error}; this section is ignored (its last good settings, if any, stay in force)");
    }
    // The new configuration and the secondaries derived from it, with no other sync between.
    let mut configs = Vec::new();
    secondaries::sync_after(|| {
        let mut state = state::STATE.lock();
        state.configs = apply_reload(&state.configs, parsed, &errors);
        // Defaults may have changed, and an administrator may have edited the astdb.
        state.ring_modes.clear();
        configs = state.configs.values().cloned().collect::<Vec<_>>();
    });
    for config in &configs {
        registrar::check_aor_settings(config);
    }
    tracing::debug!("multireg: {} extension policies active", configs.len());
    Ok(())
}

/// Called for every request PJSIP routes past us. Returns true when we answered it.
pub fn on_request(request: &pjsip::RxRequest<'_>) -> bool {
    if request.is_register() {
        return registrar::on_register(request);
    }
    if request.method() == "INVITE" {
        return dialplan::refuse_over_call_limit(request);
    }
    false
}
