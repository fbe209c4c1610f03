//! Ring modes kept through the sorcery type multireg_ringmode (astdb by default): modes stored
//! directly in the astdb family multireg/ringmode by earlier versions are moved at load.
mod common;

use common::{Asterisk, Config};

#[test]
fn modes_stored_by_earlier_versions_are_moved_into_the_sorcery_type_at_load() {
    let asterisk = Asterisk::start_with(Config { sample_policy: true, ..Config::default() });
    asterisk.cli("database put multireg/ringmode 101 remote");
    asterisk.cli("database put multireg/ringmode 102 2");
    assert!(asterisk.cli("module unload res_pjsip_multireg.so").contains("Unloaded"));
    assert!(asterisk.cli("module load res_pjsip_multireg.so").contains("Loaded"));
    assert!(asterisk.cli("multireg show extension 101").contains("Ring mode:        remote"));
    assert!(asterisk.cli("multireg show extension 102").contains("Ring mode:        remote"));
    let old = asterisk.cli("database show multireg/ringmode");
    assert!(!old.contains("/101") && !old.contains("/102"), "moved keys are deleted: {old}");
    let new = asterisk.cli("database show multireg/multireg_ringmode");
    assert!(new.contains("/multireg/multireg_ringmode/101") && new.contains("remote"), "{new}");
    // Changes are stored in the type and survive a restart.
    assert!(asterisk.cli("multireg set ringmode 101 home").contains("to home"));
    let asterisk = asterisk.restart();
    assert!(asterisk.cli("multireg show extension 101").contains("Ring mode:        home"));
}
