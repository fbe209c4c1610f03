//! Dialplan applications RingMode and MultiregDial, functions MULTIREG_DIAL and RING_MODE.
use super::registrar::endpoint_aors;
use super::ring_mode_store;
use crate::asterisk::channel::{active_channels, Channel};
use crate::asterisk::dialfx::uniqueid;
use crate::asterisk::dialplan::{DialplanApp, DialplanFunction};
use crate::asterisk::sorcery;
use crate::policy::call_plan::{self, CallPlan};
use crate::policy::calls::endpoint_of_channel;
use crate::policy::config::MultiregConfig;
use crate::policy::dialstring::DialTargets;
use crate::policy::ringmode::{parse_ringmode_args, PromptSession, PromptStep, RingMode, DEFAULT_PROMPT_TRIES};

/// Stock core sound played after a key other than 1, 2 or 3.
const INVALID_KEY_SOUND: &str = "invalid";

/// Channel variable MULTIREG_DIAL and MultiregDial set: OK, BUSY, UNAVAILABLE or INVALID.
const STATUS_VARIABLE: &str = "MULTIREG_DIAL_STATUS";

/// Registered Contact URIs of an endpoint; the AORs of a policy endpoint go through its books.
pub(super) fn contacts_of(endpoint: &str) -> Vec<String> {
    let policies = super::policies::current();
    let aors = endpoint_aors(endpoint);
    match policies.for_endpoint(endpoint) {
        Some((config, _)) => aors.iter().flat_map(|aor| super::registrar::dial_contact_uris(aor, config)).collect(),
        None => aors.iter().flat_map(|aor| sorcery::aor_reachable_contact_uris(aor)).collect(),
    }
}

/// Calls on both devices of the extension, not counting devices only ringing.
pub fn active_calls(config: &MultiregConfig) -> u32 {
    let mut calls = active_channels(&config.endpoint);
    if let Some(secondary) = config.secondary_endpoint() {
        calls += active_channels(&secondary);
    }
    calls
}

/// The plan for a call to `extension`: the policy decides, this supplies what Asterisk knows.
pub fn plan_call(extension: &str) -> Result<CallPlan, String> {
    let config = super::policies::for_extension(extension.trim());
    let policy = config.as_ref().map(|config| (&**config, ring_mode_store::current(config)));
    let calls = || config.as_ref().map(|config| active_calls(config)).unwrap_or(0);
    let plan = call_plan::plan_call(extension.trim(), policy, &calls, &contacts_of)?;
    if let CallPlan::Ring { skipped, .. } | CallPlan::Unavailable { skipped } = &plan {
        for skip in skipped {
            tracing::warn!("multireg: not dialling contact {:?}: {}", skip.uri, skip.reason);
        }
    }
    Ok(plan)
}

pub fn run_application(app: DialplanApp, channel: &Channel<'_>, data: &str) -> i32 {
    match app {
        DialplanApp::RingMode => ring_mode_application(channel, data),
        DialplanApp::MultiregDial => multireg_dial_application(channel, data),
        DialplanApp::MultiregFlip => super::dial_features::flip_application(channel, data),
        DialplanApp::MultiregDelayedRing => super::dial_features::delayed_ring_application(channel, data),
        DialplanApp::PushWake => super::push_wake::run(channel, data),
    }
}

/// MultiregDial(extension[,timeout[,options]]): Dial with the extension's dial string.
fn multireg_dial_application(channel: &Channel<'_>, data: &str) -> i32 {
    let plan = call_plan::parse_dial_args(data).and_then(|args| plan_call(&args.extension).map(|plan| (args, plan)));
    let plan = plan.map(|(args, plan)| {
        let plan = with_push_targets(&args.extension, plan, channel);
        (args, plan)
    });
    match plan {
        Err(reason) => {
            tracing::warn!("MultiregDial({data}): {reason}");
            channel.set_variable(STATUS_VARIABLE, "INVALID");
            channel.set_variable("DIALSTATUS", "INVALIDARGS");
            0
        }
        Ok((args, CallPlan::Busy(reason))) => {
            tracing::debug!("MultiregDial({}): busy: {reason}", args.extension);
            channel.set_variable(STATUS_VARIABLE, "BUSY");
            channel.set_variable("DIALSTATUS", "BUSY");
            0
        }
        Ok((_, CallPlan::Unavailable { .. })) => {
            channel.set_variable(STATUS_VARIABLE, "UNAVAILABLE");
            channel.set_variable("DIALSTATUS", "CHANUNAVAIL");
            0
        }
        Ok((args, CallPlan::Ring { targets, .. })) => {
            channel.set_variable(STATUS_VARIABLE, "OK");
            // The busy lamp counts a call to the remote destination while Dial runs.
            let _remote_call = super::busy_lamp::remote_call(&args.extension, &channel.name(), &targets.joined());
            dial_targets(channel, &args, &targets)
        }
    }
}

