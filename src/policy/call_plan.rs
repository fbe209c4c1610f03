//! What calling an extension does: All Busy Mode and the concurrent-call limit, the sides the ring
//! mode chooses, and the one set of Dial targets built from them. Also MultiregDial's arguments.
//! The module supplies what only Asterisk knows (calls in progress, registered contacts) as
//! closures, so every rule stays here and is tested without Asterisk.
use crate::policy::config::MultiregConfig;
use crate::policy::dialstring::{build_dial_string, DialTargets, SkippedContact};
use crate::policy::names::validate_extension_name;
use crate::policy::ringmode::{ring_targets, RingMode};

/// What calling an extension should do now.
#[derive(Debug, PartialEq, Eq)]
pub enum CallPlan {
    /// Ring these targets; `skipped` are contacts that could not be dialled safely (logged).
    Ring { targets: DialTargets, skipped: Vec<SkippedContact> },
    /// All Busy Mode or the concurrent call limit: ring nothing.
    Busy(String),
    /// No registered device on the chosen side, and no remote destination.
    Unavailable { skipped: Vec<SkippedContact> },
}

/// Whether the extension is busy for a new call: All Busy Mode with a call in progress, or the
/// concurrent-call limit reached. `active_calls` is asked only when a rule needs it (it walks
/// Asterisk's channels).
pub fn busy_reason(config: &MultiregConfig, active_calls: &dyn Fn() -> u32) -> Option<String> {
    if !config.all_busy_mode && config.max_concurrent_calls == 0 {
        return None;
    }
    let calls = active_calls();
    if config.all_busy_mode && calls > 0 {
        return Some(format!("{} is in a call (All Busy Mode)", config.endpoint));
    }
    if config.max_concurrent_calls > 0 && calls >= config.max_concurrent_calls {
        return Some(format!("{} reached max_concurrent_calls={}", config.endpoint, config.max_concurrent_calls));
    }
    None
}

/// Whether a new outgoing call from a device of the extension is over its concurrent-call limit.
pub fn call_limit_reached(config: &MultiregConfig, active_calls: &dyn Fn() -> u32) -> bool {
    config.max_concurrent_calls > 0 && active_calls() >= config.max_concurrent_calls
}

/// The plan for a call to `extension`. `policy` is its policy and stored ring mode, if it has
/// one; `contacts_of(endpoint)` gives the registered Contact URIs of an endpoint.
pub fn plan_call(
    extension: &str,
    policy: Option<(&MultiregConfig, RingMode)>,
    active_calls: &dyn Fn() -> u32,
    contacts_of: &dyn Fn(&str) -> Vec<String>,
) -> Result<CallPlan, String> {
    validate_extension_name(extension)?;
    let Some((config, mode)) = policy else {
        // No policy: every registered device of the endpoint, like PJSIP_DIAL_CONTACTS.
        return Ok(finish(targets_of(&[extension], contacts_of), None));
    };
    if let Some(reason) = busy_reason(config, active_calls) {
        return Ok(CallPlan::Busy(reason));
    }
    let secondary = config.secondary_endpoint();
    let remote = Some(config.remote_destination.as_str()).filter(|r| !r.is_empty());
    let sides = ring_targets(mode, secondary.as_deref(), remote);
    let mut endpoints: Vec<&str> = Vec::new();
    if sides.primary {
        endpoints.push(&config.endpoint);
    }
    if let (true, Some(secondary)) = (sides.secondary, secondary.as_deref()) {
        endpoints.push(secondary);
    }
    Ok(finish(targets_of(&endpoints, contacts_of), sides.remote_destination))
}

fn targets_of(endpoints: &[&str], contacts_of: &dyn Fn(&str) -> Vec<String>) -> Vec<(String, String)> {
    endpoints
        .iter()
        .flat_map(|endpoint| contacts_of(endpoint).into_iter().map(move |uri| (endpoint.to_string(), uri)))
        .filter(|(_, uri)| !uri.is_empty())
        .collect()
}

fn finish(pairs: Vec<(String, String)>, remote: Option<String>) -> CallPlan {
    let (dial, skipped) = build_dial_string(&pairs);
    let contacts = dial.split('&').filter(|t| !t.is_empty()).map(str::to_string).collect();
    let targets = DialTargets { contacts, remote };
    if targets.is_empty() {
        CallPlan::Unavailable { skipped }
    } else {
        CallPlan::Ring { targets, skipped }
    }
}

/// `MultiregDial(extension[,timeout[,options]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialArgs {
    pub extension: String,
    /// Seconds (digits only) or empty: as Dial's timeout.
    pub timeout: String,
    /// Dial's options, passed through.
    pub options: String,
}

