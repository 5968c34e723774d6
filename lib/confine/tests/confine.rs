//! Confinement really restricts: each check runs in a child process (this
//! test binary re-run on one test), since confinement cannot be undone.

use std::path::PathBuf;
use std::process::Command;

use anklume_confine::{Enforcement, FileAccess, drop_capabilities, restrict_files};

const CHILD: &str = "ANKLUME_CONFINE_CHILD";

fn run_child(test: &str, dir: &std::path::Path) -> std::process::Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, dir)
        .output()
        .unwrap()
}

#[test]
fn landlock_allows_only_the_listed_paths() {
    let Some(dir) = std::env::var_os(CHILD).map(PathBuf::from) else {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("ro")).unwrap();
        std::fs::create_dir(dir.path().join("rw")).unwrap();
        std::fs::write(dir.path().join("ro/f"), "x").unwrap();
        std::fs::write(dir.path().join("secret"), "s").unwrap();
        let out = run_child("landlock_allows_only_the_listed_paths", dir.path());
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    };
    let enforcement = restrict_files(&FileAccess {
        read: vec![dir.join("ro")],
        write: vec![dir.join("rw")],
    })
    .unwrap();
    if enforcement == Enforcement::None {
        eprintln!("kernel without Landlock: nothing to check");
        return;
    }
    assert_eq!(std::fs::read_to_string(dir.join("ro/f")).unwrap(), "x");
    assert!(
        std::fs::write(dir.join("ro/g"), "no").is_err(),
        "read-only path written"
    );
    std::fs::write(dir.join("rw/g"), "yes").unwrap();
    assert!(
        std::fs::read_to_string(dir.join("secret")).is_err(),
        "unlisted path read"
    );
    assert!(
        std::fs::read_to_string("/etc/hostname").is_err(),
        "/etc read"
    );
}

#[test]
fn dropped_capabilities_are_gone() {
    if std::env::var_os(CHILD).is_none() {
        let dir = tempfile::tempdir().unwrap();
        let out = run_child("dropped_capabilities_are_gone", dir.path());
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    drop_capabilities(&[caps::Capability::CAP_NET_ADMIN]).unwrap();
    let effective = caps::read(None, caps::CapSet::Effective).unwrap();
    assert!(
        effective
            .iter()
            .all(|c| *c == caps::Capability::CAP_NET_ADMIN),
        "{effective:?}"
    );
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap();
    if caps::read(None, caps::CapSet::Permitted)
        .unwrap()
        .contains(&caps::Capability::CAP_NET_ADMIN)
    {
        assert!(bounding.len() <= 1, "bounding set kept {bounding:?}");
    }
}