/// Runs Dial for a call that rings, with the extension's All Reject Mode and staggered ring.
fn dial_targets(channel: &Channel<'_>, args: &call_plan::DialArgs, targets: &DialTargets) -> i32 {
    use super::dial_features::{staggered_targets, PendingGroups, RejectCall};
    let config = super::policies::for_extension(args.extension.trim());
    let features = config.as_ref().map(|config| &config.dial);
    let reject = match features {
        Some(features) if features.all_reject_mode => RejectCall::start(uniqueid(channel), &features.all_reject_codes),
        _ => None,
    };
    let (dial, _groups) = match &config {
        Some(config) if config.dial.staggered() => staggered_targets(config, targets, reject.as_ref().map(RejectCall::id)),
        _ => (targets.joined(), PendingGroups::default()),
    };
    let result = match channel.exec("Dial", &args.dial_data_for(&dial)) {
        Ok(result) => result,
        Err(reason) => {
            tracing::error!("MultiregDial: {reason}");
            channel.set_variable("DIALSTATUS", "CHANUNAVAIL");
            return 0;
        }
    };
    if let Some((device, code)) = reject.as_ref().and_then(RejectCall::finish) {
        tracing::info!("MultiregDial({}): {device} declined with {code}; DIALSTATUS is BUSY (All Reject Mode)", args.extension);
        channel.set_variable("DIALSTATUS", "BUSY");
    }
    result
}

/// RFC 8599: the extension's push devices to wake join the targets (also when no device is
/// registered now); a busy extension wakes nothing.
fn with_push_targets(extension: &str, plan: CallPlan, channel: &Channel<'_>) -> CallPlan {
    let Some(config) = super::policies::for_extension(extension.trim()) else { return plan };
    if config.push_providers.is_empty() {
        return plan;
    }
    let (mut targets, skipped) = match plan {
        CallPlan::Ring { targets, skipped } => (targets, skipped),
        CallPlan::Unavailable { skipped } => (Default::default(), skipped),
        busy @ CallPlan::Busy(_) => return busy,
    };
    targets.contacts.extend(super::push_wake::targets(&config, ring_mode_store::current(&config), channel));
    if targets.is_empty() {
        CallPlan::Unavailable { skipped }
    } else {
        CallPlan::Ring { targets, skipped }
    }
}

/// The extension a RingMode() call is about: the argument, or the calling device's extension.
fn extension_for(channel: &Channel<'_>, given: Option<String>) -> Result<std::sync::Arc<MultiregConfig>, String> {
    let name = match given {
        Some(extension) => extension,
        None => endpoint_of_channel(&channel.name())
            .map(str::to_string)
            .ok_or_else(|| format!("RingMode: no extension given and {} is not a PJSIP device", channel.name()))?,
    };
    super::policies::for_extension(&name).ok_or_else(|| format!("RingMode: extension {name} has no type=multireg policy"))
}

