//! `make install` (scripts/install.sh) compares the running Asterisk with the headers the module was
//! built against, and refuses what Asterisk itself would refuse to load, before copying anything.
mod common;

use common::Asterisk;
use std::path::{Path, PathBuf};
use std::process::Command;

fn module() -> PathBuf {
    std::env::var_os("MULTIREG_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| common::asterisk::project_dir().join("target/release/libres_pjsip_multireg.so"))
}

/// install.sh against a running instance, into a scratch folder; (succeeded, output).
fn install(asterisk: &Asterisk, module: &Path, into: &Path) -> (bool, String) {
    let project = common::asterisk::project_dir();
    let output = Command::new("bash")
        .arg(project.join("scripts/install.sh"))
        .arg(module)
        .current_dir(&project)
        .env("ASTERISK_CLI", asterisk.cli_command_line())
        .env("ASTERISK_MODDIR", into.join("modules"))
        .env("ASTERISK_DATADIR", into.join("data"))
        .env("ASTERISK_ETCDIR", into.join("etc"))
        .output()
        .expect("run install.sh");
    (output.status.success(), format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
}

/// A copy of the module whose recorded build information has `from` replaced by `to` (same length).
fn doctored(module: &Path, from: &str, to: &str, dir: &Path) -> PathBuf {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(module).unwrap();
    let marker = b"res_pjsip_multireg built for: ";
    let start = bytes.windows(marker.len()).position(|w| w == marker).expect("build information in the module");
    let end = start + bytes[start..].iter().position(|&b| b == b';').unwrap();
    let line = String::from_utf8(bytes[start..end].to_vec()).unwrap();
    let changed = line.replacen(from, to, 1);
    assert_ne!(line, changed, "{from} not in {line}");
    bytes[start..end].copy_from_slice(changed.as_bytes());
    let copy = dir.join("doctored.so");
    std::fs::write(&copy, bytes).unwrap();
    copy
}

fn recorded(module: &Path, key: &str) -> String {
    let bytes = std::fs::read(module).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    let line = text.split("res_pjsip_multireg built for: ").nth(1).unwrap().split(';').next().unwrap().to_string();
    line.split(' ').find_map(|w| w.strip_prefix(&format!("{key}="))).unwrap_or_else(|| panic!("{key} in {line}")).to_string()
}

#[test]
fn install_checks_the_running_asterisk_and_accepts_a_matching_module() {
    let asterisk = Asterisk::start();
    let scratch = tempfile::tempdir().unwrap();
    let (ok, output) = install(&asterisk, &module(), scratch.path());
    assert!(ok, "{output}");
    assert!(output.contains("matches the module's headers"), "{output}");
    assert!(scratch.path().join("modules/res_pjsip_multireg.so").is_file());
}

#[test]
fn install_refuses_a_module_built_with_other_build_options() {
    let asterisk = Asterisk::start();
    let scratch = tempfile::tempdir().unwrap();
    let sum = recorded(&module(), "buildopt_sum");
    let other = match sum.strip_prefix('0') {
        Some(rest) => format!("1{rest}"),
        None => format!("0{}", &sum[1..]),
    };
    let module = doctored(&module(), &sum, &other, scratch.path());
    let (ok, output) = install(&asterisk, &module, scratch.path());
    assert!(!ok, "{output}");
    assert!(output.contains("would not load this module") && output.contains(&other) && output.contains(&sum), "{output}");
    assert!(output.contains("ASTERISK_SRC=") && output.contains("ASTERISK_INCLUDE_DIR="), "{output}");
    assert!(!scratch.path().join("modules").exists(), "nothing copied: {output}");
}

#[test]
fn install_refuses_a_module_built_for_another_version() {
    let asterisk = Asterisk::start();
    let scratch = tempfile::tempdir().unwrap();
    let version = recorded(&module(), "version");
    assert!(version.starts_with("22."), "the build recorded version {version}");
    let other = format!("21.{}", &version[3..]);
    let module = doctored(&module(), &format!("version={version}"), &format!("version={other}"), scratch.path());
    let (ok, output) = install(&asterisk, &module, scratch.path());
    assert!(!ok, "{output}");
    assert!(output.contains(&format!("built against Asterisk {other} headers")), "{output}");
    assert!(!scratch.path().join("modules").exists(), "nothing copied: {output}");
}
