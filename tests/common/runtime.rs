//! Which Asterisk the tests run, from variables, so the same tests serve Debian's package (the
//! embedded runtime root, the default) and a source build installed into a prefix:
//!   MULTIREG_ASTERISK_ROOT      folder Asterisk runs chrooted in; `/` runs it directly on the host
//!                               (default: $MULTIREG_CACHE/root)
//!   MULTIREG_ASTERISK_BINARY    the asterisk binary, as seen inside that root (default /usr/sbin/asterisk)
//!   MULTIREG_ASTERISK_MODULES   the stock module folder, inside the root
//!                               (default /usr/lib/x86_64-linux-gnu/asterisk/modules)
//!   MULTIREG_ASTERISK_DATADIR   astdatadir (documentation/, sounds/), inside the root (default /usr/share/asterisk)
//!   MULTIREG_INSTANCES          where per-test instance folders go, inside the root (default /srv/multireg)
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Runtime {
    pub root: PathBuf,
    pub binary: String,
    pub modules: String,
    pub datadir: String,
    pub instances: String,
}

fn var_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_string())
}

pub fn cache_dir() -> PathBuf {
    std::env::var_os("MULTIREG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/res_pjsip_multireg"))
}

impl Runtime {
    pub fn from_env() -> Runtime {
        let root = std::env::var_os("MULTIREG_ASTERISK_ROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| cache_dir().join("root"));
        Runtime {
            root,
            binary: var_or("MULTIREG_ASTERISK_BINARY", "/usr/sbin/asterisk"),
            modules: var_or("MULTIREG_ASTERISK_MODULES", "/usr/lib/x86_64-linux-gnu/asterisk/modules"),
            datadir: var_or("MULTIREG_ASTERISK_DATADIR", "/usr/share/asterisk"),
            instances: var_or("MULTIREG_INSTANCES", "/srv/multireg"),
        }
    }

    fn chrooted(&self) -> bool {
        self.root != Path::new("/")
    }

    /// A path inside the root, as seen from the host.
    pub fn host_path(&self, inside: &str) -> PathBuf {
        self.root.join(inside.trim_start_matches('/'))
    }

    /// The command that runs the asterisk binary (chrooted unless the root is `/`).
    pub fn command(&self) -> Command {
        if self.chrooted() {
            let mut command = Command::new("chroot");
            command.arg(&self.root).arg(&self.binary);
            command
        } else {
            Command::new(&self.binary)
        }
    }

    /// The same command as words, e.g. for a script's ASTERISK_CLI.
    pub fn command_words(&self) -> Vec<String> {
        let mut words = Vec::new();
        if self.chrooted() {
            words.push("chroot".to_string());
            words.push(self.root.display().to_string());
        }
        words.push(self.binary.clone());
        words
    }

    /// The folder holding the binary, as Asterisk sees it (astsbindir).
    pub fn sbindir(&self) -> String {
        Path::new(&self.binary).parent().map(|p| p.display().to_string()).unwrap_or_else(|| "/usr/sbin".into())
    }
}
