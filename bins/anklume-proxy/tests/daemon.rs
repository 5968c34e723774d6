//! The daemon's shape: started by systemd's socket activation (LISTEN_FDS,
//! as anklume-proxy@.socket does, here through systemd-socket-activate),
//! it serves on the socket it was given, confined: no capability in any
//! thread, NoNewPrivs. Needs Incus for the one forwarded read.

#[path = "../../../tests/harness/confinement.rs"]
mod confinement;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Kill(std::process::Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(socket: &std::path::Path, path: &str) -> String {
    let mut s = UnixStream::connect(socket).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn socket_activated_it_serves_confined() {
    let dir = tempfile::tempdir().unwrap();
    let infra = dir.path().join("infra.yml");
    std::fs::write(
        &infra,
        "project_name: t\nglobal: {}\ndomains:\n  pxd:\n    subnet_id: 1\n",
    )
    .unwrap();
    let socket = dir.path().join("activated.socket");
    let child = Command::new("systemd-socket-activate")
        .arg("-l")
        .arg(&socket)
        .arg(env!("CARGO_BIN_EXE_anklume-proxy"))
        .args([
            "serve",
            "--config",
            "/nonexistent/anklume.conf.yml",
            "--infra",
        ])
        .arg(&infra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(
            Instant::now() < deadline,
            "systemd-socket-activate did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The first connection reaches the proxy, which was given the socket.
    let answer = get(&socket, "/1.0/instances?project=default");
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("anklume-proxy: denied"), "{answer}");
    let answer = get(&socket, "/1.0");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // systemd-socket-activate execs the daemon in its own process.
    let threads = confinement::assert_every_thread_confined(child.0.id(), 0);
    assert!(threads > 1, "the runtime's threads are checked too");
}
