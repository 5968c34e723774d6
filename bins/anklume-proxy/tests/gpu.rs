//! GPU admission end to end: the real anklume-proxy asks the real
//! anklume-gpud (fake NVML with one card, `exclusive` policy) on a
//! private D-Bus daemon, in front of the real Incus. The declared GPU
//! machine gets the card; a second one is refused with gpud's Busy; a
//! machine without `gpu: true` is refused by the proxy's own rule; the
//! refusals leave Incus and gpud's claims as they were. Needs root, Incus
//! and `cc`; anklume-gpud built beside the proxy (`cargo test --workspace`
//! or `cargo build -p anklume-gpud`).

mod common;

#[path = "../../../tests/harness/test_bus.rs"]
#[allow(dead_code)]
mod test_bus;

#[path = "../../../tests/harness/fake_nvml.rs"]
mod fake_nvml;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use common::{Infra, Proxy, direct, direct_query, free_base_subnet, tag, text};
use serde_json::Value;
use test_bus::TestBus;

const CARD_PCI: &str = "0000:41:00.0";

fn gpud_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_anklume-proxy")).with_file_name("anklume-gpud");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` or `cargo build -p anklume-gpud`",
        bin.display()
    );
    bin
}

/// anklume-gpud serving the test infra on the test bus, killed on drop.
struct Gpud {
    child: Child,
    dir: tempfile::TempDir,
    bus: String,
}

