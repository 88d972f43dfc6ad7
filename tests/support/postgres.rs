//! A real PostgreSQL server (Debian's `postgresql`) in a temporary directory on 127.0.0.1,
//! for the collector tests. PostgreSQL refuses to run as root: as root, every command runs as
//! the `postgres` user on a directory that user owns.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A running (or stopped) server; dropped, it is stopped and its directory removed.
pub struct Postgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed: run scripts/setup.sh (Debian's `postgresql`)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    found.sort();
    found
        .pop()
        .expect("no /usr/lib/postgresql/*/bin/pg_ctl: run scripts/setup.sh")
}

fn as_root() -> bool {
    std::env::var("USER").map(|u| u == "root").unwrap_or(false)
        || Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0"))
            .unwrap_or(false)
}

impl Postgres {
    fn cmd(&self, tool: &str) -> Command {
        let exe = self.bin.join(tool);
        let mut c = if as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(exe);
            c
        } else {
            Command::new(exe)
        };
        // A directory the `postgres` user may enter (the project's may be private).
        c.current_dir(self.dir.path());
        c
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A fresh cluster with database `edgeflow` (user `edgeflow`, trust auth), started.
    pub fn start() -> Postgres {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let pg = Postgres {
            dir,
            bin: bin_dir(),
            port: super::free_port(),
        };
        let ok = pg
            .cmd("initdb")
            .args([
                "-D",
                pg.data().to_str().unwrap(),
                "-U",
                "edgeflow",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "initdb failed");
        pg.resume();
        let ok = pg
            .cmd("createdb")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &pg.port.to_string(),
                "-U",
                "edgeflow",
                "edgeflow",
            ])
            .status()
            .unwrap()
            .success();
        assert!(ok, "createdb failed");
        pg
    }

    /// The URL for `store.url`.
    pub fn url(&self) -> String {
        format!("postgres://edgeflow@127.0.0.1:{}/edgeflow", self.port)
    }

    /// Start the server (again).
    pub fn resume(&self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("log");
        let ok = self
            .cmd("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-o",
                &opts,
                "-l",
                log.to_str().unwrap(),
                "-w",
                "start",
            ])
            .stdout(std::process::Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "PostgreSQL did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stop the server (fast: clients are disconnected).
    pub fn pause(&self) {
        let _ = self
            .cmd("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "stop",
            ])
            .stdout(std::process::Stdio::null())
            .status();
    }

    /// The data directory's parent, for logs.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.pause();
    }
}
