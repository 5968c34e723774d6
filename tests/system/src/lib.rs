//! The system test's parts: the package `make deb` built, a container
//! booted by systemd from the Debian 12 test image (`anklume-test-debian`,
//! scripts/debian-image.sh), commands in it, and a guard that removes
//! everything the test created on success and on failure.
//!
//! Needs root, Incus (`tests/harness/incus.sh up`), the image and the
//! package: `make test` (or `make test-system`) does all of it first.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub const IMAGE: &str = "anklume-test-debian";
pub const BUSYBOX: &str = "anklume-test-busybox";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The newest `target/debian/anklume_*.deb`; panics with what to run when
/// there is none.
pub fn built_deb() -> PathBuf {
    let dir = repo_root().join("target/debian");
    let newest = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("anklume_") && name.ends_with(".deb")
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok());
    newest.unwrap_or_else(|| {
        panic!(
            "no anklume_*.deb in {}: run `make deb` first (make test and make test-system do)",
            dir.display()
        )
    })
}

/// A unique lowercase tag `XXXX`: the container is `anklume-t-pkg-XXXX`,
/// the host test project (a domain of the test's infra, whose name must
/// fit a 15-character bridge name `net-<domain>`) `tpkg-XXXX`.
pub fn unique_tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mixed =
        (nanos ^ (u128::from(std::process::id()) << 20)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:04x}", (mixed >> 64) as u16)
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `incus ARGS` on the host; its output (panics on failure).
pub fn incus(args: &[&str]) -> String {
    let out = Command::new("incus").args(args).output().unwrap();
    assert!(out.status.success(), "incus {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What the test created on the host, removed on drop (success or
/// failure): the container (its proxy device goes with it), the host test
/// instance and its project.
pub struct Created {
    pub container: String,
    pub project: Option<String>,
}

impl Drop for Created {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("incus").args(args).output();
        };
        quiet(&["delete", "--force", &self.container]);
        if let Some(project) = &self.project {
            let listed = Command::new("incus")
                .args(["list", "--project", project, "--format", "csv", "-c", "n"])
                .output();
            if let Ok(listed) = listed {
                for name in String::from_utf8_lossy(&listed.stdout).lines() {
                    quiet(&["delete", "--force", "--project", project, name]);
                }
            }
            quiet(&["project", "delete", project]);
        }
    }
}

/// A container booted by systemd from the test image.
pub struct Container {
    pub name: String,
}

impl Container {
    /// Launches it (nesting on: the units' sandboxing uses namespaces) and
    /// waits until systemd has finished booting.
    pub fn launch(name: &str) -> Self {
        Self::launch_from(IMAGE, name, &[])
    }

    /// Launches `name` from `image` with nesting on and `config` (`KEY=VALUE`
    /// items) and waits until systemd has finished booting.
    pub fn launch_from(image: &str, name: &str, config: &[&str]) -> Self {
        let mut args = vec!["launch", image, name, "-c", "security.nesting=true"];
        for item in config {
            args.extend(["-c", item]);
        }
        incus(&args);
        let container = Self {
            name: name.to_owned(),
        };
        container.wait_until_booted();
        container
    }

    fn wait_until_booted(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let out = self.run("systemctl is-system-running --wait 2>/dev/null");
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if state == "running" || state == "degraded" {
                return;
            }
            assert!(Instant::now() < deadline, "container never booted: {state}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `sh -c script` in the container, whatever its outcome.
    pub fn run(&self, script: &str) -> Output {
        Command::new("incus")
            .args(["exec", &self.name, "--", "sh", "-c", script])
            .output()
            .unwrap()
    }

    /// `sh -c script` in the container; stdout (panics on failure).
    pub fn sh(&self, script: &str) -> String {
        let out = self.run(script);
        assert!(
            out.status.success(),
            "in the container: {script}\n{}",
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn push(&self, file: &Path, to: &str) {
        incus(&[
            "file",
            "push",
            &file.display().to_string(),
            &format!("{}{to}", self.name),
        ]);
    }

    /// `systemctl show -p PROP --value UNIT`.
    pub fn prop(&self, unit: &str, prop: &str) -> String {
        self.sh(&format!("systemctl show -p {prop} --value {unit}"))
            .trim()
            .to_owned()
    }

    /// Polls `script` until it succeeds (30 s at most); whether it did.
    pub fn eventually_ok(&self, script: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.run(script).status.success() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        true
    }

    /// Polls `script` until it succeeds (30 s at most); its stdout.
    pub fn eventually(&self, script: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = self.run(script);
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).into_owned();
            }
            assert!(
                Instant::now() < deadline,
                "never succeeded in the container: {script}\n{}",
                text(&out)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A scratch directory on the host, removed on drop.
pub struct Scratch(pub PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `scripts/debian-image.sh ARG`'s stdout (panics on failure): the test
/// images, built once and cached, and the local Incus mirror.
pub fn debian_image(arg: Option<&str>) -> String {
    let out = Command::new(repo_root().join("scripts/debian-image.sh"))
        .args(arg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/debian-image.sh {arg:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
