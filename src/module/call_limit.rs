//! A new call from either device of an extension at its `max_concurrent_calls` gets 486 Busy Here
//! (the INVITE side of the concurrent-call limit; the incoming side is in the call plan).
use super::dialplan::active_calls;
use super::policies;
use crate::asterisk::pjsip::RxRequest;
use crate::policy::call_plan::call_limit_reached;

/// Returns true when the INVITE was refused.
pub fn refuse_over_call_limit(request: &RxRequest<'_>) -> bool {
    if !request.is_initial() {
        return false;
    }
    let Some(endpoint) = request.endpoint() else { return false };
    let name = endpoint.id();
    let policies = policies::current();
    let Some(config) = policies.for_extension(name) else { return false };
    if !call_limit_reached(config, &|| active_calls(config)) {
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
