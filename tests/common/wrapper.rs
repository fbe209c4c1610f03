//! Running Asterisk under a tool (`make asan`, or valgrind by hand):
//!   MULTIREG_ASTERISK_WRAPPER   words put before the asterisk binary when a test starts Asterisk
//!                               (not for `asterisk -rx`), run inside the runtime root, e.g.
//!                               `env LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libasan.so.8 ASAN_OPTIONS=...`
//!                               or `valgrind --log-file={instance}/log/valgrind.%p`; `{instance}`
//!                               is the instance folder as Asterisk sees it
//!   MULTIREG_TIMEOUT_FACTOR     multiplies the start and stop timeouts (default 1)
//! Reports the tool writes into the instance's log folder as `asan.*` make the test fail.
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::runtime::Runtime;

fn wrapper_words(instance: &str) -> Vec<String> {
    std::env::var("MULTIREG_ASTERISK_WRAPPER")
        .unwrap_or_default()
        .split_whitespace()
        .map(|word| word.replace("{instance}", instance))
        .collect()
}

/// The command that starts Asterisk: the runtime's, with the wrapper's words before the binary.
pub fn start_command(runtime: &Runtime, instance: &str) -> Command {
    let words = wrapper_words(instance);
    if words.is_empty() {
        return runtime.command();
    }
    let mut all = runtime.command_words();
    let binary = all.pop().expect("the asterisk binary");
    all.extend(words);
    all.push(binary);
    let mut command = Command::new(&all[0]);
    command.args(&all[1..]);
    command
}

/// `base`, longer when the environment says Asterisk runs under a slow tool.
pub fn timeout(base: Duration) -> Duration {
    let factor = std::env::var("MULTIREG_TIMEOUT_FACTOR").ok().and_then(|f| f.parse::<u32>().ok()).unwrap_or(1).max(1);
    base * factor
}

/// Sanitizer reports written into the instance's log folder (`asan.<pid>`), with their text.
pub fn sanitizer_reports(log_dir: &Path) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(log_dir) else { return Vec::new() };
    let mut reports: Vec<(String, String)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("asan."))
        .map(|entry| {
            (entry.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(entry.path()).unwrap_or_default())
        })
        .collect();
    reports.sort();
    reports
}
