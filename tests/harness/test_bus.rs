//! A private D-Bus daemon that behaves like the system bus, with the
//! project's bus policies (`policy/dbus-1/`) and
//! `tests/harness/dbus-test-bus.conf`. Shared by the daemons' test crates
//! (`#[path]`-included); killed by PID on drop.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// The repository root, from a crate two levels below it.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub struct TestBus {
    pub address: String,
    child: Child,
    _dir: tempfile::TempDir,
}

impl TestBus {
    pub fn start() -> Self {
        Self::start_with("")
    }

    /// With `extra` policy XML too (e.g. a test user standing in for a
    /// daemon's own user: `<policy user="nobody"><allow own="…"/></policy>`).
    pub fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus.sock");
        let includes: String = std::fs::read_dir(repo().join("policy/dbus-1"))
            .unwrap()
            .map(|e| {
                format!(
                    "<include>{}</include>\n",
                    e.unwrap().path().canonicalize().unwrap().display()
                )
            })
            .collect();
        let config = std::fs::read_to_string(repo().join("tests/harness/dbus-test-bus.conf"))
            .unwrap()
            .replace("@SOCKET@", &socket.display().to_string())
            .replace("@INCLUDES@", &format!("{includes}{extra}"));
        let config_path = dir.path().join("bus.conf");
        std::fs::write(&config_path, config).unwrap();
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config_path.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("dbus-daemon (Debian package dbus)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        Self {
            address: line.trim().to_owned(),
            child,
            _dir: dir,
        }
    }

    pub async fn connect(&self) -> zbus::Connection {
        zbus::connection::Builder::address(self.address.as_str())
            .build()
            .await
            .unwrap()
    }
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `busctl --system` on the test bus, optionally as another user (through
/// `setpriv`, without supplementary groups).
pub fn busctl(bus: &TestBus, as_uid: Option<u32>, args: &[&str]) -> Output {
    let mut cmd = match as_uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                "busctl",
            ]);
            c
        }
        None => Command::new("busctl"),
    };
    cmd.arg("--system")
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address);
    cmd.output().unwrap()
}
