//! CLI: multireg show extensions | show extension <ext> | set ringmode | show blocks | clear blocks.
use std::fmt::Write;

use super::{ring_mode_store, views};
use crate::asterisk::cli::CliCommand;
use crate::asterisk::entry::CliOutcome;
use crate::policy::classify::ClientType;
use crate::policy::ringmode::RingMode;

const SUCCESS: i32 = 0;
const SHOW_USAGE: i32 = 1;
const FAILURE: i32 = 2;

pub fn execute(command: CliCommand, args: &[String], out: &mut String) -> CliOutcome {
    match run(command, args, out) {
        SUCCESS => CliOutcome::Success,
        SHOW_USAGE => CliOutcome::ShowUsage,
        _ => CliOutcome::Failure,
    }
}

fn run(command: CliCommand, args: &[String], out: &mut String) -> i32 {
    match command {
        CliCommand::ShowExtensions if args.len() == 3 => show_extensions(out),
        CliCommand::ShowExtension if args.len() == 4 => show_extension(&args[3], out),
        CliCommand::SetRingMode if args.len() == 5 => set_ring_mode(&args[3], &args[4], out),
        CliCommand::ShowBlocks if args.len() == 3 => blocks_text(out),
        CliCommand::ShowStats if args.len() == 3 => {
            for (name, value) in super::stats::snapshot() {
                let _ = writeln!(out, "{name}: {value}");
            }
            SUCCESS
        }
        CliCommand::ClearBlocks if args.len() == 3 || args.len() == 4 => clear_blocks_text(args.get(3).map(String::as_str), out),
        CliCommand::Logout if args.len() == 4 => match super::logout::logout(&args[2], &args[3], "CLI") {
            Ok(text) => {
                let _ = writeln!(out, "{text}");
                SUCCESS
            }
            Err(reason) => {
                let _ = writeln!(out, "{reason}");
                FAILURE
            }
        },
        CliCommand::ClearLogouts if args.len() == 3 || args.len() == 4 => {
            let cleared = super::logout::clear(args.get(3).map(String::as_str));
            let _ = writeln!(out, "Cleared {cleared} logged-out devices");
            SUCCESS
        }
        _ => SHOW_USAGE,
    }
}

/// Completion for `multireg show extension <ext>` and `multireg set ringmode <ext> <mode>`.
pub fn candidates(command: CliCommand, position: usize, word: &str) -> Vec<String> {
    let extensions = || super::policies::current().sorted().iter().map(|c| c.endpoint.clone()).collect::<Vec<_>>();
    let options = match (command, position) {
        (CliCommand::ShowExtension, 3) | (CliCommand::SetRingMode, 3) | (CliCommand::ClearLogouts, 3) => extensions(),
        (CliCommand::Logout, 2) => extensions(),
        (CliCommand::SetRingMode, 4) => RingMode::ALL.iter().map(|m| m.as_str().to_string()).collect(),
        _ => Vec::new(),
    };
    crate::policy::admin_args::completions(options, word)
}

fn show_extensions(out: &mut String) -> i32 {
    let all = views::extensions();
    let _ = writeln!(
        out,
        "{:<12} {:<9} {:<9} {:<9} {:<9} {:<14} {:<12} {:<9} {:<5}",
        "Extension", "IP phone", "Web", "Desktop", "Mobile", "At limit", "Secondary", "Ring", "Busy"
    );
    let _ = writeln!(out, "{}", "=".repeat(96));
    for view in &all {
        let usage = |t| {
            let (used, limit) = view.usage(t);
            format!("{used}/{limit}")
        };
        let secondary =
            view.config.secondary_endpoint().map(|s| format!("{s} ({})", view.secondary_devices())).unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<12} {:<9} {:<9} {:<9} {:<9} {:<14} {:<12} {:<9} {:<5}",
            view.config.endpoint,
            usage(ClientType::IpPhone),
            usage(ClientType::Web),
            usage(ClientType::Desktop),
            usage(ClientType::Mobile),
            view.config.at_limit.as_str(),
            secondary,
            view.ring_mode,
            if view.busy { "yes" } else { "no" }
        );
    }
    let _ = writeln!(out, "\n{} extensions with a type=multireg policy", all.len());
    SUCCESS
}

