//! Queue membership: the two devices of one extension are never members of the same queue.
//!
//! app_queue's QueueMemberAdded arrives through a Stasis subscription (`asterisk::stasis`), not
//! through a hook on the AMI event stream. The module keeps no copy of queue membership: for each
//! addition it asks app_queue for that queue's members as they are now (QueueStatus, run inside
//! Asterisk), so members removed in any way, `Local/` members and static members can never leave
//! a stale entry behind. Events arrive in the order app_queue added the members, and the device
//! whose addition is being handled is the one removed, so when two devices are added one after the
//! other the second is refused. (Two devices added within the same few milliseconds, before the
//! first event is handled, both appear in the first look-up; then the first is removed and the
//! second stays: one device remains either way.)
use crate::asterisk::manager;
use crate::policy::calls::{member_device, queue_member_conflict, QueueMember};

fn fields(block: &str) -> impl Iterator<Item = (&str, &str)> {
    block.lines().filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim(), v.trim()))
}

fn field<'a>(block: &'a str, name: &str) -> &'a str {
    fields(block).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).unwrap_or("")
}

/// The members of `queue` now, from app_queue itself.
fn current_members(queue: &str) -> Vec<QueueMember> {
    let action = format!("Action: QueueStatus\r\nQueue: {}\r\n\r\n", queue.replace(['\r', '\n'], ""));
    let text = manager::run_action(&action).unwrap_or_default();
    text.split("\r\n\r\n")
        .filter(|block| field(block, "Event") == "QueueMember" && field(block, "Queue") == queue)
        .map(|block| QueueMember::new(field(block, "Location"), field(block, "StateInterface")))
        .collect()
}

/// app_queue added `interface` (whose device state is read from `state_interface`) to `queue`.
pub fn member_added(queue: &str, interface: &str, state_interface: &str) {
    let added = QueueMember::new(interface, state_interface);
    let Some(device) = member_device(&added).map(str::to_string) else { return };
    let extension =
        super::policies::for_extension(&device).and_then(|config| Some((config.endpoint.clone(), config.secondary_endpoint()?)));
    let Some((primary, secondary)) = extension else { return };
    let members = current_members(queue);
    let Some(message) = queue_member_conflict(&members, &added, &primary, &secondary) else { return };
    tracing::warn!("multireg: queue {queue}: {message}");
    manager::run_action(&format!(
        "Action: QueueRemove\r\nQueue: {}\r\nInterface: {}\r\n\r\n",
        queue.replace(['\r', '\n'], ""),
        interface.replace(['\r', '\n'], "")
    ));
    manager::event(
        "MultiregQueueMemberRefused",
        &[("Queue", queue.to_string()), ("Interface", interface.to_string()), ("Extension", primary), ("Reason", message)],
    );
}
