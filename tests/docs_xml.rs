//! The XML documentation is accepted as Asterisk reads it (XInclude processing, then the DTD) by the
//! host's xmllint; on Debian 12 that is libxml2 2.9, which drops a file whose XInclude it cannot
//! resolve (and with it every help text of the module). `make deps` installs xmllint.
mod common;

use std::process::Command;

#[test]
fn documentation_passes_xinclude_and_the_asterisk_dtd() {
    let runtime = common::runtime::Runtime::from_env();
    let dtd = runtime.host_path(&format!("{}/documentation/appdocsxml.dtd", runtime.datadir));
    assert!(dtd.is_file(), "no appdocsxml.dtd at {}: run `make asterisk`", dtd.display());
    let docs = common::asterisk::project_dir().join("docs/res_pjsip_multireg-en_US.xml");
    let output = Command::new("xmllint")
        .args(["--xinclude", "--nonet", "--noout", "--dtdvalid"])
        .arg(&dtd)
        .arg(&docs)
        .output()
        .expect("xmllint (package libxml2-utils; `make deps` installs it)");
    let errors: Vec<String> = String::from_utf8_lossy(&output.stderr)
        .lines()
        // The DOCTYPE's relative DTD is not beside the source file; --dtdvalid names it instead.
        .filter(|l| !l.contains("failed to load external entity") && !l.contains("<!DOCTYPE") && l.trim() != "^")
        .map(str::to_string)
        .collect();
    assert!(output.status.success() && errors.is_empty(), "xmllint: {errors:#?}");
    let text = std::fs::read_to_string(&docs).unwrap();
    assert!(!text.contains("xi:include"), "XIncludes resolve differently across libxml2 versions; write the text out");
}
