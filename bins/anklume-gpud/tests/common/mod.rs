//! Test environment of anklume-gpud: the fake NVML built from
//! `tests/fixtures/fake_nvml.c` with `cc`, a private system-like D-Bus
//! daemon with the project's bus policy, and the daemon itself in its own
//! directory (infra, fixture, library, state, log). Needs root (the
//! daemon owns its name as root on the test bus, and tests become
//! `nobody`); the Incus tests also need Incus.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

#[path = "../../../../tests/harness/test_bus.rs"]
mod test_bus;
#[allow(unused_imports)]
pub use test_bus::{TestBus, as_user, busctl, dbus_send, repo};

#[path = "../../../../tests/harness/confinement.rs"]
mod confinement;
#[allow(unused_imports)]
pub use confinement::assert_every_thread_confined;

#[path = "../../../../tests/harness/fake_nvml.rs"]
mod fake_nvml;
pub use fake_nvml::fake_nvml;

#[path = "../../../../tests/harness/notify.rs"]
mod notify;
pub use notify::NotifySocket;

pub const NOBODY: u32 = 65534;
pub const GIB: u64 = 1 << 30;

/// A fixture line for a card: `gpu <uuid> <total> <used> <bus id> <name>`.
pub fn card(index: u32, total: u64, used: u64) -> String {
    format!(
        "gpu GPU-fake-{index} {total} {used} 00000000:{:02X}:00.0 Fake RTX {index}\n",
        index + 0x41
    )
}

/// The Incus PCI address of [`card`] `index`.
pub fn card_pci(index: u32) -> String {
    format!("0000:{:02x}:00.0", index + 0x41)
}

/// An infra with `machines` (name, extra YAML lines) in domain `domain`.
pub fn infra(policy: &str, domain: &str, machines: &[(&str, &str)]) -> String {
    let mut text = format!(
        "project_name: gpu-test\nglobal:\n  base_subnet: \"10.231\"\n  gpu_policy: {policy}\n\
         domains:\n  {domain}:\n    subnet_id: 1\n    profiles:\n      nvidia-compute:\n        \
         devices:\n          gpu:\n            type: gpu\n            gputype: physical\n    machines:\n"
    );
    for (name, extra) in machines {
        text.push_str(&format!("      {name}:\n        type: lxc\n"));
        for line in extra.lines() {
            text.push_str(&format!("        {line}\n"));
        }
    }
    text
}

pub enum Incus {
    /// `--no-incus`.
    Absent,
    /// The host's Incus.
    Host,
}

/// anklume-gpud on a test bus, as root, in its own directory.
pub struct Daemon {
    child: Option<Child>,
    pub dir: tempfile::TempDir,
    pub notify: NotifySocket,
    pub incus: Incus,
    /// `--nvml-library`; `None`: a path where no library is.
    pub library: Option<PathBuf>,
    /// `--state-dir` elsewhere than `dir/state` (the bench: on tmpfs).
    pub state_at: Option<PathBuf>,
    /// `FAKE_NVML_FIXTURE` elsewhere than `dir/nvml/fixture`.
    pub fixture_at: Option<PathBuf>,
}

