//! `anklume-netd serve` in a network namespace on a test bus, for the
//! tests that need the daemon itself (shared by isolation_paths.rs and
//! flush.rs, which include it with `#[path]` beside `mod test_bus`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anklume_e2e::netd_bin;

use crate::test_bus::{self, TestBus};

/// The daemon, killed on drop.
pub struct Netd(Child);

impl Netd {
    /// Starts it reading `infra`, logging to `log`; returns once it owns
    /// its bus name AND has applied its first table (the name comes first).
    pub fn start(bus: &TestBus, netns: &str, infra: &Path, log: &Path) -> Self {
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(netd_bin())
            .args([
                "serve",
                "--config",
                "/nonexistent/anklume.conf.yml",
                "--infra",
            ])
            .arg(infra)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        let netd = Netd(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        let wait = |ready: &dyn Fn() -> bool, what: &str| {
            while !ready() {
                assert!(
                    Instant::now() < deadline,
                    "anklume-netd {what}: {}",
                    std::fs::read_to_string(log).unwrap_or_default()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        wait(
            &|| {
                test_bus::busctl(bus, None, &["status", "org.anklume.Network1"])
                    .status
                    .success()
            },
            "did not start",
        );
        wait(
            &|| table(netns).is_some_and(|t| t.contains("comment \"anklume ruleset ")),
            "applied no table",
        );
        netd
    }
}

impl Drop for Netd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `nft list table inet anklume` in `netns`, when the table exists.
pub fn table(netns: &str) -> Option<String> {
    let out = Command::new("ip")
        .args([
            "netns", "exec", netns, "nft", "list", "table", "inet", "anklume",
        ])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
