//! The registry file: durable writes (fsync of the file before the rename
//! and of the directory after, seen with strace), an unreadable file moved
//! aside instead of stopping the daemon, an unknown version refused.

use std::path::Path;
use std::process::Command;

use anklume_snapshot::registry::Tagged;
use anklume_snapshot::{Registry, RegistryError};

fn tagged(name: &str) -> Tagged {
    Tagged {
        project: "p".into(),
        instance: "i".into(),
        name: name.into(),
        created: 5,
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_empty_truncated_or_garbled_registry_is_moved_aside_and_reported() {
    for (what, content) in [
        ("empty", ""),
        (
            "truncated",
            "{\"version\": 1, \"snapshots\": [{\"project\": \"p\"",
        ),
        ("garbled", "\u{0}\u{0}\u{0}\u{0}"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("snapshots.json"), content).unwrap();
        let opened = Registry::open(dir.path()).unwrap();
        assert_eq!(opened.registry.entries().count(), 0, "{what}");
        let recovered = opened
            .recovered
            .unwrap_or_else(|| panic!("{what}: not reported"));
        let listing = files(dir.path());
        assert_eq!(listing.len(), 1, "{what}: {listing:?}");
        assert!(
            listing[0].starts_with("snapshots.json.corrupt-"),
            "{listing:?}"
        );
        assert_eq!(recovered.moved_to, dir.path().join(&listing[0]));
        assert_eq!(
            std::fs::read_to_string(&recovered.moved_to).unwrap(),
            content,
            "kept for a person"
        );
        assert!(
            recovered.to_string().contains("moved to"),
            "{what}: {recovered}"
        );
        // And the registry works again.
        let mut registry = opened.registry;
        registry.insert(tagged("n")).unwrap();
        let reopened = Registry::open(dir.path()).unwrap();
        assert!(reopened.recovered.is_none());
        assert!(reopened.registry.is_tagged("p", "i", "n", 5));
    }
}

#[test]
fn an_unknown_version_is_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("snapshots.json");
    std::fs::write(&path, "{\"version\": 7, \"snapshots\": [], \"labels\": {}}").unwrap();
    let err = Registry::open(dir.path()).unwrap_err();
    assert!(matches!(
        err,
        RegistryError::UnknownVersion { found: 7, .. }
    ));
    let message = err.to_string();
    assert!(
        message.contains("version 7") && message.contains("upgrade anklume-snapd"),
        "{message}"
    );
    assert_eq!(files(dir.path()), ["snapshots.json"], "left untouched");
}

#[test]
fn a_file_without_pending_intents_is_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("snapshots.json"),
        r#"{"version": 1, "snapshots": [{"project": "p", "instance": "i", "name": "n", "created": 5}]}"#,
    )
    .unwrap();
    let opened = Registry::open(dir.path()).unwrap();
    assert!(opened.registry.is_tagged("p", "i", "n", 5));
}

const CHILD: &str = "ANKLUME_REGISTRY_CHILD";

/// Run under strace: one save, the system calls it makes.
#[test]
fn a_save_fsyncs_the_file_before_the_rename_and_the_directory_after() {
    if let Some(dir) = std::env::var_os(CHILD) {
        let mut registry = Registry::open(Path::new(&dir)).unwrap().registry;
        eprintln!("--- save ---");
        registry.insert(tagged("durable")).unwrap();
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("strace.log");
    let state = dir.path().join("state");
    let status = Command::new("strace")
        .args([
            "-f",
            "-e",
            "trace=fsync,fdatasync,rename,renameat,renameat2,openat",
        ])
        .arg("-o")
        .arg(&log)
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_save_fsyncs_the_file_before_the_rename_and_the_directory_after",
            "--test-threads=1",
        ])
        .env(CHILD, &state)
        .status()
        .expect("strace (Debian package strace; scripts/install-test-deps.sh)");
    assert!(status.success());
    let trace = std::fs::read_to_string(&log).unwrap();
    let calls: Vec<&str> = trace
        .lines()
        .filter(|l| l.contains("fsync(") || l.contains("fdatasync(") || l.contains("rename"))
        .collect();
    let rename = calls
        .iter()
        .position(|l| l.contains("snapshots.json"))
        .unwrap_or_else(|| panic!("no rename into snapshots.json: {calls:#?}"));
    assert!(
        calls[..rename].iter().any(|l| l.contains("fsync(")),
        "no fsync of the file before the rename: {calls:#?}"
    );
    assert!(
        calls[rename + 1..].iter().any(|l| l.contains("fsync(")),
        "no fsync of the directory after the rename: {calls:#?}"
    );
}
