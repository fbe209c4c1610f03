//! Remote logout: a device an administrator logged out (`multireg logout`, `MultiregLogout`) is
//! refused for `logout_block_time` seconds, so it does not simply register again. A device is
//! known by its `+sip.instance` when it sent one, else by its REGISTER Call-ID and source IP
//! address. The table is bounded: when full, the block that ends soonest gives way.
use std::collections::HashMap;

/// Most devices held logged out at once, all extensions together.
pub const MAX_LOGOUTS: usize = 4096;

/// How a logged-out device is recognised when it registers again.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DeviceKey {
    /// Normalised `+sip.instance` (see `device_book::normalize_instance`).
    Instance(String),
    /// REGISTER Call-ID and source IP address (without the port, which NAT may change).
    CallIdFrom { call_id: String, address: String },
}

impl DeviceKey {
    /// The key for a device: its instance if known, else Call-ID and source address
    /// ("ip:port", "[v6]:port" or a bare address).
    pub fn for_device(instance: Option<&str>, call_id: &str, source: &str) -> Option<DeviceKey> {
        if let Some(instance) = instance.filter(|i| !i.is_empty()) {
            return Some(DeviceKey::Instance(instance.to_string()));
        }
        if call_id.is_empty() {
            return None;
        }
        Some(DeviceKey::CallIdFrom { call_id: call_id.to_string(), address: host_of(source).to_string() })
    }

    pub fn describe(&self) -> String {
        match self {
            DeviceKey::Instance(instance) => format!("+sip.instance {instance}"),
            DeviceKey::CallIdFrom { call_id, address } => format!("Call-ID {call_id} from {address}"),
        }
    }
}

