//! `make install` / `make uninstall` / `make release` in a fresh clone of
//! the working tree, into a temporary DESTDIR. Cargo is a stand-in that
//! logs its arguments and "builds" by copying the binaries `cargo test
//! --workspace` built (a real release build takes minutes; the stand-in
//! checks the command the Makefile gives cargo).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use anklume_docs_tests::{bin_dir, bins, checkout, snapshot_repo};

struct Tree {
    _dir: tempfile::TempDir,
    checkout: PathBuf,
    destdir: PathBuf,
    release: PathBuf,
    cargo: PathBuf,
    cargo_log: PathBuf,
}

fn tree() -> Tree {
    let dir = tempfile::Builder::new()
        .prefix("anklume-install-")
        .tempdir()
        .unwrap();
    let repo = snapshot_repo(dir.path());
    let checkout = checkout(&repo, dir.path());
    let release = dir.path().join("release");
    let cargo_log = dir.path().join("cargo.log");
    let cargo = dir.path().join("cargo");
    std::fs::write(
        &cargo,
        format!(
            "#!/bin/sh\n[ \"$1\" = --version ] && {{ echo 'cargo 1.95.0 (stand-in)'; exit 0; }}\necho \"$*\" >> '{log}'\nmkdir -p '{rel}'\nfor b in {bins}; do cp '{built}'/$b '{rel}'/; done\n",
            log = cargo_log.display(),
            rel = release.display(),
            bins = bins().join(" "),
            built = bin_dir().display(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cargo, std::fs::Permissions::from_mode(0o755)).unwrap();
    Tree {
        destdir: dir.path().join("root"),
        _dir: dir,
        checkout,
        release,
        cargo,
        cargo_log,
    }
}

impl Tree {
    fn make(&self, args: &[&str], cargo: &Path) -> Output {
        Command::new("make")
            .arg("-C")
            .arg(&self.checkout)
            .args(args)
            .arg(format!("DESTDIR={}", self.destdir.display()))
            .arg(format!("RELEASE_DIR={}", self.release.display()))
            .arg(format!("CARGO={}", cargo.display()))
            .env_remove("MAKEFLAGS")
            .env_remove("MAKELEVEL")
            .output()
            .unwrap()
    }

    fn make_ok(&self, args: &[&str]) -> Output {
        let out = self.make(args, &self.cargo);
        assert!(out.status.success(), "make {args:?}: {}", text(&out));
        out
    }

    fn cargo_calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.cargo_log)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn install_puts_every_binary_in_destdir_prefix_bin() {
    let t = tree();
    assert_eq!(
        bins(),
        [
            "anklume-gen",
            "anklume-gpud",
            "anklume-netd",
            "anklume-proxy",
            "anklume-snapd"
        ]
    );
    t.make_ok(&["install"]);
    let want: Vec<String> = bins()
        .iter()
        .map(|b| format!("usr/local/bin/{b}"))
        .collect();
    assert_eq!(files(&t.destdir), want);
    for b in bins() {
        let installed = t.destdir.join("usr/local/bin").join(&b);
        let mode = std::fs::metadata(&installed).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o755, "{b}: mode {mode:o}");
        assert_eq!(
            std::fs::read(&installed).unwrap(),
            std::fs::read(bin_dir().join(&b)).unwrap(),
            "{b} is not the built binary"
        );
        let help = Command::new(&installed).arg("--help").output().unwrap();
        assert!(help.status.success(), "{b} --help: {}", text(&help));
    }
    // One release build of every binary, locked to Cargo.lock.
    let mut want = "build --release --locked".to_string();
    for b in bins() {
        want.push_str(&format!(" -p {b}"));
    }
    assert_eq!(t.cargo_calls(), [want]);

    // PREFIX and BINDIR are honoured.
    t.make_ok(&["install", "PREFIX=/opt/anklume"]);
    for b in bins() {
        assert!(t.destdir.join("opt/anklume/bin").join(&b).is_file());
    }
    t.make_ok(&["install", "BINDIR=/sbin-test"]);
    assert!(t.destdir.join("sbin-test/anklume-gen").is_file());
}

#[test]
fn uninstall_removes_exactly_what_install_put() {
    let t = tree();
    let bindir = t.destdir.join("usr/local/bin");
    std::fs::create_dir_all(&bindir).unwrap();
    std::fs::write(bindir.join("someone-else"), "not ours").unwrap();
    t.make_ok(&["install"]);
    assert_eq!(files(&t.destdir).len(), bins().len() + 1);
    t.make_ok(&["uninstall"]);
    assert_eq!(files(&t.destdir), ["usr/local/bin/someone-else"]);
    // Again, with nothing to remove: still fine.
    t.make_ok(&["uninstall"]);
    assert_eq!(files(&t.destdir), ["usr/local/bin/someone-else"]);
}

/// `make release` as a user, then `sudo make install` where root has no
/// cargo: nothing is rebuilt while the binaries are newer than the sources.
#[test]
fn install_needs_no_cargo_when_release_is_fresh() {
    let t = tree();
    t.make_ok(&["release"]);
    assert_eq!(t.cargo_calls().len(), 1);
    let no_cargo = t.release.join("no-such-cargo");
    let out = t.make(&["install"], &no_cargo);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(files(&t.destdir).len(), bins().len());

    // A changed source needs a build again: without cargo, make says what to do.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let main = t.checkout.join("bins/anklume-gen/src/main.rs");
    let body = std::fs::read_to_string(&main).unwrap();
    std::fs::write(&main, body + "\n").unwrap();
    let out = t.make(&["install"], &no_cargo);
    assert!(!out.status.success());
    assert!(text(&out).contains("not found"), "{}", text(&out));
}

#[test]
fn build_without_cargo_says_what_to_do() {
    let t = tree();
    for target in ["install", "release", "build"] {
        let out = t.make(&[target], Path::new("/nonexistent/cargo"));
        let said = text(&out);
        assert!(!out.status.success(), "make {target} went on without cargo");
        assert!(
            said.contains("/nonexistent/cargo not found")
                && said.contains("rustup")
                && said.contains("Without internet access")
                && said.contains("docs/quickstart.md"),
            "make {target} without cargo: {said}"
        );
    }
}

#[test]
fn build_with_old_cargo_says_what_to_do() {
    let t = tree();
    let old = t.release.with_file_name("old-cargo");
    std::fs::write(&old, "#!/bin/sh\necho 'cargo 1.63.0'\n").unwrap();
    std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = t.make(&["install"], &old);
    let said = text(&out);
    assert!(!out.status.success());
    assert!(
        said.contains("version 1.63.0; anklume needs >= 1.89") && said.contains("rustup"),
        "{said}"
    );
    assert!(t.cargo_calls().is_empty());
}
