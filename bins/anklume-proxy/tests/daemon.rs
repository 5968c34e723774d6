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

/// As an unprivileged user whose only right is the group of incusd's
/// socket (in production: `anklume-proxy` in `incus-admin`), it forwards.
#[test]
fn an_unprivileged_user_in_the_sockets_group_serves() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let group = std::fs::metadata("/var/lib/incus/unix.socket")
        .unwrap()
        .gid();
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let infra = dir.path().join("infra.yml");
    std::fs::write(
        &infra,
        "project_name: t\nglobal: {}\ndomains:\n  pxu:\n    subnet_id: 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&infra, std::fs::Permissions::from_mode(0o644)).unwrap();
    let socket = dir.path().join("nobody.socket");
    let child = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            &format!("--groups={group}"),
            "--",
        ])
        .arg(env!("CARGO_BIN_EXE_anklume-proxy"))
        .args([
            "serve",
            "--config",
            "/nonexistent/anklume.conf.yml",
            "--infra",
        ])
        .arg(&infra)
        .arg("--listen")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "no socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.0.id())).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("Uid:") && l.contains("65534")),
        "{status}"
    );
    let answer = get(&socket, "/1.0");
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "forwarded as nobody: {answer}"
    );
    assert!(get(&socket, "/1.0/instances?project=default").starts_with("HTTP/1.1 403"));
}