impl DeviceKey {
    /// The id of its `multireg_logout` object: FNV-1a 64 of the key, in hex (a Call-ID or an
    /// instance URN can be long).
    pub fn store_id(&self) -> String {
        let text = match self {
            DeviceKey::Instance(instance) => format!("i\0{instance}"),
            DeviceKey::CallIdFrom { call_id, address } => format!("c\0{call_id}\0{address}"),
        };
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    /// The fields of its `multireg_logout` object (a realtime row's columns).
    pub fn to_fields(&self, logout: &Logout) -> Vec<(&'static str, String)> {
        let (instance, call_id, address) = match self {
            DeviceKey::Instance(instance) => (instance.clone(), String::new(), String::new()),
            DeviceKey::CallIdFrom { call_id, address } => (String::new(), call_id.clone(), address.clone()),
        };
        vec![
            ("extension", logout.extension.clone()),
            ("instance", instance),
            ("call_id", call_id),
            ("address", address),
            ("blocked_until", logout.until.to_string()),
        ]
    }

    /// A logout from a `multireg_logout` object's fields (missing text fields are empty).
    pub fn from_fields(fields: &[(String, String)]) -> Option<(DeviceKey, Logout)> {
        let field = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
        let extension = field("extension");
        let until = field("blocked_until").trim().parse().ok()?;
        if extension.is_empty() {
            return None;
        }
        let key = DeviceKey::for_device(Some(field("instance").as_str()), &field("call_id"), &field("address"))?;
        Some((key, Logout { extension, until }))
    }
}

/// The address part of "ip:port", "[v6]:port" or a bare address.
pub fn host_of(source: &str) -> &str {
    if let Some(rest) = source.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match source.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logout {
    pub extension: String,
    pub until: u64,
}

/// The devices logged out now.
#[derive(Debug, Default)]
pub struct Logouts {
    blocks: HashMap<DeviceKey, Logout>,
}

impl Logouts {
    /// Refuses `key` for `seconds` from `now` (0: not at all).
    pub fn block(&mut self, key: DeviceKey, extension: &str, seconds: u64, now: u64) {
        if seconds == 0 {
            return;
        }
        self.blocks.retain(|_, logout| logout.until > now);
        if self.blocks.len() >= MAX_LOGOUTS && !self.blocks.contains_key(&key) {
            if let Some(soonest) = self.blocks.iter().min_by_key(|(_, logout)| logout.until).map(|(key, _)| key.clone()) {
                self.blocks.remove(&soonest);
            }
        }
        self.blocks.insert(key, Logout { extension: extension.to_string(), until: now + seconds });
    }

    /// Seconds left of the logout that refuses a REGISTER of `extension` with these contact
    /// instances, Call-ID and source, if any.
    pub fn refused(&self, extension: &str, instances: &[&str], call_id: &str, source: &str, now: u64) -> Option<u64> {
        if self.blocks.is_empty() {
            return None;
        }
        let by_call = DeviceKey::CallIdFrom { call_id: call_id.to_string(), address: host_of(source).to_string() };
        let keys = instances.iter().map(|i| DeviceKey::Instance(i.to_string())).chain(std::iter::once(by_call));
        keys.filter_map(|key| self.blocks.get(&key))
            .filter(|logout| logout.extension == extension && logout.until > now)
            .map(|logout| logout.until - now)
            .max()
    }

    /// Lifts the logouts of `extension` (all when None); returns how many.
    pub fn clear(&mut self, extension: Option<&str>, now: u64) -> usize {
        self.blocks.retain(|_, logout| logout.until > now);
        let before = self.blocks.len();
        self.blocks.retain(|_, logout| extension.is_some_and(|e| e != logout.extension));
        before - self.blocks.len()
    }

    /// Live logouts of `extension`.
    pub fn count(&self, extension: &str, now: u64) -> usize {
        self.blocks.values().filter(|logout| logout.extension == extension && logout.until > now).count()
    }

    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_known_by_instance_else_by_call_id_and_address() {
        assert_eq!(
            DeviceKey::for_device(Some("urn:uuid:1"), "c1", "10.0.0.1:5060"),
            Some(DeviceKey::Instance("urn:uuid:1".into()))
        );
        assert_eq!(
            DeviceKey::for_device(None, "c1", "10.0.0.1:5060"),
            Some(DeviceKey::CallIdFrom { call_id: "c1".into(), address: "10.0.0.1".into() })
        );
        assert_eq!(DeviceKey::for_device(None, "", "10.0.0.1:5060"), None);
        assert_eq!(host_of("[2001:db8::1]:5060"), "2001:db8::1");
        assert_eq!(host_of("2001:db8::1"), "2001:db8::1");
        assert_eq!(host_of("10.0.0.1"), "10.0.0.1");
    }

    #[test]
    fn a_logout_refuses_that_device_of_that_extension_until_it_ends_or_is_cleared() {
        let mut logouts = Logouts::default();
        let by_call = DeviceKey::for_device(None, "c1", "10.0.0.1:5060").unwrap();
        logouts.block(by_call, "101", 600, 1000);
        logouts.block(DeviceKey::Instance("urn:uuid:9".into()), "101", 10, 1000);
        // Same Call-ID from the same address, another port: refused, with the seconds left.
        assert_eq!(logouts.refused("101", &[], "c1", "10.0.0.1:40000", 1100), Some(500));
        assert_eq!(logouts.refused("101", &["urn:uuid:9"], "other", "10.0.0.2:5060", 1005), Some(5));
        assert_eq!(logouts.refused("101", &["urn:uuid:9"], "other", "10.0.0.2:5060", 1010), None, "block over");
        assert_eq!(logouts.refused("101", &[], "c1", "10.0.0.2:5060", 1100), None, "another address");
        assert_eq!(logouts.refused("102", &[], "c1", "10.0.0.1:5060", 1100), None, "another extension");
        assert_eq!(logouts.count("101", 1100), 1);
        assert_eq!(logouts.clear(Some("102"), 1100), 0, "another extension's logouts stay");
        assert_eq!(logouts.refused("101", &[], "c1", "10.0.0.1:5060", 1100), Some(500));
        assert_eq!(logouts.clear(None, 1100), 1);
        assert_eq!(logouts.refused("101", &[], "c1", "10.0.0.1:5060", 1100), None);
        logouts.block(DeviceKey::Instance("x".into()), "101", 0, 1000);
        assert!(logouts.is_empty(), "a block time of 0 blocks nothing");
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut logouts = Logouts::default();
        for n in 0..(MAX_LOGOUTS as u64 + 10) {
            logouts.block(DeviceKey::Instance(format!("urn:uuid:{n}")), "101", 100 + n, 1000);
        }
        assert_eq!(logouts.len(), MAX_LOGOUTS);
        // The ones ending soonest gave way; the newest is there.
        assert!(logouts.refused("101", &["urn:uuid:0"], "", "", 1000).is_none());
        assert!(logouts.refused("101", &[&format!("urn:uuid:{}", MAX_LOGOUTS + 9)], "", "", 1000).is_some());
    }

    #[test]
    fn a_logout_round_trips_through_its_store_fields() {
        let logout = Logout { extension: "101".into(), until: 1234 };
        for key in [
            DeviceKey::Instance("urn:uuid:00000000-0000-1000-8000-000000000001".into()),
            DeviceKey::CallIdFrom { call_id: "abc@host".into(), address: "2001:db8::1".into() },
        ] {
            let fields: Vec<(String, String)> = key.to_fields(&logout).into_iter().map(|(n, v)| (n.to_string(), v)).collect();
            assert_eq!(DeviceKey::from_fields(&fields), Some((key.clone(), logout.clone())));
            assert_eq!(key.store_id().len(), 16);
        }
        assert_ne!(
            DeviceKey::Instance("a".into()).store_id(),
            DeviceKey::CallIdFrom { call_id: "a".into(), address: String::new() }.store_id()
        );
        assert_eq!(DeviceKey::from_fields(&[("extension".into(), "101".into())]), None);
    }

    /// The push and logout tables have a column for every field the module stores.
    #[test]
    fn the_push_and_logout_tables_have_a_column_for_every_stored_field() {
        use crate::policy::push::PushBinding;
        let sql = include_str!("../../contrib/realtime/postgresql/multireg.sql");
        let migration = include_str!("../../contrib/ast-db-manage/config/versions/7a2c3e9d41b0_res_pjsip_multireg.py");
        let binding = PushBinding {
            provider: String::new(),
            prid: String::new(),
            param: String::new(),
            contact: String::new(),
            user_agent: String::new(),
            instance: String::new(),
            updated_at: 0,
            expires_at: 0,
        };
        let logout = Logout { extension: String::new(), until: 0 };
        let tables = [
            ("ps_multireg_push", binding.to_fields("e").into_iter().map(|(n, _)| n).collect::<Vec<_>>()),
            ("ps_multireg_logout", DeviceKey::Instance("i".into()).to_fields(&logout).into_iter().map(|(n, _)| n).collect()),
        ];
        for (table, names) in tables {
            let sql_table = sql.split(&format!("CREATE TABLE IF NOT EXISTS {table} (")).nth(1).expect(table);
            let sql_table = sql_table.split(");").next().unwrap();
            let alembic_table = migration.split(&format!("'{table}',")).nth(1).expect(table);
            let alembic_table = alembic_table.split("op.create_index").next().unwrap();
            for name in names {
                assert!(sql_table.contains(&format!("    {name} ")), "{table} in multireg.sql lacks {name}");
                assert!(alembic_table.contains(&format!("sa.Column('{name}',")), "{table} in the migration lacks {name}");
            }
        }
    }
}
