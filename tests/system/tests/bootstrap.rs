//! bootstrap.sh under a real systemd, with a real Incus inside (issue 14):
//! a container booted from `anklume-test-debian-incus` (the test image plus
//! Incus from bookworm-backports, not initialised; scripts/debian-image.sh
//! incus) gets the package offline and the test image in its own Incus,
//! then `/usr/share/anklume/bootstrap.sh` takes it from nothing to an admin
//! machine whose `incus list` goes through anklume-proxy; a second run, in
//! `--dev` on the now initialised Incus (with the admin's own changes),
//! changes nothing; a third offers `--import`'s result and turns `--YOLO`
//! on.
//!
//! Not covered here: provisioning with admin_bootstrap (apt and PyPI from
//! inside the admin machine; the test containers have no network, nor
//! Ansible), and the btrfs/zfs preseeds (the container's root is neither).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anklume_system_tests::{
    Container, Created, IMAGE, built_deb, incus, repo_root, text, unique_tag,
};

const NESTED_IMAGE: &str = "anklume-test-debian-incus";
const SCRIPT: &str = "/usr/share/anklume/bootstrap.sh";
const ADMIN: &str = "incus exec --project admin admin-ctl --";

/// A scratch directory on the host, removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn image_script(arg: Option<&str>) {
    let mut cmd = Command::new(repo_root().join("scripts/debian-image.sh"));
    cmd.args(arg);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "scripts/debian-image.sh {arg:?}: {}",
        text(&out)
    );
}

#[test]
fn bootstrap_takes_a_nested_host_from_nothing_to_an_admin_domain() {
    let started = Instant::now();
    let deb = built_deb();
    image_script(None);
    image_script(Some("incus"));
    let tag = unique_tag();
    let name = format!("anklume-t-boot-{tag}");
    let _created = Created {
        container: name.clone(),
        project: None,
    };
    let scratch = Scratch(std::env::temp_dir().join(format!("anklume-t-boot-{tag}")));
    std::fs::create_dir_all(&scratch.0).unwrap();
    let tarball = scratch.0.join("debian");
    incus(&["image", "export", IMAGE, &tarball.display().to_string()]);

    // Nested containers: mknod and setxattr are intercepted for them.
    let c = Container::launch_from(
        NESTED_IMAGE,
        &name,
        &[
            "security.syscalls.intercept.mknod=true",
            "security.syscalls.intercept.setxattr=true",
        ],
    );
    c.push(&deb, "/root/anklume.deb");
    c.sh("cd /root && apt-get install -y -q ./anklume.deb");
    for (ours, packaged) in [
        ("bootstrap.sh", SCRIPT),
        (
            "scripts/bootstrap-admin.sh",
            "/usr/share/anklume/scripts/bootstrap-admin.sh",
        ),
    ] {
        c.push(&repo_root().join(ours), "/root/checkout.sh");
        assert!(
            c.run(&format!("cmp -s {packaged} /root/checkout.sh"))
                .status
                .success(),
            "the package's {packaged} is not this checkout's {ours}: run `make deb`"
        );
    }
    c.push(&scratch.0.join("debian.tar.gz"), "/root/debian.tar.gz");
    c.sh(&format!(
        "incus image import /root/debian.tar.gz --alias {IMAGE} && rm /root/debian.tar.gz"
    ));
    assert_eq!(
        c.sh("incus storage list --format csv").trim(),
        "",
        "{NESTED_IMAGE}'s Incus is already initialised"
    );

    help_and_argument_errors(&c);

    // 1. From nothing (a snapshot asked for where btrfs is missing: a warning).
    let first = c.run(&format!(
        "{SCRIPT} --prod --snapshot btrfs --image {IMAGE} --no-provision"
    ));
    let said = text(&first);
    eprintln!("{said}");
    assert!(first.status.success(), "first run failed:\n{said}");
    for line in [
        "==> Snapshot of / (btrfs)",
        "WARNING: btrfs not installed",
        "==> Nesting context in /etc/anklume",
        "changed: Incus initialised (pool default: dir)",
        "changed: minimal admin-only infra written",
        "changed: machine admin-ctl (lxc, anklume-test-debian, ",
        "changed: admin-ctl: attached",
        // The infra changed: the package's daemons re-read it.
        "reloaded anklume-netd",
        "reloaded anklume-snapd",
        "reloaded anklume-gpud",
        &format!("{ADMIN} sh -c"),
    ] {
        assert!(said.contains(line), "no '{line}' in:\n{said}");
    }
    assert!(!said.contains("WARNING: reload"), "{said}");
    // Nesting context: a container under this host (counted once).
    assert_eq!(c.sh("cat /etc/anklume/absolute_level").trim(), "1");
    assert_eq!(c.sh("cat /etc/anklume/relative_level").trim(), "1");
    assert_eq!(
        c.sh(&format!("{ADMIN} cat /etc/anklume/absolute_level"))
            .trim(),
        "2"
    );
    assert_eq!(
        c.sh(&format!("{ADMIN} cat /etc/anklume/relative_level"))
            .trim(),
        "2"
    );
    c.sh("anklume-gen validate /etc/anklume/infra.yml");
    // The admin machine's Incus is anklume-proxy: its own project is
    // there, the default project is not.
    let listed = c.eventually(&format!(
        "{ADMIN} incus list --project admin --format csv -c ns"
    ));
    assert!(listed.contains("admin-ctl,RUNNING"), "{listed}");
    let foreign = c.run(&format!("{ADMIN} incus list --project default"));
    assert!(
        !foreign.status.success() && text(&foreign).contains("anklume-proxy: denied"),
        "the default project through the proxy: {}",
        text(&foreign)
    );
    assert!(
        c.run(&format!("{ADMIN} test -S /run/incus/unix.socket"))
            .status
            .success()
    );
    // The inside half of the printed command: the infra syncs there.
    c.sh(&format!(
        "{ADMIN} sh -c 'cd /root/anklume && anklume-gen sync infra.yml && test -f host_vars/admin-ctl.yml'"
    ));

    // 2. Again, in --dev, on the initialised Incus: nothing changes.
    let state = || {
        c.sh(
            "incus admin init --dump; incus query '/1.0/instances/admin-ctl?project=admin' | grep created_at; \
             stat -c '%Y %n' /etc/anklume/* ; incus config device show admin-ctl --project admin",
        )
    };
    // The admin's own changes since: a second pool, a key on the default
    // profile. --dev must leave them (and everything else) as they are.
    c.sh("incus storage create user-pool dir && incus profile set default user.note=mine");
    let before = state();
    // (Provisioning asked this time: no Ansible in the container, so it
    // says so and changes nothing.)
    let second = c.run(&format!("{SCRIPT} --dev --image {IMAGE}"));
    let said = text(&second);
    assert!(second.status.success(), "second run failed:\n{said}");
    assert!(said.contains("==> Done: 0 change(s)"), "{said}");
    assert!(!said.contains("changed:"), "{said}");
    assert!(
        said.contains("WARNING: Ansible not found on this host: admin-ctl is not provisioned"),
        "{said}"
    );
    assert!(
        said.contains("initialised (storage pools: default,user-pool): left as it is"),
        "{said}"
    );
    assert_eq!(state(), before, "the second run changed the host");
    assert!(
        before.contains("user-pool") && before.contains("user.note: mine"),
        "{before}"
    );

    // 3. --import with an infra in place: the import is offered, the infra
    // stays; --YOLO turns yolo on here and in the admin machine. The level
    // a parent anklume would have written (3, relative 2) is kept, not
    // counted again, and the admin machine is one below it.
    let infra_before = c.sh("cat /etc/anklume/infra.yml");
    c.sh("echo 3 > /etc/anklume/absolute_level && echo 2 > /etc/anklume/relative_level");
    let third = c.run(&format!(
        "{SCRIPT} --dev --import --YOLO --image {IMAGE} --no-provision"
    ));
    let said = text(&third);
    assert!(third.status.success(), "third run failed:\n{said}");
    assert!(
        said.contains("offered in /etc/anklume/infra.imported.yml"),
        "{said}"
    );
    assert_eq!(c.sh("cat /etc/anklume/infra.yml"), infra_before);
    let imported = c.sh("cat /etc/anklume/infra.imported.yml");
    assert!(imported.contains("admin-ctl:"), "{imported}");
    assert_eq!(c.sh("cat /etc/anklume/yolo").trim(), "true");
    assert!(said.contains("absolute_level 3 already set"), "{said}");
    assert_eq!(c.sh("cat /etc/anklume/absolute_level").trim(), "3");
    assert_eq!(
        c.sh(&format!("{ADMIN} cat /etc/anklume/absolute_level"))
            .trim(),
        "4"
    );
    assert_eq!(
        c.sh(&format!("{ADMIN} cat /etc/anklume/relative_level"))
            .trim(),
        "3"
    );
    assert_eq!(
        c.sh(&format!("{ADMIN} cat /etc/anklume/yolo")).trim(),
        "true"
    );
    eprintln!(
        "bootstrap system test: {:.1} s (image export, container, package, three runs)",
        started.elapsed().as_secs_f64()
    );
}

