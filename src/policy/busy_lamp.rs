//! One busy lamp per extension (`Multireg:<extension>`): the device states of the primary and
//! its secondary, and of the remote destination's calls made through MultiregDial, combined the
//! way Asterisk combines the devices of a hint (ringing and in use together = ringing in use; else
//! the state that says most); the extension's own rules then say busy (All Busy Mode with a call,
//! or the call limit reached).

/// Asterisk's `enum ast_device_state`, with its numeric values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    Unknown = 0,
    NotInUse = 1,
    InUse = 2,
    Busy = 3,
    Invalid = 4,
    Unavailable = 5,
    Ringing = 6,
    RingInUse = 7,
    OnHold = 8,
}

impl DeviceState {
    pub fn from_raw(value: i32) -> DeviceState {
        match value {
            1 => DeviceState::NotInUse,
            2 => DeviceState::InUse,
            3 => DeviceState::Busy,
            4 => DeviceState::Invalid,
            5 => DeviceState::Unavailable,
            6 => DeviceState::Ringing,
            7 => DeviceState::RingInUse,
            8 => DeviceState::OnHold,
            _ => DeviceState::Unknown,
        }
    }

    pub fn raw(self) -> i32 {
        self as i32
    }

    /// As `core show hints` words it.
    pub fn display_name(self) -> &'static str {
        match self {
            DeviceState::Unknown => "Unknown",
            DeviceState::NotInUse => "Idle",
            DeviceState::InUse => "InUse",
            DeviceState::Busy => "Busy",
            DeviceState::Invalid => "Invalid",
            DeviceState::Unavailable => "Unavailable",
            DeviceState::Ringing => "Ringing",
            DeviceState::RingInUse => "InUse&Ringing",
            DeviceState::OnHold => "Hold",
        }
    }

    /// How much a state says about the person, least first: a device that does not exist says
    /// nothing, one in use says more than an idle one.
    fn weight(self) -> u8 {
        match self {
            DeviceState::Invalid => 0,
            DeviceState::Unknown => 1,
            DeviceState::Unavailable => 2,
            DeviceState::NotInUse => 3,
            DeviceState::OnHold => 4,
            DeviceState::Ringing => 5,
            DeviceState::InUse => 6,
            DeviceState::Busy => 7,
            DeviceState::RingInUse => 8,
        }
    }
}

/// A call MultiregDial placed to the extension's remote destination, while it lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoteCall {
    Ringing,
    Answered,
}

/// The combined state of several devices (none: invalid).
pub fn combine(states: impl IntoIterator<Item = DeviceState>) -> DeviceState {
    let (mut ringing, mut in_use, mut result) = (false, false, DeviceState::Invalid);
    for state in states {
        ringing |= state == DeviceState::Ringing;
        in_use |= matches!(state, DeviceState::InUse | DeviceState::OnHold | DeviceState::Busy);
        if ringing && in_use {
            result = DeviceState::RingInUse;
        } else if state.weight() > result.weight() {
            result = state;
        }
    }
    result
}

/// The lamp: the devices of both endpoints and the remote calls combined; busy when the
/// extension's rules refuse new calls now (`busy_by_rule`).
pub fn lamp_state(devices: &[DeviceState], remote_calls: &[RemoteCall], busy_by_rule: bool) -> DeviceState {
    let remote = remote_calls.iter().map(|call| match call {
        RemoteCall::Ringing => DeviceState::Ringing,
        RemoteCall::Answered => DeviceState::InUse,
    });
    let combined = combine(devices.iter().copied().chain(remote));
    if busy_by_rule && combined != DeviceState::RingInUse {
        return DeviceState::Busy;
    }
    combined
}

/// The extensions of the `Multireg:<extension>` devices in a device list such as a hint's
/// (`PJSIP/104&Multireg:101`, presence after a comma ignored); the technology in any case.
pub fn lamp_extensions(devices: &str) -> impl Iterator<Item = &str> {
    const TECH: &str = "multireg:";
    devices.split(['&', ',']).filter_map(|device| {
        let device = device.trim();
        let (tech, extension) = device.split_at_checked(TECH.len())?;
        (tech.eq_ignore_ascii_case(TECH) && !extension.is_empty()).then_some(extension)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DeviceState::*;

    #[test]
    fn devices_combine_as_a_hint_does() {
        assert_eq!(combine([]), Invalid);
        assert_eq!(combine([Unavailable, Unavailable]), Unavailable, "nothing registered");
        assert_eq!(combine([NotInUse, Unavailable]), NotInUse);
        assert_eq!(combine([Ringing, NotInUse]), Ringing);
        assert_eq!(combine([InUse, Unavailable]), InUse);
        assert_eq!(combine([InUse, Ringing]), RingInUse);
        assert_eq!(combine([Ringing, OnHold]), RingInUse);
        assert_eq!(combine([OnHold, NotInUse]), OnHold);
        for raw in 0..=8 {
            assert_eq!(DeviceState::from_raw(raw).raw(), raw);
        }
    }

    #[test]
    fn remote_calls_and_rules_join_in() {
        assert_eq!(lamp_state(&[NotInUse, Unavailable], &[RemoteCall::Ringing], false), Ringing);
        assert_eq!(lamp_state(&[NotInUse], &[RemoteCall::Answered], false), InUse);
        assert_eq!(lamp_state(&[Unavailable, Unavailable], &[], false), Unavailable);
        assert_eq!(lamp_state(&[InUse, NotInUse], &[], true), Busy, "All Busy Mode with a call, or the limit");
        assert_eq!(lamp_state(&[InUse, Ringing], &[], true), RingInUse);
    }

    #[test]
    fn the_lamps_of_a_device_list_are_found_in_any_case() {
        let found: Vec<&str> = lamp_extensions("PJSIP/104&Multireg:101&MULTIREG:102,CustomPresence:101").collect();
        assert_eq!(found, ["101", "102"]);
        assert_eq!(lamp_extensions("Multireg:").count(), 0, "no extension");
        assert_eq!(lamp_extensions("PJSIP/101&Custom:Multireg:9").count(), 0, "only a device's technology counts");
        assert_eq!(lamp_extensions("é&Multireg:é1").collect::<Vec<_>>(), ["é1"], "not sliced inside a character");
    }
}
