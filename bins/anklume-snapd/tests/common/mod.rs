//! Test environment of anklume-snapd: a private system-like D-Bus daemon
//! with the project's bus policy, Incus projects and containers made for
//! one test (unique names, removed on drop even when the test fails), and
//! the daemon itself. Needs root and Incus (`tests/harness/incus.sh up`),
//! except the daemon under `--sim` (root only to become `nobody`).

#![allow(dead_code)]

use std::process::{Child, Command};
use std::time::Duration;

use anklume_incus::{IncusClient, InstanceCreate};

pub const IMAGE: &str = "anklume-test-busybox";

#[path = "../../../../tests/harness/test_bus.rs"]
mod test_bus;
#[allow(unused_imports)] // the benchmark shares this module and calls no busctl
pub use test_bus::{TestBus, as_user, busctl, dbus_send, repo};

#[path = "../../../../tests/harness/notify.rs"]
mod notify;
#[allow(unused_imports)]
pub use notify::NotifySocket;

#[path = "../../../../tests/harness/confinement.rs"]
mod confinement;
#[allow(unused_imports)]
pub use confinement::assert_every_thread_confined;

/// `Prune` as `uid` is refused with the typed error name (which dbus-send
/// shows): `org.anklume.Error.PermissionDenied`.
pub fn assert_prune_refused_by_name(bus: &TestBus, uid: u32) {
    let out = dbus_send(
        bus,
        uid,
        anklume_dbus::snapshot::BUS_NAME,
        anklume_dbus::snapshot::OBJECT_PATH,
        "org.anklume.Snapshot1.Prune",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("org.anklume.Error.PermissionDenied"),
        "{stderr}"
    );
}

/// `busctl introspect` shows every method, property and signal.
pub fn assert_the_whole_interface_is_introspectable(bus: &TestBus) {
    use anklume_dbus::snapshot::{BUS_NAME, OBJECT_PATH};
    let out = busctl(bus, None, &["introspect", BUS_NAME, OBJECT_PATH, BUS_NAME]);
    let text = String::from_utf8_lossy(&out.stdout);
    for member in [
        ".Create",
        ".Restore",
        ".Delete",
        ".List",
        ".Prune",
        ".LastError",
        ".SnapshotCreated",
        ".SnapshotRestored",
        ".SnapshotDeleted",
    ] {
        assert!(
            text.contains(member),
            "introspection lacks {member}:\n{text}"
        );
    }
}

/// Incus projects (one per domain) and running containers for one test.
pub struct Lab {
    pub prefix: String,
    pub incus: IncusClient,
    projects: Vec<String>,
}

impl Lab {
    /// `domains`: (domain suffix, machine suffixes). Domain names are
    /// `<prefix><suffix>`, machines `<domain>-<suffix>`.
    pub async fn new(domains: &[(&str, &[&str])]) -> Self {
        let incus = IncusClient::new(anklume_incus::DEFAULT_SOCKET).unwrap();
        incus
            .server()
            .await
            .expect("Incus does not answer: run tests/harness/incus.sh up");
        let prefix = unique_prefix();
        let mut lab = Self {
            prefix,
            incus,
            projects: Vec::new(),
        };
        for (domain, machines) in domains {
            let project = lab.domain(domain);
            lab.incus
                .create_project(&project, "anklume-snapd test")
                .await
                .unwrap();
            lab.projects.push(project.clone());
            for machine in *machines {
                let name = format!("{project}-{machine}");
                lab.incus
                    .create_instance(&project, &InstanceCreate::container(&name, IMAGE))
                    .await
                    .unwrap();
            }
        }
        lab
    }

    pub fn domain(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    pub fn machine(&self, domain: &str, machine: &str) -> String {
        format!("{}-{machine}", self.domain(domain))
    }

    /// The infra declaring this lab's domains and machines.
    pub fn infra(&self, domains: &[(&str, &[&str])]) -> String {
        let mut text =
            String::from("project_name: snapd-test\nglobal:\n  base_subnet: '10.250'\ndomains:\n");
        for (i, (domain, machines)) in domains.iter().enumerate() {
            text.push_str(&format!(
                "  {}:\n    subnet_id: {}\n    machines:\n",
                self.domain(domain),
                i + 1
            ));
            for machine in *machines {
                text.push_str(&format!("      {}: {{}}\n", self.machine(domain, machine)));
            }
        }
        text
    }

    pub async fn snapshots(&self, domain: &str, machine: &str) -> Vec<String> {
        let (project, name) = (self.domain(domain), self.machine(domain, machine));
        self.incus
            .snapshots(&project, &name)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect()
    }

    pub async fn sh(&self, domain: &str, machine: &str, script: &str) -> String {
        let (project, name) = (self.domain(domain), self.machine(domain, machine));
        let out = self
            .incus
            .exec(&project, &name, &["sh", "-c", script])
            .await
            .unwrap();
        assert_eq!(out.status, 0, "{script}: {}", out.stderr);
        out.stdout
    }
}

/// `t` and six hex digits: short enough for domain names (bridges
/// `net-<domain>` must fit 15 characters), unique across parallel tests.
fn unique_prefix() -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let mixed = nanos ^ std::process::id().wrapping_mul(2_654_435_761) ^ n.wrapping_mul(40_503);
    format!("t{:06x}", mixed & 0xff_ffff)
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Synchronous clean-up: runs even when a test panics.
        let _ = Command::new(repo().join("tests/harness/incus.sh"))
            .arg("clean")
            .args(&self.projects)
            .status();
    }
}