/// RingMode([extension[,mode]]): set directly, or prompt 1/2/3 with up to three tries.
fn ring_mode_application(channel: &Channel<'_>, data: &str) -> i32 {
    let args = match parse_ringmode_args(data) {
        Ok(args) => args,
        Err(reason) => {
            tracing::warn!("RingMode({data}): {reason}");
            channel.set_variable("RINGMODE_STATUS", "INVALID");
            return 0;
        }
    };
    let config = match extension_for(channel, args.extension) {
        Ok(config) => config,
        Err(reason) => {
            tracing::warn!("{reason}");
            channel.set_variable("RINGMODE_STATUS", "INVALID");
            return 0;
        }
    };
    if let Some(mode) = args.mode {
        return store_mode(channel, &config, mode);
    }
    if !channel.answer() {
        return -1;
    }
    let mut session = PromptSession::new(DEFAULT_PROMPT_TRIES);
    loop {
        let input = match channel.prompt_digit(&config.ring_mode_prompt, config.ring_mode_timeout as i32 * 1000) {
            Ok(input) => input,
            Err(()) => return -1,
        };
        match session.on_input(input) {
            PromptStep::Confirm(mode) => {
                let result = store_mode(channel, &config, mode);
                if result == 0 && !channel.play(&config.ring_mode_confirm) {
                    return -1;
                }
                return result;
            }
            PromptStep::Reprompt { .. } => {
                if input.is_some() && !channel.play(INVALID_KEY_SOUND) {
                    return -1;
                }
            }
            PromptStep::GiveUp => {
                tracing::info!(
                    "multireg: RingMode on {}: no valid choice after {} tries, mode unchanged",
                    channel.name(),
                    session.tries_used()
                );
                channel.set_variable("RINGMODE_STATUS", "TIMEOUT");
                channel.play("goodbye");
                return -1;
            }
        }
    }
}

fn store_mode(channel: &Channel<'_>, config: &MultiregConfig, mode: RingMode) -> i32 {
    match ring_mode_store::set(config, mode, &channel.name()) {
        Ok(_) => {
            channel.set_variable("RINGMODE_STATUS", "SET");
            channel.set_variable("RINGMODE", mode.as_str());
            0
        }
        Err(reason) => {
            tracing::error!("{reason}");
            channel.set_variable("RINGMODE_STATUS", "FAILED");
            0
        }
    }
}

pub fn read_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str) -> Result<String, String> {
    let extension = data.trim();
    match function {
        DialplanFunction::MultiregDial => read_dial(channel, data, None),
        DialplanFunction::RingMode => {
            let config = super::policies::for_extension(extension)
                .ok_or_else(|| format!("RING_MODE({extension}): no type=multireg policy"))?;
            Ok(ring_mode_store::current(&config).as_str().to_string())
        }
    }
}

/// MULTIREG_DIAL(extension) into a caller's buffer of at most `max_len` bytes (None: no limit).
/// Only whole targets are returned; when some do not fit, MULTIREG_DIAL_STATUS is PARTIAL.
pub fn read_dial(channel: Option<&Channel<'_>>, data: &str, max_len: Option<usize>) -> Result<String, String> {
    let extension = data.trim();
    let plan = plan_call(extension).map_err(|reason| format!("MULTIREG_DIAL({extension}): {reason}"));
    let (status, value) = match &plan {
        Ok(CallPlan::Ring { targets, .. }) => match max_len {
            None => ("OK", targets.joined()),
            Some(max_len) => {
                let (dial, omitted) = targets.fit(max_len);
                if omitted > 0 {
                    tracing::warn!(
                        "MULTIREG_DIAL({extension}): {omitted} of {} dial targets left out: the caller reads at most \
                         {max_len} bytes (MultiregDial({extension}) rings them all)",
                        targets.count()
                    );
                }
                (if omitted > 0 { "PARTIAL" } else { "OK" }, dial)
            }
        },
        Ok(CallPlan::Busy(_)) => ("BUSY", String::new()),
        Ok(CallPlan::Unavailable { .. }) => ("UNAVAILABLE", String::new()),
        Err(_) => ("INVALID", String::new()),
    };
    // A stand-in channel is discarded right after: setting the status there would only
    // publish a VarSet event.
    if let Some(channel) = channel.filter(|channel| !channel.is_dummy()) {
        channel.set_variable(STATUS_VARIABLE, status);
    }
    plan.map(|_| value)
}

pub fn write_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str, value: &str) -> Result<(), String> {
    if function != DialplanFunction::RingMode {
        return Err("MULTIREG_DIAL is read-only".into());
    }
    let extension = data.trim();
    let config =
        super::policies::for_extension(extension).ok_or_else(|| format!("RING_MODE({extension}): no type=multireg policy"))?;
    let mode: RingMode = value.parse().map_err(|e| format!("RING_MODE({extension})={value}: {e}"))?;
    let by = channel.map(|c| c.name()).unwrap_or_else(|| "dialplan".into());
    ring_mode_store::set(&config, mode, &by).map(|_| ())
}
