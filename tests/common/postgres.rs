//! A private PostgreSQL server for a test (Debian's `postgresql` package): initdb in a temporary
//! folder owned by the `postgres` user, listening on a loopback address of its own and a socket
//! in that folder; no system service is touched. Stopped and removed when dropped. If the server
//! cannot be installed or started the test fails (never skips).
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::asterisk::project_dir;

static SERVERS: AtomicU32 = AtomicU32::new(0);

pub struct Postgres {
    pub ip: String,
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// The folder holding initdb/pg_ctl of the newest installed PostgreSQL, installing the package
/// (scripts/postgres-deps.sh) when there is none.
fn server_binaries() -> PathBuf {
    let find = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|entry| entry.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .collect();
        found.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0));
        found.pop()
    };
    if let Some(bin) = find() {
        return bin;
    }
    let status = Command::new("bash").arg(project_dir().join("scripts/postgres-deps.sh")).status();
    assert!(
        status.is_ok_and(|s| s.success()),
        "PostgreSQL is needed for this test and scripts/postgres-deps.sh could not install it"
    );
    find().expect("PostgreSQL installed, but no /usr/lib/postgresql/*/bin/initdb")
}

/// Runs a command as the `postgres` user (the server refuses root).
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run(mut command: Command, what: &str) -> String {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{what} failed: {text}");
    text
}

fn free_loopback_ip() -> String {
    let pid = std::process::id();
    loop {
        let n = SERVERS.fetch_add(1, Ordering::Relaxed);
        let ip = format!("127.{}.{}.{}", 220 + (n % 30), (pid >> 8) & 255, (pid & 255).max(1));
        if TcpListener::bind((ip.as_str(), 5432)).is_ok() {
            return ip;
        }
    }
}

impl Postgres {
    /// Starts a server and loads `sql_files` (paths relative to the project) into database `postgres`.
    pub fn start(sql_files: &[&str]) -> Postgres {
        let bin = server_binaries();
        let ip = free_loopback_ip();
        let dir = std::env::temp_dir().join(format!("multireg-pg-{}-{}", std::process::id(), ip.replace('.', "-")));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        run(
            {
                let mut c = Command::new("chown");
                c.args(["postgres:postgres"]).arg(&dir);
                c
            },
            "chown the PostgreSQL folder",
        );
        let data = dir.join("data");
        let mut initdb = as_postgres(&bin.join("initdb"));
        initdb.args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "--no-instructions", "-D"]).arg(&data);
        run(initdb, "initdb");
        let server = Postgres { ip, port: 5432, dir, bin };
        let options = format!(
            "-h {} -p {} -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=16MB",
            server.ip,
            server.port,
            server.dir.display()
        );
        let mut start = as_postgres(&server.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(server.dir.join("server.log"))
            .args(["-w", "-t", "30", "start"]);
        let started = start.output().expect("pg_ctl start");
        assert!(
            started.status.success(),
            "PostgreSQL did not start: {}{}",
            String::from_utf8_lossy(&started.stderr),
            std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_sql("SELECT 1").is_none() {
            assert!(Instant::now() < deadline, "PostgreSQL does not answer on {}:{}", server.ip, server.port);
            std::thread::sleep(Duration::from_millis(100));
        }
        for file in sql_files {
            let mut psql = server.psql();
            psql.arg("-f").arg(project_dir().join(file));
            run(psql, &format!("loading {file}"));
        }
        server
    }

    fn psql(&self) -> Command {
        let mut command = Command::new("psql");
        command.args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            &self.ip,
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ]);
        command
    }

    fn try_sql(&self, sql: &str) -> Option<String> {
        let output = self.psql().args(["-A", "-t", "-c", sql]).output().ok()?;
        output.status.success().then(|| String::from_utf8_lossy(&output.stdout).trim().to_string())
    }

    /// Runs SQL and returns its unaligned, tuples-only output.
    pub fn sql(&self, sql: &str) -> String {
        let mut psql = self.psql();
        psql.args(["-A", "-t", "-c", sql]);
        run(psql, sql).trim().to_string()
    }

    /// res_pgsql.conf for Asterisk, pointing at this server.
    pub fn res_pgsql_conf(&self) -> String {
        format!(
            "[general]\ndbhost = {}\ndbport = {}\ndbname = postgres\ndbuser = postgres\ndbpass = x\nrequirements = warn\n",
            self.ip, self.port
        )
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = as_postgres(&self.bin.join("pg_ctl"));
        stop.arg("-D").arg(self.dir.join("data")).args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        if std::thread::panicking() {
            eprintln!("PostgreSQL folder kept for inspection: {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
