//! The active `type=multireg` policies, found by endpoint name in O(1): each policy answers for
//! its primary endpoint and, with dual registration, for its secondary.
use std::collections::HashMap;
use std::sync::Arc;

use crate::policy::config::MultiregConfig;
use crate::policy::device_book::Limits;
use crate::policy::fast_hash::FastMap;

/// Which of a policy's endpoints a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Primary,
    Secondary,
}

#[derive(Debug, Default)]
pub struct PolicyIndex {
    by_section: HashMap<String, Arc<MultiregConfig>>,
    by_endpoint: FastMap<String, (Arc<MultiregConfig>, Side)>,
}

impl PolicyIndex {
    pub fn new(configs: HashMap<String, MultiregConfig>) -> PolicyIndex {
        let mut index = PolicyIndex::default();
        for (section, config) in configs {
            let config = Arc::new(config);
            if let Some(secondary) = config.secondary_endpoint() {
                index.by_endpoint.insert(secondary, (config.clone(), Side::Secondary));
            }
            index.by_endpoint.insert(config.endpoint.clone(), (config.clone(), Side::Primary));
            index.by_section.insert(section, config);
        }
        index
    }

    /// The policy covering `endpoint` (`101` or `101r`).
    pub fn for_endpoint(&self, endpoint: &str) -> Option<(&Arc<MultiregConfig>, Side)> {
        self.by_endpoint.get(endpoint).map(|(config, side)| (config, *side))
    }

    /// The policy whose primary endpoint is `extension`, or whose secondary it is.
    pub fn for_extension(&self, extension: &str) -> Option<&Arc<MultiregConfig>> {
        self.for_endpoint(extension).map(|(config, _)| config)
    }

    /// Every policy, by extension name.
    pub fn sorted(&self) -> Vec<Arc<MultiregConfig>> {
        let mut configs: Vec<Arc<MultiregConfig>> = self.by_section.values().cloned().collect();
        configs.sort_by(|a, b| a.endpoint.cmp(&b.endpoint));
        configs
    }

    /// The sections as plain values, for the next reload to compare against.
    pub fn sections(&self) -> HashMap<String, MultiregConfig> {
        self.by_section.iter().map(|(name, config)| (name.clone(), (**config).clone())).collect()
    }

    pub fn len(&self) -> usize {
        self.by_section.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_section.is_empty()
    }
}

impl MultiregConfig {
    /// The limits on one side's AOR: per type on both, and the secondary also under its total.
    pub fn limits_for(&self, side: Side) -> Limits {
        Limits {
            per_type: self.limits(),
            total: (side == Side::Secondary).then_some(self.secondary_max_devices),
            at_limit: self.at_limit,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_and_secondary_find_the_same_policy() {
        let mut with_secondary = MultiregConfig::with_defaults("101");
        with_secondary.dual_registration = true;
        with_secondary.secondary_max_devices = 2;
        let mut tenant = MultiregConfig::with_defaults("office-102");
        tenant.endpoint = "102".into();
        let index = PolicyIndex::new(HashMap::from([("101".to_string(), with_secondary), ("office-102".to_string(), tenant)]));
        let (config, side) = index.for_endpoint("101r").unwrap();
        assert_eq!((config.endpoint.as_str(), side), ("101", Side::Secondary));
        assert_eq!(index.for_endpoint("101").unwrap().1, Side::Primary);
        assert_eq!(index.for_endpoint("102").unwrap().0.section, "office-102");
        assert!(index.for_endpoint("office-102").is_none());
        assert!(index.for_endpoint("102r").is_none());
        assert_eq!(index.sorted().iter().map(|c| c.endpoint.as_str()).collect::<Vec<_>>(), ["101", "102"]);
        assert_eq!(config.limits_for(Side::Secondary).total, Some(2));
        assert_eq!(config.limits_for(Side::Primary).total, None);
    }
}