/// `--help` prints the flags; a bad argument exits 2 and changes nothing.
fn help_and_argument_errors(c: &Container) {
    let help = c.sh(&format!("{SCRIPT} --help"));
    for flag in [
        "--prod",
        "--dev",
        "--snapshot KIND",
        "--YOLO",
        "--import",
        "--infra FILE",
        "--image ALIAS",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}:\n{help}");
    }
    for (args, says) in [
        ("--bogus", "unknown argument '--bogus'"),
        (
            "--snapshot lvm",
            "--snapshot lvm: must be btrfs, zfs or snapper",
        ),
        (
            "--infra /nonexistent.yml",
            "--infra /nonexistent.yml: no such readable file",
        ),
        ("--infra", "--infra needs a file"),
    ] {
        let out = c.run(&format!("{SCRIPT} {args}"));
        assert_eq!(out.status.code(), Some(2), "{args}: {}", text(&out));
        assert!(text(&out).contains(says), "{args}: {}", text(&out));
    }
    // An infra that does not validate: its problems with their place, exit
    // 1, before anything changes.
    c.sh("printf 'project_name: x\\nglobal:\\n  base_subnet: \"10.100\"\\ndomains:\\n  admin:\\n    subnet_id: nope\\n' > /root/bad.yml");
    let out = c.run(&format!("{SCRIPT} --infra /root/bad.yml"));
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("/root/bad.yml:6:"), "{said}");
    assert!(
        said.contains("is not a valid infra: nothing was changed"),
        "{said}"
    );
    assert!(
        !c.run("test -e /etc/anklume/absolute_level")
            .status
            .success(),
        "a refused run wrote the nesting context"
    );
}