impl Daemon {
    pub fn prepare(infra: &str, fixture: &str, incus: Incus) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("infra.yml"), infra).unwrap();
        std::fs::write(dir.path().join("anklume.conf.yml"), "{}\n").unwrap();
        std::fs::create_dir(dir.path().join("context")).unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::fs::create_dir(dir.path().join("nvml")).unwrap();
        std::fs::write(dir.path().join("nvml/fixture"), fixture).unwrap();
        let library = dir.path().join("nvml/libnvidia-ml.so.1");
        std::fs::copy(fake_nvml(), &library).unwrap();
        let notify = NotifySocket::bind(dir.path());
        Self {
            child: None,
            dir,
            notify,
            incus,
            library: Some(library),
            state_at: None,
            fixture_at: None,
        }
    }

    pub async fn start(bus: &TestBus, infra: &str, fixture: &str, incus: Incus) -> Self {
        let mut daemon = Self::prepare(infra, fixture, incus);
        daemon.spawn(bus).await;
        daemon
    }

    pub fn fixture(&self, text: &str) {
        std::fs::write(self.dir.path().join("nvml/fixture"), text).unwrap();
    }

    pub fn infra(&self, text: &str) {
        std::fs::write(self.dir.path().join("infra.yml"), text).unwrap();
    }

    pub fn state(&self) -> PathBuf {
        self.state_at
            .clone()
            .unwrap_or_else(|| self.dir.path().join("state"))
    }

    fn command(&self, bus: &TestBus) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_anklume-gpud"));
        command
            .current_dir(self.dir.path())
            .arg("serve")
            .arg("--state-dir")
            .arg(self.state())
            .arg("--config")
            .arg(self.dir.path().join("anklume.conf.yml"))
            .arg("--infra")
            .arg(self.dir.path().join("infra.yml"))
            .arg("--check-interval")
            .arg("1")
            .arg("--nvml-library")
            .arg(
                self.library
                    .clone()
                    .unwrap_or_else(|| self.dir.path().join("nvml/absent/libnvidia-ml.so.1")),
            );
        if matches!(self.incus, Incus::Absent) {
            command.arg("--no-incus");
        }
        command
            .env_remove("STATE_DIRECTORY")
            .env_remove("ANKLUME_NVML_LIBRARY")
            .env(
                "FAKE_NVML_FIXTURE",
                self.fixture_at
                    .clone()
                    .unwrap_or_else(|| self.dir.path().join("nvml/fixture")),
            )
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
        self.child = Some(self.command(bus).stderr(log).spawn().unwrap());
        self.notify.wait_for("READY=1", Duration::from_secs(30));
        let connection = bus.connect().await;
        let dbus = zbus::fdo::DBusProxy::new(&connection).await.unwrap();
        let name = zbus::names::BusName::try_from(anklume_dbus::gpu::BUS_NAME).unwrap();
        assert!(
            dbus.name_has_owner(name).await.unwrap(),
            "READY before the bus name"
        );
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("--- anklume-gpud log ---\n{}", self.log());
        }
    }
}

/// A client of the daemon on the test bus.
pub async fn proxy(bus: &TestBus) -> anklume_dbus::gpu::Gpu1Proxy<'static> {
    let connection = bus.connect().await;
    anklume_dbus::gpu::Gpu1Proxy::builder(&connection)
        .cache_properties(zbus::proxy::CacheProperties::No)
        .build()
        .await
        .unwrap()
}

/// The D-Bus error name and message of a failed call.
pub fn error_name(e: &anklume_dbus::AnklumeError) -> String {
    use zbus::DBusError as _;
    format!("{}: {}", e.name(), e.description().unwrap_or_default())
}

/// `anklume-gpud <verb>` (the CLI) against the test bus.
pub fn cli(bus: &TestBus, verb: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_anklume-gpud"))
        .arg(verb)
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap()
}

/// An Incus project (the domain) with busybox containers, for one test;
/// removed on drop, also when the test fails.
pub struct Lab {
    pub project: String,
    pub incus: anklume_incus::IncusClient,
}

pub const IMAGE: &str = "anklume-test-busybox";

impl Lab {
    /// `containers`: (name, started).
    pub async fn new(containers: &[(&str, bool)]) -> Self {
        let incus = anklume_incus::IncusClient::new(anklume_incus::DEFAULT_SOCKET).unwrap();
        incus
            .server()
            .await
            .expect("Incus does not answer: run tests/harness/incus.sh up");
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        // `tgpu` and six hex digits: the project is the infra's domain, and
        // a domain name has at most 11 characters (its bridge `net-<d>`
        // must fit 15), so the usual `anklume-t-` prefix cannot be used.
        let project = format!("tgpu{:06x}", (nanos ^ std::process::id()) & 0xff_ffff);
        incus
            .create_project(&project, "anklume-gpud test")
            .await
            .unwrap();
        let lab = Self { project, incus };
        for (name, started) in containers {
            let mut create = anklume_incus::InstanceCreate::container(name, IMAGE);
            create.start = Some(*started);
            lab.incus
                .create_instance(&lab.project, &create)
                .await
                .unwrap();
        }
        lab
    }

    /// The host PID of a running container's init.
    pub fn init_pid(&self, name: &str) -> u32 {
        let out = Command::new("incus")
            .args([
                "list",
                "--project",
                &self.project,
                name,
                "--format",
                "csv",
                "--columns",
                "p",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("a running container's PID")
    }

    pub async fn gpu_device(&self, name: &str) -> Option<serde_json::Value> {
        self.incus
            .instance_devices(&self.project, name)
            .await
            .unwrap()
            .expect("the instance exists")
            .get("gpu")
            .cloned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("tests/harness/incus.sh"))
            .arg("clean")
            .arg(&self.project)
            .status();
    }
}
