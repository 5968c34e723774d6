//! A stand-in for systemd's notification socket (`NOTIFY_SOCKET`): what a
//! daemon tells the service manager (READY=1, RELOADING=1, STOPPING=1),
//! in order. Shared by the daemons' test crates (`#[path]`-included).

#![allow(dead_code)]

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct NotifySocket {
    pub path: PathBuf,
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl NotifySocket {
    pub fn bind(dir: &Path) -> Self {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Self {
            path,
            socket,
            seen: Vec::new(),
        }
    }

    /// Waits until a message has the line `line` (e.g. `READY=1`), and
    /// returns every line received since the last wait.
    pub fn wait_for(&mut self, line: &str, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(at) = self.seen.iter().position(|l| l == line) {
                return self.seen.drain(..=at).collect();
            }
            assert!(
                Instant::now() < deadline,
                "no {line} within {timeout:?}; received {:?}",
                self.seen
            );
            if let Ok(n) = self.socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.extend(text.lines().map(str::to_owned));
            }
        }
    }
}
