//! Ring modes (home / remote / both): parsing, the feature-code prompt, the `RingMode()`
//! arguments, how a mode is stored in astdb, and which side a call rings.
use crate::policy::names::validate_extension_name;
use std::fmt;
use std::str::FromStr;

/// Which devices of an extension ring on an incoming call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RingMode {
    /// Only the primary endpoint (`101`).
    Home,
    /// Only the remote side: the secondary endpoint (`101r`) or the remote destination.
    Remote,
    /// Both sides.
    Both,
}

impl RingMode {
    pub const ALL: [RingMode; 3] = [RingMode::Home, RingMode::Remote, RingMode::Both];

    /// Reads a word ("home", "Remote", " BOTH ") or the prompt digit ("1", "2", "3").
    pub fn parse(text: &str) -> Option<RingMode> {
        let text = text.trim();
        let mut chars = text.chars();
        if let (Some(digit), None) = (chars.next(), chars.next()) {
            if let Some(mode) = RingMode::from_digit(digit) {
                return Some(mode);
            }
        }
        RingMode::ALL.into_iter().find(|mode| text.eq_ignore_ascii_case(mode.as_str()))
    }

    /// The key pressed at the prompt: 1 = home, 2 = remote, 3 = both.
    pub fn from_digit(digit: char) -> Option<RingMode> {
        match digit {
            '1' => Some(RingMode::Home),
            '2' => Some(RingMode::Remote),
            '3' => Some(RingMode::Both),
            _ => None,
        }
    }

    pub fn digit(self) -> char {
        match self {
            RingMode::Home => '1',
            RingMode::Remote => '2',
            RingMode::Both => '3',
        }
    }

    /// The word shown to users and written to astdb.
    pub fn as_str(self) -> &'static str {
        match self {
            RingMode::Home => "home",
            RingMode::Remote => "remote",
            RingMode::Both => "both",
        }
    }
}

impl fmt::Display for RingMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RingMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        RingMode::parse(text)
            .ok_or_else(|| format!("invalid ring mode '{}': expected home, remote, both (or 1, 2, 3)", text.trim()))
    }
}

/// The default number of attempts the caller gets at the feature-code prompt.
pub const DEFAULT_PROMPT_TRIES: u32 = 3;

/// What the dialplan application does after one answer to the prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PromptStep {
    /// A valid key: store the mode and play the confirmation.
    Confirm(RingMode),
    /// Invalid key or silence: play the prompt again.
    Reprompt { tries_left: u32 },
    /// Out of tries: hang up, the stored mode stays as it was.
    GiveUp,
}

/// One caller's pass through the "press 1, 2 or 3" prompt.
#[derive(Debug, Clone)]
pub struct PromptSession {
    max_tries: u32,
    tries_used: u32,
    finished: Option<PromptStep>,
}

impl PromptSession {
    /// `max_tries` counts every answer including the first; 0 is treated as 1 so the caller is
    /// always asked at least once.
    pub fn new(max_tries: u32) -> PromptSession {
        PromptSession { max_tries: max_tries.max(1), tries_used: 0, finished: None }
    }

    /// Feeds one answer: `Some(key)` for a DTMF key, `None` for a timeout or silence.
    /// Once the session has confirmed or given up, it keeps returning that final step.
    pub fn on_input(&mut self, input: Option<char>) -> PromptStep {
        if let Some(done) = self.finished {
            return done;
        }
        self.tries_used += 1;
        if let Some(mode) = input.and_then(RingMode::from_digit) {
            return *self.finished.insert(PromptStep::Confirm(mode));
        }
        if self.tries_used >= self.max_tries {
            return *self.finished.insert(PromptStep::GiveUp);
        }
        PromptStep::Reprompt { tries_left: self.max_tries - self.tries_used }
    }

    pub fn is_finished(&self) -> bool {
        self.finished.is_some()
    }

    pub fn tries_used(&self) -> u32 {
        self.tries_used
    }
}

/// The parsed arguments of `RingMode([extension[,mode]])`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RingModeArgs {
    /// None: the caller's own extension.
    pub extension: Option<String>,
    /// None: prompt the caller.
    pub mode: Option<RingMode>,
}

/// Parses the application data of `RingMode()`: "", "101", "101,2", "101,remote", ",3".
pub fn parse_ringmode_args(data: &str) -> Result<RingModeArgs, String> {
    let mut parts = data.split(',').map(|part| unquote(part.trim()));
    let extension = parts.next().unwrap_or("");
    let mode = parts.next().unwrap_or("");
    if parts.next().is_some() {
        return Err(format!("RingMode takes at most two arguments (extension, mode), got '{}'", data.trim()));
    }
    let extension = if extension.is_empty() {
        None
    } else {
        validate_extension_name(extension)?;
        Some(extension.to_string())
    };
    let mode = if mode.is_empty() { None } else { Some(mode.parse::<RingMode>()?) };
    Ok(RingModeArgs { extension, mode })
}

