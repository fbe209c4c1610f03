//! Dialplan applications RingMode and MultiregDial, functions MULTIREG_DIAL and RING_MODE.
use super::registrar::endpoint_aors;
use super::ringmodes;
use crate::asterisk::channel::{active_channels, Channel};
use crate::asterisk::dialplan::{DialplanApp, DialplanFunction};
use crate::asterisk::sorcery;
use crate::policy::calls::endpoint_of_channel;
use crate::policy::config::MultiregConfig;
use crate::policy::dialstring::{build_dial_string, DialTargets};
use crate::policy::names::validate_extension_name;
use crate::policy::ringmode::{parse_ringmode_args, ring_targets, PromptSession, PromptStep, RingMode, DEFAULT_PROMPT_TRIES};

/// Stock core sound played after a key other than 1, 2 or 3.
const INVALID_KEY_SOUND: &str = "invalid";

/// Channel variable MULTIREG_DIAL and MultiregDial set: OK, BUSY, UNAVAILABLE or INVALID.
const STATUS_VARIABLE: &str = "MULTIREG_DIAL_STATUS";

/// What calling an extension should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum DialPlan {
    Ring(DialTargets),
    /// All Busy Mode or the concurrent call limit: ring nothing.
    Busy(String),
    /// No registered device on the chosen side.
    Unavailable,
}

fn contacts_for(endpoint: &str) -> Vec<(String, String)> {
    endpoint_aors(endpoint)
        .iter()
        .flat_map(|aor| sorcery::aor_contact_uris(aor))
        .map(|uri| (endpoint.to_string(), uri))
        .filter(|(_, uri)| !uri.is_empty())
        .collect()
}

/// Calls on both devices of the extension, not counting devices only ringing.
pub fn active_calls(config: &MultiregConfig) -> u32 {
    let mut calls = active_channels(&config.endpoint);
    if let Some(secondary) = config.secondary_endpoint() {
        calls += active_channels(&secondary);
    }
    calls
}

pub fn plan_call(extension: &str) -> Result<DialPlan, String> {
    validate_extension_name(extension)?;
    let Some(config) = ringmodes::policy_for(extension) else {
        // No policy: every registered device of the endpoint, like PJSIP_DIAL_CONTACTS.
        return Ok(finish(contacts_for(extension), None));
    };
    // Counting channels walks Asterisk's channel list: only when a rule needs it, and once.
    let calls = if config.all_busy_mode || config.max_concurrent_calls > 0 { active_calls(&config) } else { 0 };
    if config.all_busy_mode && calls > 0 {
        return Ok(DialPlan::Busy(format!("{} is in a call (All Busy Mode)", config.endpoint)));
    }
    if config.max_concurrent_calls > 0 && calls >= config.max_concurrent_calls {
        return Ok(DialPlan::Busy(format!("{} reached max_concurrent_calls={}", config.endpoint, config.max_concurrent_calls)));
    }
    let secondary = config.secondary_endpoint();
    let remote = Some(config.remote_destination.as_str()).filter(|r| !r.is_empty());
    let targets = ring_targets(ringmodes::current(&config), secondary.as_deref(), remote);
    let mut pairs = Vec::new();
    if targets.primary {
        pairs.extend(contacts_for(&config.endpoint));
    }
    if let (true, Some(secondary)) = (targets.secondary, secondary.as_deref()) {
        pairs.extend(contacts_for(secondary));
    }
    Ok(finish(pairs, targets.remote_destination))
}

fn finish(pairs: Vec<(String, String)>, remote_destination: Option<String>) -> DialPlan {
    let (dial, skipped) = build_dial_string(&pairs);
    for skip in skipped {
        tracing::warn!("multireg: not dialling contact {:?}: {}", skip.uri, skip.reason);
    }
    let contacts = dial.split('&').filter(|t| !t.is_empty()).map(str::to_string).collect();
    let targets = DialTargets { contacts, remote: remote_destination };
    if targets.is_empty() {
        DialPlan::Unavailable
    } else {
        DialPlan::Ring(targets)
    }
}

pub fn run_application(app: DialplanApp, channel: &Channel<'_>, data: &str) -> i32 {
    match app {
        DialplanApp::RingMode => ring_mode_application(channel, data),
        DialplanApp::MultiregDial => multireg_dial_application(channel, data),
    }
}

