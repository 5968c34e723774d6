//! `make upgrade` on a scratch clone whose upstream is a local bare
//! repository (no network here): the user's files (infra.yml,
//! roles_custom/, anklume.conf.yml, the generated tree with their own
//! variables) come out byte for byte the same, the checkout is
//! fast-forwarded and re-synced; a local edit of a framework file, or a
//! local commit, stops it with a clear message and changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use anklume_e2e::{gen_bin, repo_root, text};

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn make(dir: &Path, args: &[&str]) -> Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(dir)
        .args(args)
        .arg(format!("ANKLUME_GEN={}", gen_bin().display()))
        .env("ANKLUME_CONTEXT_DIR", dir.join("no-context"))
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Every file under the user's paths, relative path → content.
fn user_files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, path: &Path, out: &mut BTreeMap<PathBuf, Vec<u8>>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                walk(root, &entry.unwrap().path(), out);
            }
        } else if path.exists() {
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            out.insert(rel, std::fs::read(path).unwrap());
        }
    }
    let mut out = BTreeMap::new();
    for p in [
        "infra.yml",
        "roles_custom",
        "anklume.conf.yml",
        "inventory",
        "group_vars",
        "host_vars",
    ] {
        walk(dir, &dir.join(p), &mut out);
    }
    out
}

fn append(path: &Path, line: &str) {
    let mut text = std::fs::read_to_string(path).unwrap();
    text.push_str(line);
    std::fs::write(path, text).unwrap();
}

const INFRA: &str = "project_name: mine
global:
  base_subnet: \"10.99\"
  default_os_image: anklume-test-busybox
domains:
  work:
    subnet_id: 1
    machines:
      work-dev: {type: lxc, ip: \"10.99.1.10\", roles: [my_role]}
";

#[test]
fn upgrade_keeps_user_files_and_stops_on_framework_edits() {
    let scratch = tempfile::tempdir().unwrap();
    let up = scratch.path().join("up.git");
    let maint = scratch.path().join("maint");
    let user = scratch.path().join("user");
    let s = |p: &Path| p.display().to_string();
    git(
        scratch.path(),
        &["clone", "--quiet", "--bare", &s(&repo_root()), &s(&up)],
    );
    git(scratch.path(), &["clone", "--quiet", &s(&up), &s(&maint)]);
    // The upstream carries this working tree's lifecycle files.
    for f in ["scripts/upgrade.sh", "Makefile", ".gitignore"] {
        std::fs::copy(repo_root().join(f), maint.join(f)).unwrap();
    }
    git(&maint, &["add", "-A"]);
    git(
        &maint,
        &["commit", "--quiet", "--allow-empty", "-m", "current"],
    );
    git(&maint, &["push", "--quiet", "origin", "HEAD"]);
    git(scratch.path(), &["clone", "--quiet", &s(&up), &s(&user)]);

    // The user's own files, a synced tree, a variable of their own.
    std::fs::write(user.join("infra.yml"), INFRA).unwrap();
    std::fs::create_dir_all(user.join("roles_custom/my_role/tasks")).unwrap();
    std::fs::write(
        user.join("roles_custom/my_role/tasks/main.yml"),
        "---\n- name: Mine\n  ansible.builtin.debug: {msg: hi}\n",
    )
    .unwrap();
    std::fs::write(
        user.join("anklume.conf.yml"),
        "infra: /etc/anklume/infra.yml\n",
    )
    .unwrap();
    let out = make(&user, &["sync"]);
    assert!(out.status.success(), "{}", text(&out));
    append(&user.join("host_vars/work-dev.yml"), "my_var: 42\n");
    let before = user_files(&user);
    assert!(before.len() >= 6, "{before:?}");

    // Upstream moves on: a framework change.
    append(&maint.join("README.md"), "\nupgrade test line one\n");
    git(&maint, &["commit", "--quiet", "-am", "framework change"]);
    git(&maint, &["push", "--quiet", "origin", "HEAD"]);
    let upstream_head = git(&maint, &["rev-parse", "HEAD"]);

    let out = make(&user, &["upgrade"]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    assert_eq!(git(&user, &["rev-parse", "HEAD"]), upstream_head);
    for expected in [
        "Updated anklume",
        "1 file changed",
        "Re-syncing the tree",
        "0 file(s) written",
        "Your files were kept",
    ] {
        assert!(shown.contains(expected), "{expected} missing:\n{shown}");
    }
    assert_eq!(user_files(&user), before, "user files changed:\n{shown}");
    assert!(
        std::fs::read_to_string(user.join("host_vars/work-dev.yml"))
            .unwrap()
            .ends_with("my_var: 42\n")
    );
    // Nothing more to do: said so.
    let out = make(&user, &["upgrade"]);
    assert!(text(&out).contains("Already up to date"), "{}", text(&out));

    // A local edit of a framework file that upstream also changed: stop.
    append(&maint.join("README.md"), "upgrade test line two\n");
    git(&maint, &["commit", "--quiet", "-am", "framework change 2"]);
    git(&maint, &["push", "--quiet", "origin", "HEAD"]);
    append(&user.join("README.md"), "my own edit\n");
    let head = git(&user, &["rev-parse", "HEAD"]);
    let out = make(&user, &["upgrade"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("framework files have local changes; make upgrade changes nothing:")
            && shown.contains("  README.md"),
        "{shown}"
    );
    assert!(
        !shown.contains("infra.yml\n"),
        "user files are never listed:\n{shown}"
    );
    assert_eq!(git(&user, &["rev-parse", "HEAD"]), head);
    assert!(
        std::fs::read_to_string(user.join("README.md"))
            .unwrap()
            .ends_with("my own edit\n")
    );
    assert_eq!(user_files(&user), before);

    // A local commit: no fast-forward, nothing merged.
    git(&user, &["commit", "--quiet", "-am", "my framework change"]);
    let out = make(&user, &["upgrade"]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains("cannot fast-forward to origin/")
            && shown.contains("1 commit(s) of its own"),
        "{shown}"
    );
    assert_eq!(user_files(&user), before);
}
