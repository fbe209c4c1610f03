//! A User-Agent expression with a memory of the User-Agents it saw last.
//!
//! A PBX's devices carry a handful of distinct User-Agents and repeat them at every refresh, while
//! a regex search from one of Asterisk's many SIP threads may first have to build a search cache
//! for that thread. The answer for a User-Agent seen before is looked up instead; the memory is
//! bounded and starts over when full, so unusual User-Agents only cost the search.
use std::sync::RwLock;

use regex::Regex;

use super::fast_hash::FastMap;

/// Distinct User-Agents remembered per expression.
const REMEMBERED: usize = 256;
/// Longer User-Agents are searched every time (a memory of them would be mostly key).
const LONGEST_REMEMBERED: usize = 256;

/// User-Agent → byte range of the first match, if any.
type Remembered = FastMap<Box<str>, Option<(usize, usize)>>;

#[derive(Debug)]
pub struct AgentMatcher {
    regex: Regex,
    /// Read by every REGISTER, written only for a User-Agent not seen before: readers never wait
    /// for each other.
    recent: RwLock<Remembered>,
}

impl AgentMatcher {
    pub fn new(regex: Regex) -> AgentMatcher {
        AgentMatcher { regex, recent: RwLock::new(FastMap::default()) }
    }

    /// The first match of the expression in `user_agent`.
    pub fn find<'u>(&self, user_agent: &'u str) -> Option<&'u str> {
        if user_agent.len() > LONGEST_REMEMBERED {
            return self.regex.find(user_agent).map(|m| m.as_str());
        }
        let remembered = self.recent.read().ok().and_then(|recent| recent.get(user_agent).copied());
        let range = match remembered {
            Some(range) => range,
            None => {
                let range = self.regex.find(user_agent).map(|m| (m.start(), m.end()));
                if let Ok(mut recent) = self.recent.write() {
                    if recent.len() >= REMEMBERED {
                        recent.clear();
                    }
                    recent.insert(user_agent.into(), range);
                }
                range
            }
        };
        range.map(|(start, end)| &user_agent[start..end])
    }

    #[cfg(test)]
    fn remembered(&self) -> usize {
        self.recent.read().unwrap().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(pattern: &str) -> AgentMatcher {
        AgentMatcher::new(regex::RegexBuilder::new(pattern).case_insensitive(true).build().unwrap())
    }

    #[test]
    fn a_remembered_answer_is_the_searched_one() {
        let m = matcher(r"zoiper|linphone");
        for _ in 0..2 {
            assert_eq!(m.find("Z Zoiper rv2.10"), Some("Zoiper"));
            assert_eq!(m.find("Yealink SIP-T46U"), None);
        }
        assert_eq!(m.remembered(), 2);
    }

    #[test]
    fn the_memory_stays_bounded_and_long_agents_are_not_kept() {
        let m = matcher(r"phone");
        for n in 0..(REMEMBERED * 3) {
            let agent = format!("agent {n} phone");
            assert_eq!(m.find(&agent), Some("phone"));
            assert!(m.remembered() <= REMEMBERED);
        }
        let long = "x".repeat(LONGEST_REMEMBERED + 1) + "phone";
        let before = m.remembered();
        assert_eq!(m.find(&long), Some("phone"));
        assert_eq!(m.remembered(), before);
    }
}
