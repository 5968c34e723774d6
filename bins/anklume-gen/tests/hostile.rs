//! A base directory written to break anklume-gen: links, FIFOs, devices
//! and sockets at generated paths, a held lock, leftovers of a killed
//! sync, a write that fails midway, control characters in names.
//! (Issue 9, items 7–12.)

mod common;

use std::io::{BufRead as _, BufReader};
use std::os::unix::fs::{PermissionsExt as _, symlink};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{INFRA, Run, Scratch};

/// Runs `cmd` and kills it if it is still running after `limit`: a sync
/// that hangs is a failure, not a stuck test suite.
fn run_within(mut cmd: Command, limit: Duration) -> Run {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {limit:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap().into()
}

/// `cat PATH` as the unprivileged user `nobody`.
fn read_as_nobody(path: &Path) -> Run {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(path)
        .output()
        .expect("setpriv")
        .into()
}

/// The regular files under `rel` (links and special files left out).
fn regular_files(s: &Scratch, rel: &str) -> Vec<String> {
    s.tree(rel)
        .into_iter()
        .filter(|(_, content)| !content.starts_with("<FileType"))
        .map(|(path, _)| path)
        .collect()
}

fn sync(s: &Scratch) -> Run {
    run_within(
        s.command(&["sync", "infra.yml", "--base-dir", "out"]),
        Duration::from_secs(20),
    )
}

#[test]
fn a_link_at_a_generated_file_is_refused_and_never_read_through() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    // The attacker's tree is world-readable; the victim's secret sits in
    // a private directory, in a file whose own mode is 0644.
    std::fs::set_permissions(s.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let secret = s.write("private/secret.yml", "password: SECRET\n");
    std::fs::set_permissions(s.path("private"), std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_ne!(
        read_as_nobody(&secret).code,
        0,
        "setup: nobody must not read it"
    );
    std::fs::create_dir_all(s.path("out/host_vars")).unwrap();
    let link = s.path("out/host_vars/lab-web.yml");
    symlink(&secret, &link).unwrap();

    let run = sync(&s);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("ERROR: out/host_vars/lab-web.yml: is a symbolic link"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Nothing was written"), "{}", run.stderr);
    // The link is still a link, nothing else was written, the secret is
    // intact, and nobody can read it through the tree.
    assert!(link.symlink_metadata().unwrap().file_type().is_symlink());
    assert_eq!(regular_files(&s, "out"), Vec::<String>::new());
    assert_eq!(s.read("private/secret.yml"), "password: SECRET\n");
    let through = read_as_nobody(&link);
    assert_ne!(through.code, 0);
    assert!(!through.stdout.contains("SECRET"));

    // Dry runs refuse too: they never read through a link either.
    let dry = s.run(&["sync", "infra.yml", "--base-dir", "out", "--dry-run"]);
    assert_eq!(dry.code, 1);
    assert!(dry.stderr.contains("is a symbolic link"), "{}", dry.stderr);
}

#[test]
fn a_linked_generated_directory_is_refused_before_anything_is_written() {
    for dir in ["inventory", "group_vars", "host_vars"] {
        let s = Scratch::new();
        s.write("infra.yml", INFRA);
        std::fs::create_dir_all(s.path("elsewhere")).unwrap();
        std::fs::create_dir_all(s.path("out")).unwrap();
        symlink(s.path("elsewhere"), s.path(&format!("out/{dir}"))).unwrap();
        let run = sync(&s);
        assert_eq!(run.code, 1, "{dir}: {}", run.stdout);
        assert!(
            run.stderr
                .contains(&format!("ERROR: out/{dir}: is a symbolic link")),
            "{dir}: {}",
            run.stderr
        );
        assert!(s.tree("elsewhere").is_empty(), "{dir}: written through");
        assert_eq!(regular_files(&s, "out"), Vec::<String>::new(), "{dir}");
    }
}

#[test]
fn fifos_devices_and_sockets_are_refused_at_once() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    for dir in ["out/group_vars", "out/host_vars", "out/inventory"] {
        std::fs::create_dir_all(s.path(dir)).unwrap();
    }
    let fifo = s.path("out/host_vars/lab-web.yml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // /dev/zero's numbers: read, it never ends.
    let zero = s.path("out/group_vars/all.yml");
    assert!(
        Command::new("mknod")
            .arg(&zero)
            .args(["c", "1", "5"])
            .status()
            .unwrap()
            .success()
    );
    let _socket = std::os::unix::net::UnixListener::bind(s.path("out/inventory/lab.yml")).unwrap();

    let start = Instant::now();
    let run = sync(&s);
    assert!(start.elapsed() < Duration::from_secs(10));
    assert_eq!(run.code, 1, "{}", run.stdout);
    for expected in [
        "ERROR: out/group_vars/all.yml: is a character device, not a regular file",
        "ERROR: out/inventory/lab.yml: is a socket, not a regular file",
        "ERROR: out/host_vars/lab-web.yml: is a FIFO (named pipe), not a regular file",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
    assert_eq!(regular_files(&s, "out"), Vec::<String>::new());
}

#[test]
fn a_held_lock_is_announced_and_given_up_after_the_timeout() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    std::fs::create_dir_all(s.path("out")).unwrap();
    let held = std::fs::File::open(s.path("out")).unwrap();
    held.lock().unwrap();

    let start = Instant::now();
    let run = run_within(
        s.command(&[
            "sync",
            "infra.yml",
            "--base-dir",
            "out",
            "--lock-timeout",
            "1",
        ]),
        Duration::from_secs(20),
    );
    let waited = start.elapsed();
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .starts_with("waiting for the lock on out held by another sync…\n"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("gave up after 1s"), "{}", run.stderr);
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    assert!(s.tree("out").is_empty());

    // Released while a sync waits: that sync goes on.
    let mut child = s
        .command(&[
            "sync",
            "infra.yml",
            "--base-dir",
            "out",
            "--lock-timeout",
            "60",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "waiting for the lock on out held by another sync…\n");
    drop(held);
    let run: Run = child.wait_with_output().unwrap().into();
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.stdout.ends_with("Done.\n"), "{}", run.stdout);
}

#[test]
fn leftover_temporary_files_of_a_killed_sync_are_removed() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write("out/host_vars/.anklume-gen-Ab12Cd.tmp", "half a fi");
    s.write("out/inventory/.anklume-gen-zz99ZZ.tmp", "");
    // Not anklume-gen's names: the user's, kept.
    s.write("out/host_vars/.anklume-gen-notes.txt", "mine");
    s.write("out/host_vars/.anklume-gen-Ab12Cd.tmp.bak", "mine");
    std::fs::create_dir(s.path("out/group_vars/.anklume-gen-dir123.tmp")).unwrap();

    let run = s.sync_ok(&[]);
    assert!(
        run.stdout
            .contains("  Removed leftover temporary file: out/inventory/.anklume-gen-zz99ZZ.tmp\n"),
        "{}",
        run.stdout
    );
    assert!(!s.path("out/host_vars/.anklume-gen-Ab12Cd.tmp").exists());
    assert!(!s.path("out/inventory/.anklume-gen-zz99ZZ.tmp").exists());
    assert!(s.path("out/host_vars/.anklume-gen-notes.txt").exists());
    assert!(s.path("out/host_vars/.anklume-gen-Ab12Cd.tmp.bak").exists());
    assert!(s.path("out/group_vars/.anklume-gen-dir123.tmp").is_dir());
}

/// `chattr +i` on a directory for the guard's life: even root cannot
/// create a file in it, so a write fails midway.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn new(path: &'a Path) -> Self {
        let ok = Command::new("chattr").arg("+i").arg(path).status().unwrap();
        assert!(
            ok.success(),
            "chattr +i {} (needs root and ext4/xfs/btrfs)",
            path.display()
        );
        Self(path)
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[test]
fn a_failure_midway_says_which_files_were_written_and_which_were_not() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write(
        "infra.yml",
        &INFRA
            .replace("description: Lab\n", "description: Lab 2\n")
            .replace("Ansible controller", "Controller 2"),
    );
    let host_vars = s.path("out/host_vars");
    let run = {
        let _guard = Immutable::new(&host_vars);
        sync(&s)
    };
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("ERROR: out/host_vars/admin-ansible.yml: "),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "Written before the failure (1):\n  Written: out/group_vars/lab.yml\n\
             NOT written (1):\n  Not written: out/host_vars/admin-ansible.yml\n"
        ),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("the tree is partly updated"),
        "{}",
        run.stderr
    );
    assert!(s.read("out/group_vars/lab.yml").contains("Lab 2"));
    assert!(
        s.read("out/host_vars/admin-ansible.yml")
            .contains("Ansible controller")
    );
    // Fixed, the next sync completes the tree.
    let run = s.sync_ok(&[]);
    assert!(
        run.stdout
            .contains("  Written: out/host_vars/admin-ansible.yml\n")
    );
}

