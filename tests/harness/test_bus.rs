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
        Self::launch(&[], "")
    }

    /// Also includes `extra` (paths under `tests/harness/`): a test's own
    /// policy on top of the shipped one, which is never loosened.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::launch(extra, "")
    }

    /// With `policy` XML too (e.g. a test user standing in for a daemon's
    /// own user: `<policy user="nobody"><allow own="…"/></policy>`).
    pub fn start_with_policy(policy: &str) -> Self {
        Self::launch(&[], policy)
    }

    fn launch(extra: &[&str], policy: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus.sock");
        let shipped = std::fs::read_dir(repo().join("policy/dbus-1"))
            .unwrap()
            .map(|e| e.unwrap().path());
        let extra = extra.iter().map(|p| repo().join("tests/harness").join(p));
        let includes: String = shipped
            .chain(extra)
            .map(|path| {
                format!(
                    "<include>{}</include>\n",
                    path.canonicalize().unwrap().display()
                )
            })
            .collect();
        let config = std::fs::read_to_string(repo().join("tests/harness/dbus-test-bus.conf"))
            .unwrap()
            .replace("@SOCKET@", &socket.display().to_string())
            .replace("@INCLUDES@", &format!("{includes}{policy}"));
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

/// `program`, as `uid` (and gid `uid`) without supplementary groups
/// (`setpriv`), or as this process's user when `None`.
pub fn as_user(uid: Option<u32>, program: &str) -> Command {
    match uid {
        Some(uid) => {
            let mut c = Command::new("setpriv");
            c.args([
                &format!("--reuid={uid}"),
                &format!("--regid={uid}"),
                "--clear-groups",
                program,
            ]);
            c
        }
        None => Command::new(program),
    }
}

/// `busctl --system` on the test bus, optionally as another user.
pub fn busctl(bus: &TestBus, as_uid: Option<u32>, args: &[&str]) -> Output {
    as_user(as_uid, "busctl")
        .arg("--system")
        .args(args)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap()
}

/// `dbus-send --print-reply` of `member` (no arguments) to `destination`
/// on the test bus, as `uid`: shows the error's D-Bus name.
pub fn dbus_send(bus: &TestBus, uid: u32, destination: &str, path: &str, member: &str) -> Output {
    as_user(Some(uid), "dbus-send")
        .args(["--system", "--print-reply"])
        .arg(format!("--dest={destination}"))
        .args([path, member])
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap()
}
