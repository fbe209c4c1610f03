//! One real Asterisk 22 process per test (runtime.rs says which Asterisk), with the module loaded,
//! the sample configuration from asterisk-conf/ and a loopback address of its own (so tests run in
//! parallel without port clashes). It is stopped when dropped, also when the test fails.
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use super::runtime::Runtime;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// What a test changes from the sample configuration.
#[derive(Default, Clone)]
pub struct Config {
    /// Appended to asterisk-conf/pjsip.conf.
    pub pjsip_extra: String,
    /// Replaces asterisk-conf/extensions.conf when set.
    pub extensions: Option<String>,
    /// Further files (name, content) written into the instance's etc folder.
    pub files: Vec<(String, String)>,
    /// Keep the sample policies of asterisk-conf/pjsip_multireg.conf (otherwise it is emptied,
    /// so each test states its own policy in `pjsip_extra`).
    pub sample_policy: bool,
    /// Start stock Asterisk: modules.conf gets `noload => res_pjsip_multireg.so` (benchmarks).
    pub without_module: bool,
    /// Appended to modules.conf (e.g. `preload => res_config_pgsql.so`).
    pub modules_extra: String,
    /// asterisk.conf `systemname` (stored as a contact's reg_server); default multireg-test.
    pub systemname: Option<String>,
}

pub struct Asterisk {
    pub ip: String,
    runtime: Runtime,
    inside: String,
    child: Option<Child>,
}

pub const SIP_PORT: u16 = 5060;
pub const HTTP_PORT: u16 = 8088;
pub const AMI_PORT: u16 = 5038;

static INSTANCES: AtomicU32 = AtomicU32::new(0);

pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn module_path() -> PathBuf {
    std::env::var_os("MULTIREG_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir().join("target/release/libres_pjsip_multireg.so"))
}

/// A loopback address nobody else in this run uses: from the process id and a counter.
fn free_loopback_ip() -> String {
    let pid = std::process::id();
    loop {
        let n = INSTANCES.fetch_add(1, Ordering::Relaxed);
        let ip = format!("127.{}.{}.{}", 10 + (n % 200), (pid >> 8) & 255, (pid & 255).max(1));
        if UdpSocket::bind((ip.as_str(), SIP_PORT)).is_ok() && std::net::TcpListener::bind((ip.as_str(), SIP_PORT)).is_ok() {
            return ip;
        }
    }
}

/// Puts the module's XML documentation where Asterisk reads third-party docs at start-up.
fn install_documentation(runtime: &Runtime) {
    let source = project_dir().join("docs/res_pjsip_multireg-en_US.xml");
    let target_dir = runtime.host_path(&format!("{}/documentation/thirdparty", runtime.datadir));
    let target = target_dir.join("res_pjsip_multireg-en_US.xml");
    let text = std::fs::read(&source).expect("docs/res_pjsip_multireg-en_US.xml");
    if std::fs::read(&target).ok().as_deref() != Some(text.as_slice()) {
        std::fs::create_dir_all(&target_dir).unwrap();
        // Written beside and renamed, so parallel tests never see half a file.
        let temporary =
            target_dir.join(format!(".res_pjsip_multireg.{}.{:?}.tmp", std::process::id(), std::thread::current().id()));
        std::fs::write(&temporary, &text).unwrap();
        std::fs::rename(&temporary, &target).unwrap();
    }
}

impl Asterisk {
    pub fn start() -> Asterisk {
        Asterisk::start_with(Config::default())
    }

    pub fn start_with(config: Config) -> Asterisk {
        let runtime = Runtime::from_env();
        let binary = runtime.host_path(&runtime.binary);
        assert!(binary.exists(), "no Asterisk at {}: run `make asterisk`", binary.display());
        let module = module_path();
        assert!(module.exists(), "module not built at {}: run `make build`", module.display());
        install_documentation(&runtime);
        let ip = free_loopback_ip();
        let inside = format!("{}/test-{}", runtime.instances, ip.replace('.', "-"));
        let asterisk = Asterisk { ip, runtime, inside, child: None };
        asterisk.write_instance(&config, &module);
        asterisk.boot()
    }

    /// The instance folder as seen from the host.
    pub fn dir(&self) -> PathBuf {
        self.runtime.host_path(&self.inside)
    }

    fn conf_path(&self) -> String {
        format!("{}/etc/asterisk.conf", self.inside)
    }

    fn write_instance(&self, config: &Config, module: &Path) {
        let dir = self.dir();
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["etc", "lib", "log", "run", "spool", "cache", "modules"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        for entry in std::fs::read_dir(project_dir().join("asterisk-conf")).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "conf") {
                let text = std::fs::read_to_string(&path).unwrap().replace("127.0.0.1", &self.ip);
                std::fs::write(dir.join("etc").join(path.file_name().unwrap()), text).unwrap();
            }
        }
        let pjsip = dir.join("etc/pjsip.conf");
        let mut text = std::fs::read_to_string(&pjsip).unwrap();
        text.push_str("\n; ---- test additions ----\n");
        text.push_str(&config.pjsip_extra);
        std::fs::write(&pjsip, text).unwrap();
        if !config.sample_policy {
            std::fs::write(dir.join("etc/pjsip_multireg.conf"), "; emptied by the test harness\n").unwrap();
        }
        if let Some(extensions) = &config.extensions {
            std::fs::write(dir.join("etc/extensions.conf"), extensions).unwrap();
        }
        for (name, content) in &config.files {
            std::fs::write(dir.join("etc").join(name), content).unwrap();
        }
        if config.without_module || !config.modules_extra.is_empty() {
            let modules = dir.join("etc/modules.conf");
            let mut text = std::fs::read_to_string(&modules).unwrap();
            text.push('\n');
            text.push_str(&config.modules_extra);
            if config.without_module {
                text.push_str("\nnoload => res_pjsip_multireg.so\n");
            }
            std::fs::write(&modules, text).unwrap();
        }
        self.write_asterisk_conf(config.systemname.as_deref().unwrap_or("multireg-test"));
        let stock = &self.runtime.modules;
        let ours = "res_pjsip_multireg.so";
        // The module under test, unless it is the one installed among the stock modules (a
        // package's test): then that file is linked like the others.
        let installed = self.runtime.host_path(&format!("{stock}/{ours}"));
        let use_installed = installed.canonicalize().ok().is_some_and(|p| module.canonicalize().ok() == Some(p));
        for entry in std::fs::read_dir(self.runtime.host_path(stock)).unwrap() {
            let name = entry.unwrap().file_name();
            if name != ours || use_installed {
                std::os::unix::fs::symlink(Path::new(stock).join(&name), dir.join("modules").join(&name)).unwrap();
            }
        }
        if !use_installed {
            std::fs::copy(module, dir.join("modules").join(ours)).unwrap();
        }
    }

    fn write_asterisk_conf(&self, systemname: &str) {
        let i = &self.inside;
        let (data, sbin) = (&self.runtime.datadir, self.runtime.sbindir());
        let text = format!(
            "[directories]\nastetcdir => {i}/etc\nastmoddir => {i}/modules\nastvarlibdir => {i}/lib\nastdbdir => {i}/lib\n\
             astkeydir => {i}/lib\nastdatadir => {data}\nastagidir => {data}/agi-bin\n\
             astspooldir => {i}/spool\nastrundir => {i}/run\nastlogdir => {i}/log\nastcachedir => {i}/cache\n\
             astsbindir => {sbin}\n\n[options]\nsystemname = {systemname}\n"
        );
        std::fs::write(self.dir().join("etc/asterisk.conf"), text).unwrap();
    }

    fn boot(mut self) -> Asterisk {
        let log = std::fs::File::create(self.dir().join("log/stdout.log")).unwrap();
        let child = super::wrapper::start_command(&self.runtime, &self.inside)
            .args(["-f", "-C", &self.conf_path()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start asterisk (tests run as root)");
        self.child = Some(child);
        self.wait_booted();
        self
    }

    fn wait_booted(&mut self) {
        let deadline = Instant::now() + super::wrapper::timeout(Duration::from_secs(30));
        loop {
            if self.try_cli("core waitfullybooted").is_some_and(|o| o.contains("fully booted")) {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("Asterisk exited during start-up ({status}); logs in {}", self.dir().join("log").display());
            }
            assert!(Instant::now() < deadline, "Asterisk did not boot in 30 s; logs in {}", self.dir().display());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn try_cli(&self, command: &str) -> Option<String> {
        let output = self.runtime.command().args(["-C", &self.conf_path(), "-rx", command]).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The command line that reaches this instance's CLI (add `-rx 'command'`), for scripts.
    pub fn cli_command_line(&self) -> String {
        let mut words = self.runtime.command_words();
        words.extend(["-C".to_string(), self.conf_path()]);
        words.join(" ")
    }

    /// Runs one CLI command and returns its output.
    pub fn cli(&self, command: &str) -> String {
        self.try_cli(command).unwrap_or_else(|| panic!("CLI command failed: {command}"))
    }

    /// Replaces the instance's pjsip.conf additions (for reload tests).
    pub fn rewrite_pjsip_extra(&self, extra: &str) {
        self.rewrite_pjsip(|base| base, extra);
    }

    /// Rewrites pjsip.conf from the sample, changed by `edit`, plus `extra`.
    pub fn rewrite_pjsip(&self, edit: impl FnOnce(String) -> String, extra: &str) {
        let base =
            std::fs::read_to_string(project_dir().join("asterisk-conf/pjsip.conf")).unwrap().replace("127.0.0.1", &self.ip);
        std::fs::write(self.dir().join("etc/pjsip.conf"), format!("{}\n; ---- test additions ----\n{extra}", edit(base)))
            .unwrap();
        std::fs::write(self.dir().join("etc/pjsip_multireg.conf"), "; emptied by the test harness\n").unwrap();
    }

    /// `core restart now`: Asterisk re-executes itself in the same process.
    pub fn core_restart(&mut self) {
        let _ = self.try_cli("core restart now");
        let deadline = Instant::now() + super::wrapper::timeout(Duration::from_secs(10));
        // Wait for the old control socket to go away before waiting for the new boot.
        while self.try_cli("core show uptime").is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.wait_booted();
    }

    /// Restarts Asterisk in place (same folders, so astdb and voicemail persist).
    pub fn restart(mut self) -> Asterisk {
        self.stop();
        self.boot()
    }

    pub fn sip_addr(&self) -> SocketAddr {
        format!("{}:{SIP_PORT}", self.ip).parse().unwrap()
    }
    pub fn http_addr(&self) -> SocketAddr {
        format!("{}:{HTTP_PORT}", self.ip).parse().unwrap()
    }
    pub fn ami_addr(&self) -> SocketAddr {
        format!("{}:{AMI_PORT}", self.ip).parse().unwrap()
    }

    pub fn ami(&self) -> super::Ami {
        super::Ami::connect(self.ami_addr(), "multireg", "multireg-ami")
    }

    /// An agent registered as `user` over `transport` from `local_ip`.
    pub fn agent(&self, transport: super::Transport, local_ip: &str, user: &str, password: &str) -> super::Agent {
        let server = if transport == super::Transport::Ws { self.http_addr() } else { self.sip_addr() };
        super::Agent::new(transport, local_ip, server, &self.ip, user, password)
    }

    /// The instance's messages log (notice, warning, error, security).
    pub fn messages_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("log/messages.log")).unwrap_or_default()
    }
    pub fn full_log(&self) -> String {
        std::fs::read_to_string(self.dir().join("log/full.log")).unwrap_or_default()
    }

    /// messages.log once it contains `needle`, or as it is after 5 s: Asterisk's logger thread
    /// writes log files asynchronously, after the logging call returned.
    pub fn messages_log_with(&self, needle: &str) -> String {
        super::wait_for(Duration::from_secs(5), || Some(self.messages_log()).filter(|log| log.contains(needle)))
            .unwrap_or_else(|| self.messages_log())
    }

    /// full.log once it contains `needle`, or as it is after 5 s (see `messages_log_with`).
    pub fn full_log_with(&self, needle: &str) -> String {
        super::wait_for(Duration::from_secs(5), || Some(self.full_log()).filter(|log| log.contains(needle)))
            .unwrap_or_else(|| self.full_log())
    }

    /// ERROR lines logged so far.
    /// The resident memory of the Asterisk process (chroot execs it: same process id).
    pub fn rss_bytes(&self) -> u64 {
        let pid = self.child.as_ref().expect("running").id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
        kb.expect("VmRSS of the Asterisk process") * 1024
    }

    pub fn errors(&self) -> Vec<String> {
        self.messages_log().lines().filter(|l| l.contains(" ERROR[")).map(str::to_string).collect()
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = self.try_cli("core stop now");
            let deadline = Instant::now() + super::wrapper::timeout(Duration::from_secs(5));
            while Instant::now() < deadline {
                if child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Asterisk {
    fn drop(&mut self) {
        self.stop();
        let reports = super::wrapper::sanitizer_reports(&self.dir().join("log"));
        for (name, text) in &reports {
            eprintln!("---- sanitizer report {name} ----\n{text}");
        }
        if !reports.is_empty() && !std::thread::panicking() {
            panic!("sanitizer reports in {}", self.dir().join("log").display());
        }
        if std::thread::panicking() {
            // The log's last lines usually say why; the folder is kept for the rest.
            let log = self.messages_log();
            let tail: Vec<&str> = log.lines().rev().take(25).collect();
            eprintln!("---- last lines of the instance's messages.log ----");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
            eprintln!("Asterisk instance kept for inspection: {}", self.dir().display());
        } else {
            let _ = std::fs::remove_dir_all(self.dir());
        }
    }
}
