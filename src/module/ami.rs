//! AMI actions: MultiregShowExtensions, MultiregShowExtension, MultiregSetRingMode,
//! MultiregShowBlocks, MultiregClearBlocks. Also the block listing shared with the CLI.
use std::fmt::Write;
use std::net::IpAddr;

use super::{ringmodes, views};
use crate::asterisk::manager::AmiRequest;
use crate::policy::classify::ClientType;
use crate::policy::ringmode::RingMode;

pub fn execute(request: &AmiRequest) {
    match request.header("Action").to_ascii_lowercase().as_str() {
        "multiregshowextensions" => show_extensions(request),
        "multiregshowextension" => show_extension(request),
        "multiregsetringmode" => set_ring_mode(request),
        "multiregshowblocks" => show_blocks(request),
        "multiregclearblocks" => clear_blocks(request),
        "multiregshowstats" => {
            let fields = super::stats::snapshot().into_iter().map(|(name, value)| (name, value.to_string())).collect();
            request.list("Statistics", "MultiregStats", &[fields], "MultiregStatsComplete");
        }
        other => request.error(&format!("unknown action {other}")),
    }
}

fn extension_fields(view: &views::ExtensionView) -> Vec<(&'static str, String)> {
    let mut fields = vec![("Extension", view.config.endpoint.clone())];
    for (name, limit_name, client_type) in [
        ("IpPhones", "IpPhoneLimit", ClientType::IpPhone),
        ("WebClients", "WebClientLimit", ClientType::Web),
        ("DesktopClients", "DesktopClientLimit", ClientType::Desktop),
        ("MobileClients", "MobileClientLimit", ClientType::Mobile),
    ] {
        let (used, limit) = view.usage(client_type);
        fields.push((name, used.to_string()));
        fields.push((limit_name, limit.to_string()));
    }
    fields.push(("AtLimit", view.config.at_limit.as_str().to_string()));
    fields.push(("Secondary", view.config.secondary_endpoint().unwrap_or_default()));
    fields.push(("SecondaryDevices", view.secondary_devices().to_string()));
    fields.push(("RingMode", view.ring_mode.clone()));
    fields.push(("AllBusyMode", if view.config.all_busy_mode { "yes" } else { "no" }.to_string()));
    fields.push(("ActiveCalls", view.active_calls.to_string()));
    fields.push(("Busy", if view.busy { "yes" } else { "no" }.to_string()));
    fields
}

fn show_extensions(request: &AmiRequest) {
    let items: Vec<_> = views::extensions().iter().map(extension_fields).collect();
    request.list("Multireg extensions", "MultiregExtension", &items, "MultiregExtensionsComplete");
}

fn show_extension(request: &AmiRequest) {
    let extension = request.header("Extension");
    let Some(config) = ringmodes::policy_for(&extension) else {
        request.error(&format!("Extension '{extension}' has no type=multireg policy"));
        return;
    };
    let view = views::extension(&config);
    let summary = extension_fields(&view);
    let devices: Vec<_> = view
        .devices
        .iter()
        .map(|device| {
            vec![
                ("Extension", config.endpoint.clone()),
                ("Endpoint", device.endpoint.clone()),
                ("AOR", device.aor.clone()),
                ("ClientType", device.client_type.as_str().to_string()),
                ("UserAgent", device.user_agent.clone()),
                ("Contact", device.contact.clone()),
                ("SourceAddress", device.source.clone()),
                ("Transport", device.transport.clone()),
                ("ExpiresIn", device.expires_in.to_string()),
                ("Classification", device.reason.clone()),
            ]
        })
        .collect();
    // One list for the requester only: the extension's summary first, then its devices.
    let mut items: Vec<(&str, &[(&str, String)])> = vec![("MultiregExtensionDetail", summary.as_slice())];
    items.extend(devices.iter().map(|device| ("MultiregDevice", device.as_slice())));
    request.list_of("Multireg extension", &items, "MultiregDevicesComplete");
}

fn set_ring_mode(request: &AmiRequest) {
    let extension = request.header("Extension");
    let Some(config) = ringmodes::policy_for(&extension) else {
        request.error(&format!("Extension '{extension}' has no type=multireg policy"));
        return;
    };
    let Some(mode) = RingMode::parse(&request.header("Mode")) else {
        request.error("Mode must be home, remote or both (or 1, 2, 3)");
        return;
    };
    match ringmodes::set(&config, mode, "AMI") {
        Ok(_) => request.ack(&format!("Ring mode of {} set to {mode}", config.endpoint)),
        Err(reason) => request.error(&reason),
    }
}

fn show_blocks(request: &AmiRequest) {
    let items: Vec<_> = super::authblock::blocked()
        .into_iter()
        .map(|block| {
            vec![
                ("Address", block.address),
                ("Extension", block.extension),
                ("SecondsLeft", block.remaining.as_secs().to_string()),
                ("Failures", block.failures.to_string()),
            ]
        })
        .collect();
    request.list("Blocked addresses", "MultiregBlock", &items, "MultiregBlocksComplete");
}

fn clear_blocks(request: &AmiRequest) {
    let address = request.header("Address");
    let mut text = String::new();
    if clear_blocks_text(Some(address.as_str()).filter(|a| !a.is_empty()), &mut text) == 0 {
        request.ack(text.trim());
    } else {
        request.error(text.trim());
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
    // "2001:db8:1:2::/64" as `multireg show blocks` prints an IPv6 source: any address in it.
    let address = address.map(|a| a.split_once('/').map_or(a, |(a, _)| a).trim());
    let address = match address.map(str::parse::<IpAddr>) {
        Some(Err(_)) => {
            let _ = writeln!(out, "'{}' is not an IP address", address.unwrap_or_default());
            return 2;
        }
        Some(Ok(ip)) => Some(ip),
        None => None,
    };
    let cleared = super::authblock::clear(address);
    let _ = writeln!(out, "Cleared {cleared} blocked addresses");
    tracing::info!("multireg: authentication blocks cleared ({cleared})");
    0
}
