//! Admissions to one AOR serialised across nodes: with contacts in PostgreSQL (res_pgsql.conf
//! present and the location shared), a REGISTER under a policy takes the AOR's session advisory
//! lock before its store read, and keeps it until the registrar answered (the contact is then
//! in the table), so the other node's decision reads the store after it. One connection per
//! node, used under a mutex; waiting is a poll of pg_try_advisory_lock, bounded: after
//! `WAIT` the decision goes on without the lock (logged), never blocking registrations.
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::cluster;
use super::registrar::now_unix;
use crate::asterisk::config;
use crate::asterisk::libpq::Connection;
use crate::policy::cluster_lock::{conninfo, lock_key, HeldLocks};
use crate::policy::device_book::RequestKey;

const WAIT: Duration = Duration::from_secs(2);
/// A lock whose REGISTER never got an answer is released after this many seconds.
const HOLD_SECONDS: u64 = 5;

struct Locker {
    conninfo: String,
    connection: Option<Connection>,
    held: HeldLocks,
    /// Admitted REGISTERs holding a lock until their answer: request → (lock key, deadline).
    holders: std::collections::HashMap<RequestKey, (i64, u64)>,
    /// Unix time of the last failed connection attempt (retried at most once a second).
    failed_at: u64,
}

static LOCKER: Mutex<Option<Locker>> = Mutex::new(None);

fn locker() -> std::sync::MutexGuard<'static, Option<Locker>> {
    LOCKER.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Reads res_pgsql.conf when the location is shared (load, reload). Without it, no locks.
pub fn configure() {
    let settings = cluster::location_shared().then(|| config::category("res_pgsql.conf", "general")).flatten();
    let info = settings.as_deref().and_then(conninfo);
    let mut guard = locker();
    match (info, guard.as_ref()) {
        (Some(info), Some(current)) if current.conninfo == info => {}
        (Some(info), _) => {
            tracing::info!(
                "multireg: admissions to one AOR are serialised across nodes with PostgreSQL advisory locks (res_pgsql.conf)"
            );
            *guard = Some(Locker {
                conninfo: info,
                connection: None,
                held: HeldLocks::default(),
                holders: Default::default(),
                failed_at: 0,
            });
        }
        (None, _) => *guard = None,
    }
}

pub fn reset() {
    *locker() = None;
}

impl Locker {
    fn connection(&mut self, now: u64) -> Option<&mut Connection> {
        if self.connection.as_ref().is_some_and(|c| !c.is_ok()) {
            self.connection = None;
            self.held.clear(); // PostgreSQL released the session's locks with the connection.
        }
        if self.connection.is_none() && self.failed_at != now {
            match Connection::connect(&self.conninfo) {
                Ok(connection) => self.connection = Some(connection),
                Err(reason) => {
                    self.failed_at = now;
                    tracing::warn!("multireg: no PostgreSQL connection for cross-node admission locks: {reason}");
                }
            }
        }
        self.connection.as_mut()
    }

    fn run(&mut self, sql: &str, now: u64) -> Option<bool> {
        let connection = self.connection(now)?;
        match connection.query_bool(sql) {
            Ok(answer) => Some(answer),
            Err(reason) => {
                tracing::warn!("multireg: PostgreSQL advisory lock query failed: {reason}");
                None
            }
        }
    }

    fn release_expired(&mut self, now: u64) {
        self.holders.retain(|_, (_, until)| *until >= now);
        for key in self.held.expired(now) {
            self.run(&format!("SELECT pg_advisory_unlock({key})"), now);
        }
    }
}

/// Takes (or joins) the lock of `aor`. False when locks are not in use or it could not be had
/// in time (the decision then goes on as without locks).
pub fn acquire(aor: &str) -> bool {
    let key = lock_key(aor);
    let started = Instant::now();
    loop {
        {
            let mut guard = locker();
            let Some(locker) = guard.as_mut() else { return false };
            let now = now_unix();
            locker.release_expired(now);
            if locker.held.join(key, now + HOLD_SECONDS) {
                return true;
            }
            match locker.run(&format!("SELECT pg_try_advisory_lock({key})"), now) {
                Some(true) => {
                    locker.held.taken(key, now + HOLD_SECONDS);
                    return true;
                }
                Some(false) => {}
                None => return false,
            }
        }
        if started.elapsed() >= WAIT {
            tracing::warn!(
                "multireg: AOR {aor} stayed locked by another node for {} s; deciding without the lock",
                WAIT.as_secs()
            );
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// One holder of `aor`'s lock is done (it was refused).
pub fn release(aor: &str) {
    let mut guard = locker();
    let Some(locker) = guard.as_mut() else { return };
    leave(locker, lock_key(aor));
}

fn leave(locker: &mut Locker, key: i64) {
    if locker.held.leave(key) {
        locker.run(&format!("SELECT pg_advisory_unlock({key})"), now_unix());
    }
}

/// An admitted REGISTER keeps `aor`'s lock until its answer (`answered`).
pub fn hold_until_answer(request: RequestKey, aor: &str) {
    let mut guard = locker();
    let Some(locker) = guard.as_mut() else { return };
    locker.holders.insert(request, (lock_key(aor), now_unix() + HOLD_SECONDS));
}

/// The registrar answered `request`: its lock, if it holds one, is released.
pub fn answered(request: &RequestKey) {
    let mut guard = locker();
    let Some(locker) = guard.as_mut() else { return };
    if let Some((key, _)) = locker.holders.remove(request) {
        leave(locker, key);
    }
}
