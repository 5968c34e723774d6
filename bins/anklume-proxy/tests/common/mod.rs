//! A proxy started for one test on its own socket, and `incus` through it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

#[allow(unused_imports)]
pub use anklume_e2e::{Infra, busybox_infra, free_base_subnet, tag, text};

pub struct Proxy {
    pub child: Child,
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Proxy {
    /// `anklume-proxy serve --infra INFRA --listen DIR/proxy.sock`, no
    /// system bus (so no anklume-gpud); waits for the socket.
    pub fn start(infra: &Path) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("proxy.sock");
        Self::start_at(infra, dir, socket)
    }

    /// [`Proxy::start`] listening on `socket` (a restart keeps its path).
    pub fn start_at(infra: &Path, dir: tempfile::TempDir, socket: PathBuf) -> Self {
        Self::launch(
            infra,
            dir,
            socket,
            "unix:path=/nonexistent/anklume-proxy-test-bus",
        )
    }

    /// [`Proxy::start`] with `bus` as its system bus (a test bus where
    /// anklume-gpud runs).
    pub fn start_on_bus(infra: &Path, bus: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("proxy.sock");
        Self::launch(infra, dir, socket, bus)
    }

    fn launch(infra: &Path, dir: tempfile::TempDir, socket: PathBuf, bus: &str) -> Self {
        let log = dir.path().join("proxy.log");
        let child = Command::new(env!("CARGO_BIN_EXE_anklume-proxy"))
            .args([
                "serve",
                "--config",
                "/nonexistent/anklume.conf.yml",
                "--infra",
            ])
            .arg(infra)
            .arg("--listen")
            .arg(&socket)
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let proxy = Proxy {
            child,
            dir,
            socket,
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while UnixStream::connect(&proxy.socket).is_err() {
            assert!(Instant::now() < deadline, "no socket: {}", proxy.log_text());
            std::thread::sleep(Duration::from_millis(20));
        }
        proxy
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `incus ARGS` with INCUS_SOCKET = the proxy's socket.
    pub fn incus(&self, args: &[&str]) -> Output {
        Command::new("incus")
            .args(args)
            .env("INCUS_SOCKET", &self.socket)
            .output()
            .unwrap()
    }

    /// Like [`Proxy::incus`], must succeed; stdout.
    pub fn incus_ok(&self, args: &[&str]) -> String {
        let out = self.incus(args);
        assert!(
            out.status.success(),
            "incus {args:?} through the proxy: {}\n{}",
            text(&out),
            self.log_text()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kill -SIGNAL` the proxy (its own pid).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// One raw HTTP/1.1 request on the proxy's socket: status and body.
    pub fn raw(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = UnixStream::connect(&self.socket).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let status = out.split_whitespace().nth(1).unwrap().parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `incus ARGS` straight to incusd.
pub fn direct(args: &[&str]) -> Output {
    Command::new("incus").args(args).output().unwrap()
}

/// `incus query PATH` straight to incusd, as text ("" on error).
pub fn direct_query(path: &str) -> String {
    let out = direct(&["query", path]);
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        String::new()
    }
}