/// Dialplan users sometimes quote arguments; Asterisk's own parser strips one pair of quotes.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"').and_then(|t| t.strip_suffix('"')).map(str::trim).unwrap_or(text)
}

/// astdb family holding one key per extension; `database show multireg/ringmode` lists them.
pub const ASTDB_FAMILY: &str = "multireg/ringmode";

/// The astdb key for an extension's ring mode (the extension itself).
pub fn astdb_key(extension: &str) -> Result<&str, String> {
    validate_extension_name(extension)?;
    Ok(extension)
}

/// The value stored in astdb.
pub fn encode(mode: RingMode) -> &'static str {
    mode.as_str()
}

/// Reads a stored value; digits are accepted too in case an administrator wrote one with
/// `database put`. Unknown values give None so the caller falls back to the default.
pub fn decode(stored: &str) -> Option<RingMode> {
    RingMode::parse(stored)
}

/// The mode in force: the stored one when valid, otherwise the configured default.
pub fn decode_or_default(stored: Option<&str>, default: RingMode) -> RingMode {
    stored.and_then(decode).unwrap_or(default)
}

/// Which sources a call to the extension rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingTargets {
    /// Ring the primary endpoint's devices.
    pub primary: bool,
    /// Ring the secondary (`<ext>r`) endpoint's devices.
    pub secondary: bool,
    /// Dial this target (e.g. "PJSIP/0612345678@trunk") as the remote side.
    pub remote_destination: Option<String>,
}

impl RingTargets {
    /// Nothing to ring: the dial path reports CHANUNAVAIL.
    pub fn is_empty(&self) -> bool {
        !self.primary && !self.secondary && self.remote_destination.is_none()
    }
}

