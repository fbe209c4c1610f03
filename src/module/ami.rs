//! AMI actions: MultiregShowExtensions, MultiregShowExtension, MultiregSetRingMode,
//! MultiregShowBlocks, MultiregClearBlocks, MultiregShowStats.
use super::{ring_mode_store, views};
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
        "multireglogout" => match super::logout::logout(&request.header("Extension"), &request.header("Device"), "AMI") {
            Ok(text) => request.ack(&text),
            Err(reason) => request.error(&reason),
        },
        "multiregclearlogouts" => {
            let extension = request.header("Extension");
            let cleared = super::logout::clear(Some(extension.as_str()).filter(|e| !e.is_empty()));
            request.ack(&format!("Cleared {cleared} logged-out devices"));
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
    let dial = &view.config.dial;
    fields.push(("AllRejectMode", if dial.all_reject_mode { "yes" } else { "no" }.to_string()));
    fields.push(("AllRejectCodes", dial.codes_text()));
    for group in crate::policy::dial_features::RingGroup::ALL {
        fields.push((ring_delay_field(group), dial.delay_of(group).to_string()));
    }
    fields.push(("ActiveCalls", view.active_calls.to_string()));
    fields.push(("Busy", if view.busy { "yes" } else { "no" }.to_string()));
    fields.push(("BusyLamp", super::busy_lamp::state(&view.config.endpoint).display_name().to_string()));
    fields.push(("LogoutBlockTime", view.config.logout_block_time.to_string()));
    fields.push(("LoggedOutDevices", super::logout::count(&view.config.endpoint).to_string()));
    fields
}

fn ring_delay_field(group: crate::policy::dial_features::RingGroup) -> &'static str {
    use crate::policy::dial_features::RingGroup;
    match group {
        RingGroup::Type(ClientType::IpPhone) => "RingDelayIpPhone",
        RingGroup::Type(ClientType::Web) => "RingDelayWeb",
        RingGroup::Type(ClientType::Desktop) => "RingDelayDesktop",
        RingGroup::Type(ClientType::Mobile) => "RingDelayMobile",
        RingGroup::Remote => "RingDelayRemote",
    }
}

fn show_extensions(request: &AmiRequest) {
    let items: Vec<_> = views::extensions().iter().map(extension_fields).collect();
    request.list("Multireg extensions", "MultiregExtension", &items, "MultiregExtensionsComplete");
}

fn show_extension(request: &AmiRequest) {
    let extension = request.header("Extension");
    let Some(config) = super::policies::for_extension(&extension) else {
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
                ("RegServer", device.reg_server.clone()),
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
    let Some(config) = super::policies::for_extension(&extension) else {
        request.error(&format!("Extension '{extension}' has no type=multireg policy"));
        return;
    };
    let Some(mode) = RingMode::parse(&request.header("Mode")) else {
        request.error("Mode must be home, remote or both (or 1, 2, 3)");
        return;
    };
    match ring_mode_store::set(&config, mode, "AMI") {
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
    if super::cli::clear_blocks_text(Some(address.as_str()).filter(|a| !a.is_empty()), &mut text) == 0 {
        request.ack(text.trim());
    } else {
        request.error(text.trim());
    }
}
