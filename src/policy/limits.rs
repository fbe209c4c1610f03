//! Per-client-type device limits and what happens at the limit (the decision itself is in
//! `device_book`).
use crate::policy::classify::ClientType;

/// Concurrent registrations allowed per client type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeLimits {
    pub ip_phone: u32,
    pub web: u32,
    pub desktop: u32,
    pub mobile: u32,
}

/// One device of each type: an extension without explicit limits behaves sensibly.
pub const DEFAULT_LIMITS: TypeLimits = TypeLimits { ip_phone: 1, web: 1, desktop: 1, mobile: 1 };

impl TypeLimits {
    pub fn get(&self, client_type: ClientType) -> u32 {
        match client_type {
            ClientType::IpPhone => self.ip_phone,
            ClientType::Web => self.web,
            ClientType::Desktop => self.desktop,
            ClientType::Mobile => self.mobile,
        }
    }

    /// Most devices the AOR can hold at once (compare with the AOR's `max_contacts`).
    pub fn total(&self) -> u32 {
        ClientType::ALL.iter().map(|t| self.get(*t)).sum()
    }
}

/// What a new device meets when its type is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AtLimit {
    /// 403 for the newcomer; registered devices stay (default: an unknown device never kicks the desk phone).
    #[default]
    Reject,
    /// The longest-registered device(s) of that type are removed to make room.
    ReplaceOldest,
}

impl AtLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            AtLimit::Reject => "reject",
            AtLimit::ReplaceOldest => "replace_oldest",
        }
    }

    pub fn parse(value: &str) -> Option<AtLimit> {
        match value.trim().to_ascii_lowercase().as_str() {
            "reject" => Some(AtLimit::Reject),
            "replace_oldest" => Some(AtLimit::ReplaceOldest),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_helpers() {
        let limits = TypeLimits { ip_phone: 5, web: 3, desktop: 2, mobile: 1 };
        assert_eq!(limits.total(), 11);
        assert_eq!(limits.get(ClientType::Desktop), 2);
        assert_eq!(AtLimit::parse(" Replace_Oldest "), Some(AtLimit::ReplaceOldest));
        assert_eq!(AtLimit::parse("reject").map(AtLimit::as_str), Some("reject"));
        assert_eq!(AtLimit::parse("kick"), None);
    }
}
