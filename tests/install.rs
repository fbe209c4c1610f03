//! `make install` (scripts/install.sh) puts the module and its documentation in place and never
//! overwrites an existing configuration file.
mod common;

use std::process::Command;

fn run_install(moddir: &std::path::Path, datadir: &std::path::Path, etcdir: &std::path::Path) -> String {
    let project = common::asterisk::project_dir();
    let module = std::env::var("MULTIREG_MODULE")
        .unwrap_or_else(|_| project.join("target/release/libres_pjsip_multireg.so").display().to_string());
    let output = Command::new("bash")
        .arg(project.join("scripts/install.sh"))
        .arg(&module)
        .current_dir(&project)
        .env("ASTERISK_MODDIR", moddir)
        .env("ASTERISK_DATADIR", datadir)
        .env("ASTERISK_ETCDIR", etcdir)
        .output()
        .expect("run install.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{text}");
    text
}

#[test]
fn install_places_files_and_keeps_existing_configuration() {
    let root = tempfile::tempdir().unwrap();
    let (moddir, datadir, etcdir) = (root.path().join("modules"), root.path().join("data"), root.path().join("etc"));
    let first = run_install(&moddir, &datadir, &etcdir);
    assert!(moddir.join("res_pjsip_multireg.so").is_file(), "{first}");
    assert!(datadir.join("documentation/thirdparty/res_pjsip_multireg-en_US.xml").is_file());
    let sample = std::fs::read_to_string(etcdir.join("pjsip_multireg.conf")).unwrap();
    assert!(sample.contains("type = multireg"));

    std::fs::write(etcdir.join("pjsip_multireg.conf"), "; mine\n").unwrap();
    let second = run_install(&moddir, &datadir, &etcdir);
    assert_eq!(std::fs::read_to_string(etcdir.join("pjsip_multireg.conf")).unwrap(), "; mine\n", "existing file kept");
    assert!(second.contains("left as it is"), "{second}");
}
