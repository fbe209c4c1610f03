//! Queue membership: the two devices of one extension are never members of the same queue.
//!
//! app_queue's QueueMemberAdded arrives through a Stasis subscription (`Kind::QueueEvents`), not
//! through a hook on the AMI event stream. For each addition the module asks app_queue for that
//! queue's members as they are now (QueueStatus, run inside Asterisk), so members removed in any
//! way, `Local/` members and static members never leave a stale entry behind. Only members that
//! came earlier count against the one being handled (`policy::calls::QueueArrivals`: present at
//! load, or already handled), so when two devices are added one after the other the second is
//! refused, however late the first event is handled.
use std::sync::Mutex;

use crate::asterisk::manager;
use crate::policy::calls::{member_device, queue_member_conflict, QueueArrivals, QueueMember};

static ARRIVALS: Mutex<Option<QueueArrivals>> = Mutex::new(None);

fn with_arrivals<R>(f: impl FnOnce(&mut QueueArrivals) -> R) -> R {
    let mut arrivals = ARRIVALS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    f(arrivals.get_or_insert_with(QueueArrivals::default))
}

/// Forgets the queue arrivals (module unload).
pub fn forget_arrivals() {
    *ARRIVALS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
}

fn fields(block: &str) -> impl Iterator<Item = (&str, &str)> {
    block.lines().filter_map(|line| line.split_once(':')).map(|(k, v)| (k.trim(), v.trim()))
}

fn field<'a>(block: &'a str, name: &str) -> &'a str {
    fields(block).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v).unwrap_or("")
}

/// The members of `queue` now (every queue when None), from app_queue itself, with their queue.
fn current_members(queue: Option<&str>) -> Vec<(String, QueueMember)> {
    let filter = queue.map(|q| format!("Queue: {}\r\n", q.replace(['\r', '\n'], ""))).unwrap_or_default();
    let text = manager::run_action(&format!("Action: QueueStatus\r\n{filter}\r\n")).unwrap_or_default();
    text.split("\r\n\r\n")
        .filter(|block| field(block, "Event") == "QueueMember" && queue.is_none_or(|q| field(block, "Queue") == q))
        .map(|block| {
            (field(block, "Queue").to_string(), QueueMember::new(field(block, "Location"), field(block, "StateInterface")))
        })
        .collect()
}

/// Members already in queues when the module loads count as earlier than any addition after.
/// Returns the members' state interfaces.
pub fn remember_current_members() -> Vec<String> {
    let members = current_members(None);
    with_arrivals(|arrivals| {
        *arrivals = QueueArrivals::default();
        for (queue, member) in &members {
            arrivals.record(queue, member);
        }
    });
    members.into_iter().map(|(_, member)| member.state_interface).collect()
}

/// The state interfaces of every queue member now (e.g. `Multireg:101`).
pub fn member_state_interfaces() -> Vec<String> {
    current_members(None).into_iter().map(|(_, member)| member.state_interface).collect()
}

/// app_queue added `interface` (whose device state is read from `state_interface`) to `queue`.
pub fn member_added(queue: &str, interface: &str, state_interface: &str) {
    let added = QueueMember::new(interface, state_interface);
    let Some(device) = member_device(&added).map(str::to_string) else { return };
    let extension =
        super::policies::for_extension(&device).and_then(|config| Some((config.endpoint.clone(), config.secondary_endpoint()?)));
    let Some((primary, secondary)) = extension else { return };
    let members: Vec<QueueMember> = current_members(Some(queue)).into_iter().map(|(_, member)| member).collect();
    let earlier = with_arrivals(|arrivals| arrivals.earlier(queue, &members, &added));
    let Some(message) = queue_member_conflict(&earlier, &added, &primary, &secondary) else {
        with_arrivals(|arrivals| arrivals.record(queue, &added));
        return;
    };
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