/// MultiregDial(extension[,timeout[,options]]): Dial with the extension's dial string.
fn multireg_dial_application(channel: &Channel<'_>, data: &str) -> i32 {
    let mut parts = data.splitn(3, ',');
    let extension = parts.next().unwrap_or("").trim();
    let timeout = parts.next().unwrap_or("").trim();
    let options = parts.next().unwrap_or("").trim();
    if !timeout.chars().all(|c| c.is_ascii_digit()) {
        tracing::warn!("MultiregDial: timeout '{timeout}' is not a number of seconds");
        channel.set_variable(STATUS_VARIABLE, "INVALID");
        channel.set_variable("DIALSTATUS", "INVALIDARGS");
        return 0;
    }
    match plan_call(extension) {
        Err(reason) => {
            tracing::warn!("MultiregDial({data}): {reason}");
            channel.set_variable(STATUS_VARIABLE, "INVALID");
            channel.set_variable("DIALSTATUS", "INVALIDARGS");
            0
        }
        Ok(DialPlan::Busy(reason)) => {
            tracing::debug!("MultiregDial({extension}): busy: {reason}");
            channel.set_variable(STATUS_VARIABLE, "BUSY");
            channel.set_variable("DIALSTATUS", "BUSY");
            0
        }
        Ok(DialPlan::Unavailable) => {
            channel.set_variable(STATUS_VARIABLE, "UNAVAILABLE");
            channel.set_variable("DIALSTATUS", "CHANUNAVAIL");
            0
        }
        Ok(DialPlan::Ring(targets)) => {
            channel.set_variable(STATUS_VARIABLE, "OK");
            match channel.exec("Dial", &format!("{},{timeout},{options}", targets.joined())) {
                Ok(result) => result,
                Err(reason) => {
                    tracing::error!("MultiregDial: {reason}");
                    channel.set_variable("DIALSTATUS", "CHANUNAVAIL");
                    0
                }
            }
        }
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
    ringmodes::policy_for(&name).ok_or_else(|| format!("RingMode: extension {name} has no type=multireg policy"))
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
    match ringmodes::set(config, mode, &channel.name()) {
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
            let config =
                ringmodes::policy_for(extension).ok_or_else(|| format!("RING_MODE({extension}): no type=multireg policy"))?;
            Ok(ringmodes::current(&config).as_str().to_string())
        }
    }
}

/// MULTIREG_DIAL(extension) into a caller's buffer of at most `max_len` bytes (None: no limit).
/// Only whole targets are returned; when some do not fit, MULTIREG_DIAL_STATUS is PARTIAL.
pub fn read_dial(channel: Option<&Channel<'_>>, data: &str, max_len: Option<usize>) -> Result<String, String> {
    let extension = data.trim();
    let plan = plan_call(extension).map_err(|reason| format!("MULTIREG_DIAL({extension}): {reason}"));
    let (status, value) = match &plan {
        Ok(DialPlan::Ring(targets)) => match max_len {
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
        Ok(DialPlan::Busy(_)) => ("BUSY", String::new()),
        Ok(DialPlan::Unavailable) => ("UNAVAILABLE", String::new()),
        Err(_) => ("INVALID", String::new()),
    };
    if let Some(channel) = channel {
        channel.set_variable(STATUS_VARIABLE, status);
    }
    plan.map(|_| value)
}

pub fn write_function(function: DialplanFunction, channel: Option<&Channel<'_>>, data: &str, value: &str) -> Result<(), String> {
    if function != DialplanFunction::RingMode {
        return Err("MULTIREG_DIAL is read-only".into());
    }
    let extension = data.trim();
    let config = ringmodes::policy_for(extension).ok_or_else(|| format!("RING_MODE({extension}): no type=multireg policy"))?;
    let mode: RingMode = value.parse().map_err(|e| format!("RING_MODE({extension})={value}: {e}"))?;
    let by = channel.map(|c| c.name()).unwrap_or_else(|| "dialplan".into());
    ringmodes::set(&config, mode, &by).map(|_| ())
}

/// A new outgoing call from either device of an extension at its max_concurrent_calls gets
/// 486 Busy Here. Returns true when refused.
pub fn refuse_over_call_limit(request: &crate::asterisk::pjsip::RxRequest<'_>) -> bool {
    if !request.is_initial() {
        return false;
    }
    let Some(endpoint) = request.endpoint() else { return false };
    let name = endpoint.id();
    let policies = super::policies::current();
    let Some(config) = policies.for_extension(name) else { return false };
    if config.max_concurrent_calls == 0 || active_calls(config) < config.max_concurrent_calls {
        return false;
    }
    tracing::info!(
        "multireg: refused call from {name}: extension {} is at max_concurrent_calls={}",
        config.endpoint,
        config.max_concurrent_calls
    );
    request.respond(486, "Busy Here - concurrent call limit reached");
    true
}