fn show_extension(extension: &str, out: &mut String) -> i32 {
    let Some(config) = super::policies::for_extension(extension) else {
        let _ = writeln!(out, "Extension {extension} has no type=multireg policy");
        return FAILURE;
    };
    let view = views::extension(&config);
    let _ = writeln!(out, "Extension:        {}  (section [{}])", config.endpoint, config.section);
    for t in ClientType::ALL {
        let (used, limit) = view.usage(t);
        let _ = writeln!(out, "  {:<16}{used} of {limit}", format!("{}s:", t.display_name()));
    }
    let _ = writeln!(out, "At limit:         {}", config.at_limit.as_str());
    let secondary = config
        .secondary_endpoint()
        .map(|s| format!("{s} (up to {} devices)", config.secondary_max_devices))
        .unwrap_or_else(|| "off".into());
    let _ = writeln!(out, "Secondary:        {secondary}");
    let _ = writeln!(out, "Ring mode:        {}", view.ring_mode);
    let remote = if config.remote_destination.is_empty() { "-" } else { config.remote_destination.as_str() };
    let _ = writeln!(out, "Remote dest.:     {remote}");
    let _ = writeln!(out, "All Busy Mode:    {}", if config.all_busy_mode { "on" } else { "off" });
    let dial = &config.dial;
    let _ = writeln!(
        out,
        "All Reject Mode:  {}",
        if dial.all_reject_mode { format!("on ({})", dial.codes_text()) } else { "off".into() }
    );
    let _ = writeln!(out, "Ring delays (s):  {}", dial.delays_text());
    let limit = if config.max_concurrent_calls == 0 { "unlimited".to_string() } else { config.max_concurrent_calls.to_string() };
    let _ = writeln!(
        out,
        "Calls:            {} active (limit {limit}), busy: {}",
        view.active_calls,
        if view.busy { "yes" } else { "no" }
    );
    let lamp = super::busy_lamp::state(&config.endpoint).display_name();
    let _ = writeln!(out, "Busy lamp:        Multireg:{} ({lamp})", config.endpoint);
    let _ = writeln!(
        out,
        "Logout block:     {} s ({} logged-out devices refused now)",
        config.logout_block_time,
        super::logout::count(&config.endpoint)
    );
    let _ = writeln!(out, "\nDevices: {}", view.devices.len());
    for (index, device) in view.devices.iter().enumerate() {
        let _ =
            writeln!(out, "  {}. {} on {} (AOR {})", index + 1, device.client_type.display_name(), device.endpoint, device.aor);
        let _ = writeln!(out, "     User-Agent: {}", device.user_agent);
        let _ = writeln!(out, "     Contact:    {}", device.contact);
        let _ = writeln!(out, "     Source:     {} {}", device.source, device.transport);
        if !device.reg_server.is_empty() {
            let _ = writeln!(out, "     Node:       {}", device.reg_server);
        }
        let _ = writeln!(out, "     Expires in: {} s", device.expires_in);
        let _ = writeln!(out, "     Why:        {}", device.reason);
    }
    show_push_devices(&config, out);
    SUCCESS
}

/// RFC 8599 push bindings of the primary and the secondary.
fn show_push_devices(config: &crate::policy::config::MultiregConfig, out: &mut String) {
    let providers = if config.push_providers.is_empty() { "off".to_string() } else { config.push_providers.join(",") };
    let endpoints: Vec<String> = std::iter::once(config.endpoint.clone()).chain(config.secondary_endpoint()).collect();
    let bindings: Vec<(String, crate::policy::push::PushBinding)> = endpoints
        .iter()
        .flat_map(|endpoint| super::push_bindings::bindings_of(endpoint).into_iter().map(move |b| (endpoint.clone(), b)))
        .collect();
    let _ = writeln!(
        out,
        "\nPush (RFC 8599): providers {providers}, wait {} s, always {}, gateway {}; push devices: {}",
        config.push_wait,
        if config.push_always { "yes" } else { "no" },
        if config.push_gateway_url.is_empty() { "-" } else { config.push_gateway_url.as_str() },
        bindings.len()
    );
    let now = super::registrar::now_unix();
    for (index, (endpoint, binding)) in bindings.iter().enumerate() {
        let _ = writeln!(out, "  {}. {} on {endpoint}", index + 1, super::push_bindings::describe(binding));
        let _ = writeln!(out, "     Param:      {}", crate::policy::display::escape_controls(&binding.param));
        let _ = writeln!(out, "     User-Agent: {}", crate::policy::display::escape_controls(&binding.user_agent));
        let _ = writeln!(out, "     Contact:    {}", crate::policy::display::escape_controls(&binding.contact));
        let _ = writeln!(out, "     Kept for:   {} s", binding.expires_at.saturating_sub(now));
    }
}

fn set_ring_mode(extension: &str, mode: &str, out: &mut String) -> i32 {
    let Some(config) = super::policies::for_extension(extension) else {
        let _ = writeln!(out, "Extension {extension} has no type=multireg policy");
        return FAILURE;
    };
    let Some(mode) = RingMode::parse(mode) else {
        let _ = writeln!(out, "Unknown ring mode '{mode}': use home, remote or both");
        return SHOW_USAGE;
    };
    match ring_mode_store::set(&config, mode, "CLI") {
        Ok(old) => {
            let _ = writeln!(out, "Ring mode of {} changed from {old} to {mode}", config.endpoint);
            SUCCESS
        }
        Err(reason) => {
            let _ = writeln!(out, "{reason}");
            FAILURE
        }
    }
}

pub fn blocks_text(out: &mut String) -> i32 {
    let blocked = super::authblock::blocked();
    let _ = writeln!(out, "{:<40} {:<16} {:>12} {:>9}", "Address", "Extension", "Seconds left", "Failures");
    for block in &blocked {
        let _ = writeln!(
            out,
            "{:<40} {:<16} {:>12} {:>9}",
            block.address,
            block.extension,
            block.remaining.as_secs(),
            block.failures
        );
    }
    let _ = writeln!(out, "{} blocked addresses", blocked.len());
    0
}

pub fn clear_blocks_text(address: Option<&str>, out: &mut String) -> i32 {
    let address = match crate::policy::admin_args::block_address(address) {
        Ok(address) => address,
        Err(reason) => {
            let _ = writeln!(out, "{reason}");
            return 2;
        }
    };
    let cleared = super::authblock::clear(address);
    let _ = writeln!(out, "Cleared {cleared} blocked addresses");
    tracing::info!("multireg: authentication blocks cleared ({cleared})");
    0
}
