//! An Asterisk 22 instance of the benchmark, from the embedded runtime root: its own folder,
//! its own loopback address 127.78.x.y, a pjsip.conf given by the caller, and measurements of
//! the process (boot time, CPU time, RSS, time until idle).
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::config::LOGGER_CONF;

pub struct Instance {
    /// "stock" or "module", for messages.
    pub label: &'static str,
    pub ip: String,
    pub with_module: bool,
    root: PathBuf,
    inside: String,
    child: Option<Child>,
}

fn cache_dir() -> PathBuf {
    std::env::var_os("MULTIREG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/res_pjsip_multireg"))
}

fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn module_path() -> PathBuf {
    std::env::var_os("MULTIREG_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| project_dir().join("target/release/libres_pjsip_multireg.so"))
}

fn port_free(ip: &str) -> bool {
    UdpSocket::bind((ip, 5060)).is_ok()
        && TcpListener::bind((ip, 5060)).is_ok()
        && TcpListener::bind((ip, 5038)).is_ok()
        && TcpListener::bind((ip, 8088)).is_ok()
}

static NEXT: AtomicU32 = AtomicU32::new(1);

/// A free 127.78.x.y: x from the process id, y counted up (never reused within the run, even
/// when the instance that had it is stopped).
fn free_ip() -> String {
    let x = std::process::id() % 250 + 1;
    loop {
        let y = NEXT.fetch_add(1, Ordering::Relaxed);
        if y > 254 {
            break;
        }
        let ip = format!("127.78.{x}.{y}");
        if port_free(&ip) {
            return ip;
        }
    }
    panic!("no free address in 127.78.{x}.0/24");
}

/// The counters of a /proc `stat` file, numbered as proc(5) numbers the fields from 3 (state)
/// on; the command name before them is in parentheses and may hold spaces. 0 where unreadable.
struct StatFields(Vec<u64>);

impl StatFields {
    fn read(path: &str) -> StatFields {
        let stat = std::fs::read_to_string(path).unwrap_or_default();
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        StatFields(rest.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect())
    }

    /// Field `number` of proc(5) (minflt is 10, utime 14, stime 15).
    fn field(&self, number: usize) -> u64 {
        self.0.get(number - 3).copied().unwrap_or(0)
    }

    /// User and system CPU seconds.
    fn cpu(&self) -> (f64, f64) {
        // SAFETY: sysconf has no memory effects.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        (self.field(14) as f64 / hz, self.field(15) as f64 / hz)
    }
}

/// CPU seconds (user + system) of a process, from /proc.
pub fn process_cpu(pid: u32) -> f64 {
    let (user, system) = process_cpu_split(pid);
    user + system
}

/// CPU time the process has used so far in seconds, split into user and system time.
pub fn process_cpu_split(pid: u32) -> (f64, f64) {
    StatFields::read(&format!("/proc/{pid}/stat")).cpu()
}

/// Minor page faults the process has taken so far.
pub fn process_minor_faults(pid: u32) -> u64 {
    StatFields::read(&format!("/proc/{pid}/stat")).field(10)
}

/// CPU seconds (user + system) each thread of the process has used so far, by thread id, with the
/// thread's voluntary and involuntary context switches.
pub fn thread_cpu_by_id(pid: u32) -> std::collections::HashMap<u32, (f64, u64, u64)> {
    let mut threads = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return threads };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u32>().ok()) else { continue };
        let (user, system) = StatFields::read(&format!("/proc/{pid}/task/{tid}/stat")).cpu();
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let switches =
            |key: &str| status.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
        threads.insert(tid, (user + system, switches("voluntary_ctxt_switches:"), switches("nonvoluntary_ctxt_switches:")));
    }
    threads
}