/// anklume-snapd running on a test bus, in its own directory (config,
/// infra, context, state, log), with a systemd notification socket.
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    /// `--infra infra.yml`, relative, run from `dir`.
    pub relative_infra: bool,
    pub notify: NotifySocket,
    /// `serve --sim`, as this uid and gid (`setpriv`, no supplementary
    /// groups); `state_dir`: with `--state-dir`, else in memory.
    pub sim: Option<Sim>,
}

#[derive(Clone, Copy, Debug)]
pub struct Sim {
    pub uid: u32,
    pub state_dir: bool,
}

/// The unprivileged user the simulated daemon runs as.
pub const NOBODY: u32 = 65534;
/// The test bus policy that lets `nobody` own the name (tests only).
pub const SIM_POLICY: &str = "dbus-test-sim.conf";

impl Daemon {
    pub async fn start(bus: &TestBus, infra: &str, config: &str) -> Self {
        let mut daemon = Self::prepare(infra, config);
        daemon.spawn(bus).await;
        daemon
    }

    /// The daemon's files, without starting it.
    pub fn prepare(infra: &str, config: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("infra.yml"), infra).unwrap();
        std::fs::write(dir.path().join("anklume.conf.yml"), config).unwrap();
        std::fs::create_dir(dir.path().join("context")).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        let notify = NotifySocket::bind(dir.path());
        Self {
            child: None,
            dir,
            relative_infra: false,
            notify,
            sim: None,
        }
    }

    /// `serve --sim` as `uid`: its directory readable (the notification
    /// socket writable) by that user, the state directory its own.
    pub fn prepare_sim(infra: &str, config: &str, sim: Sim) -> Self {
        use std::os::unix::fs::PermissionsExt as _;
        let mut daemon = Self::prepare(infra, config);
        let mode = |path: &std::path::Path, mode| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        mode(daemon.dir.path(), 0o755);
        mode(&daemon.notify.path, 0o777);
        std::os::unix::fs::chown(daemon.state(), Some(sim.uid), Some(sim.uid)).unwrap();
        daemon.sim = Some(sim);
        daemon
    }

    pub fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    fn command(&self, bus: &TestBus) -> Command {
        let uid = self.sim.map(|sim| sim.uid);
        let mut command = as_user(uid, env!("CARGO_BIN_EXE_anklume-snapd"));
        command.current_dir(self.dir.path()).arg("serve");
        match self.sim {
            None => {
                command.arg("--state-dir").arg(self.state());
            }
            Some(sim) => {
                command.arg("--sim");
                if sim.state_dir {
                    command.arg("--state-dir").arg(self.state());
                }
            }
        }
        command
            .arg("--config")
            .arg(self.dir.path().join("anklume.conf.yml"))
            .arg("--infra")
            .arg(if self.relative_infra {
                "infra.yml".into()
            } else {
                self.dir.path().join("infra.yml")
            })
            .env_remove("STATE_DIRECTORY")
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env("ANKLUME_CONTEXT_DIR", self.dir.path().join("context"))
            .env("NOTIFY_SOCKET", &self.notify.path);
        command
    }

    /// Starts it (again) and waits for READY and the bus name.
    pub async fn spawn(&mut self, bus: &TestBus) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("daemon.log"))
            .unwrap();
        let child = self.command(bus).stderr(log).spawn().unwrap();
        self.child = Some(child);
        self.notify.wait_for("READY=1", Duration::from_secs(30));
        let connection = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&connection).await.unwrap();
        let name = zbus::names::BusName::try_from(anklume_dbus::snapshot::BUS_NAME).unwrap();
        assert!(
            dbus.name_has_owner(name).await.unwrap(),
            "READY before the bus name"
        );
    }

    /// Runs it to its end (a start that must fail).
    pub fn run_to_exit(&self, bus: &TestBus) -> std::process::Output {
        self.command(bus).output().unwrap()
    }

    /// SIGKILL, as a crash or a power cut would stop it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- anklume-snapd log ---\n{}", self.log());
        }
    }
}
