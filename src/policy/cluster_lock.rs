//! Serialising admissions to one AOR across nodes with PostgreSQL advisory locks: the lock key
//! of an AOR, the libpq connection string from res_pgsql.conf, and the table of locks this node
//! holds (several REGISTERs of one node may share a lock: the node's own device book already
//! orders them).
use std::collections::HashMap;

/// The advisory lock key of an AOR: FNV-1a (64 bit) of "multireg:" + the AOR name, the same on
/// every node and every build.
pub fn lock_key(aor: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "multireg:".bytes().chain(aor.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash as i64
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// libpq connection settings from res_pgsql.conf `[general]` (dbhost or dbsock, dbport, dbname,
/// dbuser, dbpass), as res_config_pgsql uses them; None without a host or socket.
pub fn conninfo(general: &[(String, String)]) -> Option<String> {
    let get = |name: &str| general.iter().rev().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string());
    let host = get("dbhost").filter(|h| !h.is_empty()).or_else(|| {
        // res_config_pgsql's dbsock is the socket's folder.
        get("dbsock").filter(|s| !s.is_empty())
    })?;
    let mut parts = vec![format!("host={}", quote(&host))];
    for (option, keyword) in [("dbport", "port"), ("dbname", "dbname"), ("dbuser", "user"), ("dbpass", "password")] {
        if let Some(value) = get(option).filter(|v| !v.is_empty()) {
            parts.push(format!("{keyword}={}", quote(&value)));
        }
    }
    parts.push("connect_timeout='2'".into());
    parts.push("application_name='res_pjsip_multireg'".into());
    Some(parts.join(" "))
}

/// The locks this node holds: key → (REGISTERs holding it, unix time after which it is released
/// even without an answer).
#[derive(Default)]
pub struct HeldLocks {
    held: HashMap<i64, (u32, u64)>,
}

impl HeldLocks {
    /// Joins a lock this node already holds (true), or false when it must be taken.
    pub fn join(&mut self, key: i64, until: u64) -> bool {
        match self.held.get_mut(&key) {
            Some((count, deadline)) => {
                *count += 1;
                *deadline = (*deadline).max(until);
                true
            }
            None => false,
        }
    }

    pub fn taken(&mut self, key: i64, until: u64) {
        self.held.insert(key, (1, until));
    }

    /// One holder leaves; true when the lock is to be released now.
    pub fn leave(&mut self, key: i64) -> bool {
        match self.held.get_mut(&key) {
            Some((count, _)) if *count > 1 => {
                *count -= 1;
                false
            }
            Some(_) => {
                self.held.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Locks held past their deadline (an answer never came): removed, to be released.
    pub fn expired(&mut self, now: u64) -> Vec<i64> {
        let keys: Vec<i64> = self.held.iter().filter(|(_, (_, until))| *until < now).map(|(key, _)| *key).collect();
        for key in &keys {
            self.held.remove(key);
        }
        keys
    }

    /// Everything held (the connection was lost: PostgreSQL released them).
    pub fn clear(&mut self) {
        self.held.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn keys_are_stable_and_distinct() {
        assert_eq!(lock_key("101"), lock_key("101"));
        assert_ne!(lock_key("101"), lock_key("101r"));
    }

    #[test]
    fn connection_string_from_res_pgsql_conf() {
        let info = conninfo(&pairs(&[
            ("dbhost", "127.0.0.5"),
            ("dbport", "5433"),
            ("dbname", "asterisk"),
            ("dbuser", "ast"),
            ("dbpass", "it's"),
        ]))
        .unwrap();
        assert_eq!(
            info,
            "host='127.0.0.5' port='5433' dbname='asterisk' user='ast' password='it\\'s' connect_timeout='2' application_name='res_pjsip_multireg'"
        );
        assert!(conninfo(&pairs(&[("dbsock", "/run/postgresql")])).unwrap().starts_with("host='/run/postgresql'"));
        assert_eq!(conninfo(&pairs(&[("dbname", "asterisk")])), None);
    }

    #[test]
    fn a_lock_is_released_when_its_last_holder_leaves_or_it_expires() {
        let mut locks = HeldLocks::default();
        assert!(!locks.join(1, 10));
        locks.taken(1, 10);
        assert!(locks.join(1, 20));
        assert!(!locks.leave(1));
        assert!(locks.leave(1));
        assert!(!locks.leave(1), "nothing left to release");
        locks.taken(2, 10);
        assert_eq!(locks.expired(5), Vec::<i64>::new());
        assert_eq!(locks.expired(11), vec![2]);
    }
}
