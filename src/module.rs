//! Wires the policy to Asterisk: what happens on load, unload, reload and for each REGISTER.
use crate::asterisk::{guard, logger, pjsip};
use crate::policy::register::summarize_register;

pub fn load() -> Result<(), String> {
    logger::install();
    guard::install_quiet_panic_hook();
    if !pjsip::register_service() {
        return Err("could not register the PJSIP REGISTER service".into());
    }
    tracing::debug!("res_pjsip_multireg loaded");
    Ok(())
}

pub fn unload() {
    pjsip::unregister_service();
    tracing::debug!("res_pjsip_multireg unloaded");
}

pub fn reload() -> Result<(), String> {
    Ok(())
}

/// Called for every request PJSIP routes past us. Returns true when we answered it.
pub fn on_request(request: &pjsip::RxRequest<'_>) -> bool {
    if !request.is_register() {
        return false;
    }
    let endpoint = request.endpoint().map(|e| pjsip::endpoint_name(&e)).unwrap_or_default();
    let (address, port) = request.source();
    match summarize_register(request.raw_message()) {
        Ok(summary) => tracing::debug!(
            "REGISTER endpoint={endpoint} aor={} user_agent=\"{}\" transport={} source={address}:{port} contacts={}",
            summary.aor,
            summary.user_agent,
            request.transport_type(),
            summary.contacts.len()
        ),
        Err(error) => tracing::debug!("REGISTER endpoint={endpoint} from {address}:{port}: {error}"),
    }
    false
}