impl Instance {
    /// Writes the instance's folder (not started yet).
    pub fn create(label: &'static str, with_module: bool, pjsip_conf: impl Fn(&str) -> String) -> Instance {
        let root = cache_dir().join("root");
        assert!(root.join("usr/sbin/asterisk").exists(), "no Asterisk runtime at {}: run `make asterisk`", root.display());
        let ip = free_ip();
        let inside = format!("/srv/multireg/bench-{}", ip.replace('.', "-"));
        let instance = Instance { label, ip, with_module, root, inside, child: None };
        instance.write_folder(&pjsip_conf(&instance.ip));
        instance
    }

    /// The instance's folder as Asterisk sees it (inside the runtime root).
    pub fn inside(&self) -> &str {
        &self.inside
    }

    /// The runtime root the instance runs in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self) -> PathBuf {
        self.root.join(self.inside.trim_start_matches('/'))
    }

    fn conf_path(&self) -> String {
        format!("{}/etc/asterisk.conf", self.inside)
    }

    pub fn sip_addr(&self) -> SocketAddr {
        format!("{}:5060", self.ip).parse().unwrap()
    }

    pub fn ami_addr(&self) -> SocketAddr {
        format!("{}:5038", self.ip).parse().unwrap()
    }

    fn write_folder(&self, pjsip: &str) {
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
        std::fs::write(dir.join("etc/pjsip_multireg.conf"), "; not used by the benchmark\n").unwrap();
        std::fs::write(dir.join("etc/logger.conf"), LOGGER_CONF).unwrap();
        if !self.with_module {
            let modules = dir.join("etc/modules.conf");
            let text = std::fs::read_to_string(&modules).unwrap();
            std::fs::write(&modules, format!("{text}\nnoload => res_pjsip_multireg.so\n")).unwrap();
        }
        self.write_pjsip(pjsip);
        let i = &self.inside;
        let asterisk_conf = format!(
            "[directories]\nastetcdir => {i}/etc\nastmoddir => {i}/modules\nastvarlibdir => {i}/lib\nastdbdir => {i}/lib\n\
             astkeydir => {i}/lib\nastdatadir => /usr/share/asterisk\nastagidir => /usr/share/asterisk/agi-bin\n\
             astspooldir => {i}/spool\nastrundir => {i}/run\nastlogdir => {i}/log\nastcachedir => {i}/cache\n\
             astsbindir => /usr/sbin\n\n[options]\nsystemname = multireg-bench\n"
        );
        std::fs::write(dir.join("etc/asterisk.conf"), asterisk_conf).unwrap();
        let stock = "usr/lib/x86_64-linux-gnu/asterisk/modules";
        for entry in std::fs::read_dir(self.root.join(stock)).unwrap() {
            let name = entry.unwrap().file_name();
            std::os::unix::fs::symlink(Path::new("/").join(stock).join(&name), dir.join("modules").join(&name)).unwrap();
        }
        let module = module_path();
        assert!(module.exists(), "module not built at {}: run `make build`", module.display());
        std::fs::copy(module, dir.join("modules/res_pjsip_multireg.so")).unwrap();
    }

    /// Replaces pjsip.conf (written beside and renamed, so a reload never reads half a file).
    pub fn write_pjsip(&self, text: &str) {
        let target = self.dir().join("etc/pjsip.conf");
        let temporary = self.dir().join("etc/.pjsip.conf.tmp");
        std::fs::write(&temporary, text).unwrap();
        std::fs::rename(&temporary, &target).unwrap();
    }

    /// Starts Asterisk and waits until it is fully booted and then idle; returns that time.
    pub fn boot(&mut self, timeout: Duration) -> Duration {
        self.boot_under(&[], timeout)
    }

    /// As `boot`, with `wrapper` (a program and its arguments, paths inside the runtime root)
    /// put before Asterisk's binary, e.g. valgrind.
    pub fn boot_under(&mut self, wrapper: &[String], timeout: Duration) -> Duration {
        assert!(self.child.is_none(), "{} already running", self.label);
        let log = std::fs::File::create(self.dir().join("log/stdout.log")).unwrap();
        let _ = std::fs::remove_file(self.dir().join("run/asterisk.ctl"));
        let started = Instant::now();
        let mut command = Command::new("chroot");
        // glibc keeps up to 8 malloc arenas per core; with Asterisk's many threads RSS then says
        // more about the allocator than about the objects. BENCH_MALLOC_ARENA_MAX caps them for
        // both instances alike.
        if let Ok(arenas) = std::env::var("BENCH_MALLOC_ARENA_MAX") {
            command.env("MALLOC_ARENA_MAX", arenas);
        }
        let child = command
            .arg(&self.root)
            .args(wrapper)
            .args(["/usr/sbin/asterisk", "-f", "-C", &self.conf_path()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start asterisk (the benchmark runs as root)");
        self.child = Some(child);
        let deadline = started + timeout;
        loop {
            // `core waitfullybooted` blocks until booted once the control socket is up.
            if self.try_cli("core waitfullybooted").is_some_and(|o| o.contains("fully booted")) {
                break;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{}: Asterisk exited during start-up ({status}); see {}", self.label, self.dir().join("log").display());
            }
            assert!(Instant::now() < deadline, "{}: Asterisk did not boot in {timeout:?}", self.label);
            std::thread::sleep(Duration::from_millis(20));
        }
        let booted = started.elapsed();
        self.wait_idle(started, timeout).max(booted)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("instance running").id()
    }

    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// CPU seconds Asterisk has used so far.
    pub fn cpu(&self) -> f64 {
        process_cpu(self.pid())
    }

    /// Resident set size in bytes.
    pub fn rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    }

    /// Waits until Asterisk has used less than 10 % of a core for 0.6 s; returns the time from
    /// `since` to the last 100 ms in which it was busier than that.
    pub fn wait_idle(&self, since: Instant, timeout: Duration) -> Duration {
        let pid = self.pid();
        let mut last_busy = since;
        let mut before = process_cpu(pid);
        let deadline = since + timeout;
        loop {
            std::thread::sleep(Duration::from_millis(100));
            let now = process_cpu(pid);
            if now - before > 0.011 {
                last_busy = Instant::now();
            }
            before = now;
            if last_busy.elapsed() >= Duration::from_millis(600) || Instant::now() > deadline {
                return last_busy.duration_since(since);
            }
        }
    }

    pub fn try_cli(&self, command: &str) -> Option<String> {
        let output = Command::new("chroot")
            .arg(&self.root)
            .args(["/usr/sbin/asterisk", "-C", &self.conf_path(), "-rx", command])
            .output()
            .ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    pub fn cli(&self, command: &str) -> String {
        self.try_cli(command).unwrap_or_else(|| panic!("{}: CLI command failed: {command}", self.label))
    }

    /// Runs a CLI command and waits until Asterisk is idle again; returns that time.
    pub fn timed_cli(&self, command: &str, timeout: Duration) -> (Duration, String) {
        let started = Instant::now();
        let output = self.cli(command);
        let answered = started.elapsed();
        (self.wait_idle(started, timeout).max(answered), output)
    }

    /// ERROR lines logged so far.
    pub fn errors(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir().join("log/messages.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(" ERROR["))
            .map(str::to_string)
            .collect()
    }

    pub fn stop(&mut self) {
        self.stop_within(Duration::from_secs(20));
    }

    /// As `stop`, waiting up to `patience` for Asterisk to end before killing it (under valgrind,
    /// ending includes the leak check).
    pub fn stop_within(&mut self, patience: Duration) {
        if let Some(mut child) = self.child.take() {
            let _ = self.try_cli("core stop now");
            let deadline = Instant::now() + patience;
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

impl Drop for Instance {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!("{}: instance kept for inspection: {}", self.label, self.dir().display());
        } else {
            let _ = std::fs::remove_dir_all(self.dir());
        }
    }
}
