//! The dialplan applications (RingMode, MultiregDial) and functions (MULTIREG_DIAL, RING_MODE):
//! typed names and their registration. XML documentation is installed as third-party docs.
use std::ffi::c_int;

use crate::bindings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialplanApp {
    RingMode,
    MultiregDial,
    /// MultiregFlip([extension]) (include/dialfx.c).
    MultiregFlip,
    /// MultiregDelayedRing(token): a staggered ring group's Local channel (include/dialfx.c).
    MultiregDelayedRing,
    /// Hidden: runs on the Local channel that wakes a push device (module/push_wake.rs).
    PushWake,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialplanFunction {
    MultiregDial,
    RingMode,
}

impl TryFrom<c_int> for DialplanApp {
    type Error = c_int;

    fn try_from(index: c_int) -> Result<Self, c_int> {
        match index as u32 {
            bindings::MULTIREG_APP_RINGMODE => Ok(DialplanApp::RingMode),
            bindings::MULTIREG_APP_MULTIREGDIAL => Ok(DialplanApp::MultiregDial),
            bindings::MULTIREG_APP_MULTIREGFLIP => Ok(DialplanApp::MultiregFlip),
            bindings::MULTIREG_APP_MULTIREGDELAYEDRING => Ok(DialplanApp::MultiregDelayedRing),
            bindings::MULTIREG_APP_PUSHWAKE => Ok(DialplanApp::PushWake),
            _ => Err(index),
        }
    }
}

impl TryFrom<c_int> for DialplanFunction {
    type Error = c_int;

    fn try_from(index: c_int) -> Result<Self, c_int> {
        match index as u32 {
            bindings::MULTIREG_FUNC_MULTIREG_DIAL => Ok(DialplanFunction::MultiregDial),
            bindings::MULTIREG_FUNC_RING_MODE => Ok(DialplanFunction::RingMode),
            _ => Err(index),
        }
    }
}