impl Gpud {
    fn start(bus: &TestBus, infra: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("libnvidia-ml.so.1");
        std::fs::copy(fake_nvml::fake_nvml(), &library).unwrap();
        let fixture = dir.path().join("fixture");
        std::fs::write(
            &fixture,
            "gpu GPU-fake-0 8589934592 0 00000000:41:00.0 Fake RTX 0\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::fs::create_dir(dir.path().join("context")).unwrap();
        std::fs::write(dir.path().join("anklume.conf.yml"), "{}\n").unwrap();
        let child = Command::new(gpud_bin())
            .current_dir(dir.path())
            .arg("serve")
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--config")
            .arg(dir.path().join("anklume.conf.yml"))
            .arg("--infra")
            .arg(infra)
            .arg("--nvml-library")
            .arg(&library)
            .env_remove("STATE_DIRECTORY")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("ANKLUME_NVML_LIBRARY")
            .env("FAKE_NVML_FIXTURE", &fixture)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .env("ANKLUME_CONTEXT_DIR", dir.path().join("context"))
            .stderr(std::fs::File::create(dir.path().join("gpud.log")).unwrap())
            .spawn()
            .unwrap();
        let gpud = Self {
            child,
            dir,
            bus: bus.address.clone(),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !gpud.cli("claims").status.success() {
            assert!(Instant::now() < deadline, "gpud not up: {}", gpud.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        gpud
    }

    fn cli(&self, verb: &str) -> Output {
        Command::new(gpud_bin())
            .arg(verb)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.bus)
            .output()
            .unwrap()
    }

    /// `anklume-gpud claims`, as printed.
    fn claims(&self) -> String {
        let out = self.cli("claims");
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gpud.log")).unwrap_or_default()
    }
}

impl Drop for Gpud {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- anklume-gpud log ---\n{}", self.log());
        }
    }
}

/// An instance as incusd has it, less what changes by itself.
fn instance(project: &str, name: &str) -> String {
    let mut v: Value = serde_json::from_str(&direct_query(&format!(
        "/1.0/instances/{name}?project={project}"
    )))
    .unwrap();
    for volatile in ["last_used_at", "state"] {
        v.as_object_mut().unwrap().remove(volatile);
    }
    v.to_string()
}

fn gpu_device(project: &str, name: &str) -> Value {
    let v: Value = serde_json::from_str(&direct_query(&format!(
        "/1.0/instances/{name}?project={project}"
    )))
    .unwrap();
    v["devices"]["gpu"].clone()
}

#[test]
fn gpu_devices_are_admitted_by_gpud_through_the_proxy() {
    let n = format!("pg{}", tag());
    let base = free_base_subnet();
    let (g1, g2, cpu) = (format!("{n}-g1"), format!("{n}-g2"), format!("{n}-c"));
    // `exclusive` admits one declared GPU machine: g1 first; then the
    // infra moves the GPU to g2 while g1 still holds the card (the way
    // gpud's own tests reach Busy).
    let infra_with = |gpu: &str| {
        let mut yaml = format!(
            "project_name: e2e\nglobal:\n  base_subnet: \"{base}\"\n  \
             default_os_image: anklume-test-busybox\n  nat: false\n  gpu_policy: exclusive\n\
             domains:\n  {n}:\n    subnet_id: 1\n    ephemeral: true\n    machines:\n"
        );
        for (i, m) in [&g1, &g2, &cpu].iter().enumerate() {
            let extra = if *m == gpu { ", gpu: true" } else { "" };
            yaml.push_str(&format!(
                "      {m}: {{type: lxc, ip: \"{base}.1.{}\"{extra}}}\n",
                10 + i
            ));
        }
        yaml
    };
    let yaml = infra_with(&g1);
    let infra = Infra::new(&yaml, &[&n]);
    let path = infra.dir.path().join("infra.yml");
    // The domain's project and stopped machines, straight in incusd (the
    // proxy's own building of a domain is tests/incus.rs's concern).
    let ok = |args: &[&str]| {
        let out = direct(args);
        assert!(out.status.success(), "incus {args:?}: {}", text(&out));
    };
    ok(&[
        "project",
        "create",
        &n,
        "-c",
        "features.images=false",
        "-c",
        "features.profiles=false",
    ]);
    for m in [&g1, &g2, &cpu] {
        ok(&["init", "anklume-test-busybox", m, "--project", &n]);
    }
    let bus = TestBus::start();
    let gpud = Gpud::start(&bus, &path);
    let p = Proxy::start_on_bus(&path, &bus.address);
    let add = |m: &str| p.incus(&["config", "device", "add", m, "gpu", "gpu", "--project", &n]);

    // (1) The declared GPU machine: gpud admits and pins the card.
    let out = add(&g1);
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        text(&out),
        p.log_text(),
        gpud.log()
    );
    let claims = gpud.claims();
    assert!(
        claims.contains(&g1) && claims.contains("GPU-fake-0"),
        "{claims}"
    );
    let device = gpu_device(&n, &g1);
    assert_eq!(device["type"], "gpu", "{device}");
    assert_eq!(device["gputype"], "physical", "{device}");
    assert_eq!(device["pci"], CARD_PCI, "the card gpud granted: {device}");
    // The whole instance sent back (what `incus config edit` and Ansible
    // do) carries gpud's pinned device: still admitted, still pinned.
    let shown = p.incus_ok(&["config", "show", &g1, "--project", &n]);
    let edit = Command::new("incus")
        .args(["config", "edit", &g1, "--project", &n])
        .env("INCUS_SOCKET", &p.socket)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut edit.stdin.as_ref().unwrap(), shown.as_bytes()).unwrap();
    let out = edit.wait_with_output().unwrap();
    assert!(out.status.success(), "{}\n{}", text(&out), p.log_text());
    assert_eq!(gpu_device(&n, &g1)["pci"], CARD_PCI);

    // The GPU is now declared on g2 (g1 keeps its claim).
    infra.write(&infra_with(&g2));
    p.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !p.log_text().contains("reloaded") {
        assert!(Instant::now() < deadline, "not reloaded: {}", p.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }

    let before: Vec<String> = [&g1, &g2, &cpu].iter().map(|m| instance(&n, m)).collect();
    let claims_before = gpud.claims();
    // (2) A second GPU machine under `exclusive`: gpud says Busy.
    let out = add(&g2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "allowed: {}", text(&out));
    assert!(
        err.contains("anklume-proxy: denied")
            && err.contains("org.anklume.Error.Busy")
            && err.contains(&format!("held by {g1}")),
        "{err}"
    );
    // (3) A machine without `gpu: true`: the proxy's own rule.
    let out = add(&cpu);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "allowed: {}", text(&out));
    assert!(
        err.contains("anklume-proxy: denied") && err.contains("device gpu (type gpu)"),
        "{err}"
    );
    // Both are 403 on the wire too.
    for m in [&g2, &cpu] {
        let body = r#"{"devices":{"gpu":{"type":"gpu"}}}"#;
        let (status, answer) = p.raw("PATCH", &format!("/1.0/instances/{m}?project={n}"), body);
        assert_eq!(status, 403, "{m}: {answer}");
    }
    // (4) Nothing changed in Incus nor in gpud's claims.
    let after: Vec<String> = [&g1, &g2, &cpu].iter().map(|m| instance(&n, m)).collect();
    assert_eq!(after, before);
    assert_eq!(gpud.claims(), claims_before);
}