pub fn parse_dial_args(data: &str) -> Result<DialArgs, String> {
    let mut parts = data.splitn(3, ',');
    let extension = parts.next().unwrap_or("").trim().to_string();
    let timeout = parts.next().unwrap_or("").trim().to_string();
    let options = parts.next().unwrap_or("").trim().to_string();
    if !timeout.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("timeout '{timeout}' is not a number of seconds"));
    }
    Ok(DialArgs { extension, timeout, options })
}

impl DialArgs {
    /// The data of the Dial application for these targets.
    pub fn dial_data(&self, targets: &DialTargets) -> String {
        self.dial_data_for(&targets.joined())
    }

    /// The data of the Dial application for an already joined target list.
    pub fn dial_data_for(&self, joined: &str) -> String {
        format!("{joined},{},{}", self.timeout, self.options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MultiregConfig {
        let mut config = MultiregConfig::with_defaults("101");
        config.dual_registration = true;
        config
    }

    fn contacts(endpoint: &str) -> Vec<String> {
        match endpoint {
            "101" => vec!["sip:a@10.0.0.1:5060".into(), "sip:b@10.0.0.2:5060".into()],
            "101r" => vec!["sip:r@10.0.0.3:5060".into()],
            _ => Vec::new(),
        }
    }

    fn no_calls() -> u32 {
        0
    }

    fn ring(plan: Result<CallPlan, String>) -> String {
        match plan {
            Ok(CallPlan::Ring { targets, .. }) => targets.joined(),
            other => panic!("expected ringing, got {other:?}"),
        }
    }

    #[test]
    fn the_ring_mode_chooses_the_sides() {
        let config = config();
        let both = ring(plan_call("101", Some((&config, RingMode::Both)), &no_calls, &contacts));
        assert_eq!(both.matches("PJSIP/101/").count(), 2);
        assert_eq!(both.matches("PJSIP/101r/").count(), 1);
        let home = ring(plan_call("101", Some((&config, RingMode::Home)), &no_calls, &contacts));
        assert!(!home.contains("PJSIP/101r/"), "{home}");
        let remote = ring(plan_call("101", Some((&config, RingMode::Remote)), &no_calls, &contacts));
        assert_eq!(remote, "PJSIP/101r/sip:r@10.0.0.3:5060");
    }

    #[test]
    fn a_remote_destination_replaces_the_secondary() {
        let mut config = config();
        config.remote_destination = "PJSIP/0044123@trunk".into();
        let both = ring(plan_call("101", Some((&config, RingMode::Both)), &no_calls, &contacts));
        assert!(both.contains("PJSIP/0044123@trunk") && !both.contains("PJSIP/101r/"), "{both}");
    }

    #[test]
    fn all_busy_mode_and_the_call_limit_ring_nothing() {
        let mut config = config();
        config.all_busy_mode = true;
        let one_call = || 1;
        assert!(matches!(plan_call("101", Some((&config, RingMode::Both)), &one_call, &contacts), Ok(CallPlan::Busy(_))));
        ring(plan_call("101", Some((&config, RingMode::Both)), &no_calls, &contacts));
        let mut config = self::config();
        config.max_concurrent_calls = 2;
        let two_calls = || 2;
        assert!(matches!(plan_call("101", Some((&config, RingMode::Both)), &two_calls, &contacts), Ok(CallPlan::Busy(_))));
        assert!(call_limit_reached(&config, &two_calls));
        assert!(!call_limit_reached(&config, &one_call));
    }

    #[test]
    fn calls_are_counted_only_when_a_rule_needs_them() {
        let counted = std::cell::Cell::new(false);
        let count = || {
            counted.set(true);
            0
        };
        ring(plan_call("101", Some((&config(), RingMode::Both)), &count, &contacts));
        assert!(!counted.get());
        assert!(!call_limit_reached(&config(), &count));
        assert!(!counted.get());
    }

    #[test]
    fn without_a_policy_every_device_rings_and_without_devices_it_is_unavailable() {
        let all = ring(plan_call("101", None, &no_calls, &contacts));
        assert_eq!(all.matches("PJSIP/101/").count(), 2);
        assert!(matches!(plan_call("102", None, &no_calls, &contacts), Ok(CallPlan::Unavailable { .. })));
        assert!(plan_call("10 2", None, &no_calls, &contacts).is_err());
    }

    #[test]
    fn multiregdial_arguments() {
        let args = parse_dial_args("101, 20 ,tT").unwrap();
        assert_eq!((args.extension.as_str(), args.timeout.as_str(), args.options.as_str()), ("101", "20", "tT"));
        assert_eq!(parse_dial_args("101").unwrap().timeout, "");
        assert!(parse_dial_args("101,abc").unwrap_err().contains("'abc'"));
        let targets = DialTargets { contacts: vec!["PJSIP/101/sip:a@h".into()], remote: None };
        assert_eq!(args.dial_data(&targets), "PJSIP/101/sip:a@h,20,tT");
    }
}