/// Chooses the sides to ring. A configured remote destination replaces the secondary endpoint
/// on the remote side. When the extension has no remote side at all (no secondary and no remote
/// destination) the mode cannot mean anything, so the primary rings whatever the stored mode:
/// a leftover "remote" must not make the extension silently unreachable.
pub fn ring_targets(mode: RingMode, secondary: Option<&str>, remote_destination: Option<&str>) -> RingTargets {
    let remote_destination = remote_destination.map(str::trim).filter(|d| !d.is_empty());
    let has_secondary = secondary.map(str::trim).is_some_and(|s| !s.is_empty());
    if remote_destination.is_none() && !has_secondary {
        return RingTargets { primary: true, secondary: false, remote_destination: None };
    }
    let ring_remote = matches!(mode, RingMode::Remote | RingMode::Both);
    RingTargets {
        primary: matches!(mode, RingMode::Home | RingMode::Both),
        secondary: ring_remote && remote_destination.is_none(),
        remote_destination: remote_destination.filter(|_| ring_remote).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_words_any_case_and_digits() {
        assert_eq!(RingMode::parse("home"), Some(RingMode::Home));
        assert_eq!(RingMode::parse(" REMOTE "), Some(RingMode::Remote));
        assert_eq!(RingMode::parse("Both"), Some(RingMode::Both));
        assert_eq!(RingMode::parse("1"), Some(RingMode::Home));
        assert_eq!(RingMode::parse("2"), Some(RingMode::Remote));
        assert_eq!(RingMode::parse("3"), Some(RingMode::Both));
        for bad in ["", "0", "4", "12", "hom", "homes", "#", "*"] {
            assert_eq!(RingMode::parse(bad), None, "{bad:?}");
        }
        assert!("x".parse::<RingMode>().unwrap_err().contains("home, remote, both"));
    }

    #[test]
    fn words_and_digits_round_trip() {
        for mode in RingMode::ALL {
            assert_eq!(RingMode::parse(mode.as_str()), Some(mode));
            assert_eq!(RingMode::from_digit(mode.digit()), Some(mode));
            assert_eq!(mode.to_string(), mode.as_str());
            assert_eq!(decode(encode(mode)), Some(mode));
        }
    }

    #[test]
    fn prompt_confirms_a_valid_key_at_once() {
        let mut session = PromptSession::new(3);
        assert_eq!(session.on_input(Some('2')), PromptStep::Confirm(RingMode::Remote));
        assert!(session.is_finished());
        // Stray keys after the confirmation change nothing.
        assert_eq!(session.on_input(Some('1')), PromptStep::Confirm(RingMode::Remote));
    }

    #[test]
    fn prompt_reprompts_on_bad_key_and_silence_then_gives_up_after_three() {
        let mut session = PromptSession::new(3);
        assert_eq!(session.on_input(Some('9')), PromptStep::Reprompt { tries_left: 2 });
        assert_eq!(session.on_input(None), PromptStep::Reprompt { tries_left: 1 });
        assert_eq!(session.on_input(Some('#')), PromptStep::GiveUp);
        assert_eq!(session.tries_used(), 3);
        // A late valid key does not revive a finished session.
        assert_eq!(session.on_input(Some('1')), PromptStep::GiveUp);
    }

    #[test]
    fn prompt_accepts_a_valid_key_on_the_last_try() {
        let mut session = PromptSession::new(3);
        session.on_input(None);
        session.on_input(Some('*'));
        assert_eq!(session.on_input(Some('3')), PromptStep::Confirm(RingMode::Both));
    }

    #[test]
    fn prompt_with_zero_tries_still_asks_once() {
        let mut session = PromptSession::new(0);
        assert_eq!(session.on_input(None), PromptStep::GiveUp);
        let mut session = PromptSession::new(0);
        assert_eq!(session.on_input(Some('1')), PromptStep::Confirm(RingMode::Home));
    }

    #[test]
    fn ringmode_arguments() {
        assert_eq!(parse_ringmode_args("").unwrap(), RingModeArgs::default());
        assert_eq!(parse_ringmode_args("  ").unwrap(), RingModeArgs::default());
        assert_eq!(parse_ringmode_args("101").unwrap(), RingModeArgs { extension: Some("101".into()), mode: None });
        assert_eq!(
            parse_ringmode_args("101,2").unwrap(),
            RingModeArgs { extension: Some("101".into()), mode: Some(RingMode::Remote) }
        );
        assert_eq!(
            parse_ringmode_args(" 12345101 , Home ").unwrap(),
            RingModeArgs { extension: Some("12345101".into()), mode: Some(RingMode::Home) }
        );
        assert_eq!(parse_ringmode_args(",3").unwrap(), RingModeArgs { extension: None, mode: Some(RingMode::Both) });
        assert_eq!(
            parse_ringmode_args("\"101\",\"both\"").unwrap(),
            RingModeArgs { extension: Some("101".into()), mode: Some(RingMode::Both) }
        );
        assert_eq!(parse_ringmode_args("101,").unwrap().mode, None);
    }

    #[test]
    fn ringmode_argument_errors_say_what_is_wrong() {
        assert!(parse_ringmode_args("101,4").unwrap_err().contains("invalid ring mode '4'"));
        assert!(parse_ringmode_args("101,away").unwrap_err().contains("'away'"));
        assert!(parse_ringmode_args("101,2,x").unwrap_err().contains("at most two"));
        assert!(parse_ringmode_args("10 1,2").is_err());
        assert!(parse_ringmode_args("a/b").is_err());
        // One name rule everywhere (policy::names): 80 characters is the longest extension.
        assert!(parse_ringmode_args(&"9".repeat(81)).is_err());
        assert!(parse_ringmode_args(&"9".repeat(80)).is_ok());
    }

    #[test]
    fn astdb_scheme() {
        assert_eq!(ASTDB_FAMILY, "multireg/ringmode");
        assert_eq!(astdb_key("101"), Ok("101"));
        assert!(astdb_key("").is_err());
        assert!(astdb_key("1/01").is_err(), "a slash would nest astdb keys");
        assert_eq!(decode("remote"), Some(RingMode::Remote));
        assert_eq!(decode("2"), Some(RingMode::Remote));
        assert_eq!(decode("garbage"), None);
        assert_eq!(decode_or_default(Some("garbage"), RingMode::Both), RingMode::Both);
        assert_eq!(decode_or_default(None, RingMode::Home), RingMode::Home);
        assert_eq!(decode_or_default(Some("home"), RingMode::Both), RingMode::Home);
    }

    fn targets(primary: bool, secondary: bool, remote: Option<&str>) -> RingTargets {
        RingTargets { primary, secondary, remote_destination: remote.map(str::to_string) }
    }

    #[test]
    fn targets_with_a_secondary_endpoint() {
        let secondary = Some("101r");
        assert_eq!(ring_targets(RingMode::Home, secondary, None), targets(true, false, None));
        assert_eq!(ring_targets(RingMode::Remote, secondary, None), targets(false, true, None));
        assert_eq!(ring_targets(RingMode::Both, secondary, None), targets(true, true, None));
    }

    #[test]
    fn remote_destination_replaces_the_secondary() {
        let dest = Some("PJSIP/0612345678@trunk");
        for secondary in [Some("101r"), None] {
            assert_eq!(ring_targets(RingMode::Home, secondary, dest), targets(true, false, None));
            assert_eq!(ring_targets(RingMode::Remote, secondary, dest), targets(false, false, dest));
            assert_eq!(ring_targets(RingMode::Both, secondary, dest), targets(true, false, dest));
        }
        // A blank option counts as not configured.
        assert_eq!(ring_targets(RingMode::Remote, Some("101r"), Some("  ")), targets(false, true, None));
    }

    #[test]
    fn without_a_remote_side_the_primary_always_rings() {
        for mode in RingMode::ALL {
            let chosen = ring_targets(mode, None, None);
            assert_eq!(chosen, targets(true, false, None), "{mode}");
            assert!(!chosen.is_empty());
            assert_eq!(ring_targets(mode, Some(""), None), targets(true, false, None));
        }
    }
}