#[test]
fn control_characters_are_escaped_in_every_message() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        "project_name: demo\nglobal:\n  base_subnet: \"10.100\"\ndomains:\n  lab:\n    subnet_id: 1\n    machines:\n      \"evil\\e[2J\\n\\0\": {type: \"lx\\e]0;pwned\\ac\"}\n      ok: {bogus\\x1b: 1}\n",
    );
    for args in [
        &["validate", "infra.yml"][..],
        &["sync", "infra.yml", "--base-dir", "out"][..],
    ] {
        let run = s.run(args);
        assert_eq!(run.code, 1, "{args:?}");
        let all = format!("{}{}", run.stdout, run.stderr);
        assert!(
            !all.chars().any(|c| c.is_control() && c != '\n'),
            "{args:?}: raw control character in {all:?}"
        );
        // One message, one line: the name's newline is shown, not obeyed.
        assert!(
            run.stderr
                .contains("Machine 'evil\\x1b[2J\\n\\0': invalid name"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains("type must be 'lxc' or 'vm', got 'lx\\x1b]0;pwned\\x07c'"),
            "{args:?}: {}",
            run.stderr
        );
    }
    // The JSON report keeps the text exact (JSON escapes it itself).
    let run = s.run(&["validate", "infra.yml", "--format", "json"]);
    assert!(
        run.stdout.contains("evil\\u001b[2J\\n\\u0000"),
        "{}",
        run.stdout
    );
}
