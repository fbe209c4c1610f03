//! `module unload` gives back what the module held. dlclose unmaps a Rust module's statics without
//! dropping them, so anything still in them at unload (policies, device books, the secondaries'
//! fingerprints) would be lost on every unload/load cycle: measured at about 3 KB per extension
//! per cycle before the module emptied them. Asterisk's RSS over a few cycles shows it.
mod common;

use std::fmt::Write;
use std::time::Duration;

use common::{wait_for, Asterisk, Config};

const EXTENSIONS: usize = 2000;
const CYCLES: usize = 4;

fn extensions_with_policies() -> String {
    let mut text = String::new();
    for n in 0..EXTENSIONS {
        let ext = 400_000 + n;
        writeln!(
            text,
            "[{ext}]\ntype = endpoint\ncontext = internal\nallow = ulaw\naors = {ext}\nauth = {ext}\n\n\
             [{ext}]\ntype = aor\nmax_contacts = 5\n\n\
             [{ext}]\ntype = auth\nauth_type = userpass\nusername = {ext}\npassword = pw{ext}\n\n\
             [{ext}]\ntype = multireg\nmax_ip_phones = 2\ndual_registration = yes\n"
        )
        .unwrap();
    }
    text
}

fn stat(asterisk: &Asterisk, name: &str) -> u64 {
    let text = asterisk.cli("multireg show stats");
    text.lines().find_map(|line| line.strip_prefix(&format!("{name}: "))).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

/// Unloads and loads the module, then waits until its books are read ahead again.
fn cycle(asterisk: &Asterisk) {
    let out = asterisk.cli("module unload res_pjsip_multireg.so");
    assert!(out.contains("Unloaded"), "{out}");
    let out = asterisk.cli("module load res_pjsip_multireg.so");
    assert!(out.contains("Loaded"), "{out}");
    let read = wait_for(Duration::from_secs(30), || (stat(asterisk, "books_read_ahead") >= EXTENSIONS as u64).then_some(()));
    assert!(read.is_some(), "books not read ahead after load: {}", asterisk.cli("multireg show stats"));
}

#[test]
fn unload_load_cycles_give_back_the_modules_memory() {
    let asterisk = Asterisk::start_with(Config { pjsip_extra: extensions_with_policies(), ..Config::default() });
    let secondary = asterisk.cli(&format!("pjsip show endpoint {}r", 400_000 + EXTENSIONS - 1));
    assert!(secondary.contains("Endpoint:"), "the last secondary was not created: {secondary}");
    // One cycle first: what Asterisk itself allocates once (caches, first-use tables) is then there.
    cycle(&asterisk);
    let before = asterisk.rss_bytes();
    for _ in 0..CYCLES {
        cycle(&asterisk);
    }
    let after = asterisk.rss_bytes();
    let per_extension_and_cycle = (after as f64 - before as f64) / (EXTENSIONS * CYCLES) as f64;
    // Losing the tables cost ~3,000 bytes per extension and cycle, and the free memory left in
    // malloc arenas ~16,000; what the allocator varies by is within ±5 MB here (~600).
    assert!(
        per_extension_and_cycle < 1500.0,
        "RSS grew from {} to {} KB over {CYCLES} unload/load cycles: {per_extension_and_cycle:.0} bytes per extension and cycle",
        before / 1024,
        after / 1024
    );
}
