//! bootstrap.sh under a real systemd, with a real Incus inside (issue 14):
//! a container booted from `anklume-test-debian-incus` (the test image plus
//! Incus from bookworm-backports, not initialised; scripts/debian-image.sh
//! incus) gets the package offline and the test image in its own Incus,
//! then `/usr/share/anklume/bootstrap.sh` takes it from nothing to an admin
//! machine whose `incus list` goes through anklume-proxy; a second run, in
//! `--dev` on the now initialised Incus (with the admin's own changes),
//! changes nothing; then a fuller infra (a second domain) is installed and
//! the command bootstrap prints is run as printed: the admin machine
//! applies the rest through anklume-proxy (twice: `changed=0`); a last run
//! offers `--import`'s result and turns `--YOLO` on.
//!
//! Provisioning is real and offline: Ansible goes into the admin machine
//! from a wheel directory (`--wheels`, filled by scripts/admin-wheels.sh in
//! scripts/install-test-deps.sh), then site.yml's provision plays run
//! inside it. Not covered here: the btrfs/zfs preseeds (the container's
//! root is neither).

use std::process::Command;
use std::time::Instant;

use anklume_system_tests::{
    Container, Created, IMAGE, Scratch, built_deb, debian_image, incus, repo_root, text, unique_tag,
};

const NESTED_IMAGE: &str = "anklume-test-debian-incus";
const SCRIPT: &str = "/usr/share/anklume/bootstrap.sh";
const ADMIN: &str = "incus exec --project admin admin-ctl --";
/// Where scripts/admin-wheels.sh puts admin_bootstrap's wheels.
const WHEELS: &str = "/var/cache/anklume/wheels/admin";

#[test]
fn bootstrap_takes_a_nested_host_from_nothing_to_an_admin_domain() {
    let started = Instant::now();
    let deb = built_deb();
    debian_image(None);
    debian_image(Some("incus"));
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
    let wheels = scratch.0.join("wheels.tar");
    let packed = Command::new("tar")
        .args(["-C", WHEELS, "-cf"])
        .arg(&wheels)
        .arg(".")
        .output()
        .unwrap();
    assert!(
        packed.status.success(),
        "no wheels in {WHEELS} (scripts/admin-wheels.sh): {}",
        text(&packed)
    );

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
    c.push(&wheels, "/root/wheels.tar");
    c.sh("mkdir /root/wheels && tar -C /root/wheels -xf /root/wheels.tar && rm /root/wheels.tar");
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

    // 1. From nothing (a snapshot asked for where btrfs is missing: a
    // warning), provisioned from the wheels (the machine has no PyPI).
    let first = c.run(&format!(
        "{SCRIPT} --prod --snapshot btrfs --image {IMAGE} --wheels /root/wheels"
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
        "wheels from /root/wheels pushed to admin-ctl:/var/cache/anklume/wheels",
        "changed: admin-ctl: ansible==12.3.0 ",
        "changed: provisioned",
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
    // Its Incus host's context, copied by anklume-proxy attach.
    assert_eq!(
        c.sh(&format!(
            "{ADMIN} cat /etc/anklume/incus-host/absolute_level"
        ))
        .trim(),
        "1"
    );
    // Provisioned: admin_bootstrap's Ansible is on the admin's PATH.
    let version = c.sh(&format!("{ADMIN} ansible-playbook --version"));
    assert!(version.contains("ansible-playbook [core "), "{version}");

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
    // (Provisioning again, without --wheels: the pins are there, so pip
    // does not run, and the provision plays change nothing.)
    let second = c.run(&format!("{SCRIPT} --dev --image {IMAGE}"));
    let said = text(&second);
    assert!(second.status.success(), "second run failed:\n{said}");
    assert!(said.contains("==> Done: 0 change(s)"), "{said}");
    assert!(!said.contains("changed:"), "{said}");
    assert!(
        said.contains("Ansible in /opt/anklume/venv: ansible==12.3.0"),
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

    the_admin_domain_applies_the_rest(&c);

    // 4. --import with an infra in place: the import is offered, the infra
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

/// Step 3, a second domain in the host's infra (bootstrap --infra), then the
/// command bootstrap prints, run as printed: the admin machine syncs and
/// applies site.yml through anklume-proxy, which creates the domain's
/// project, bridge and machine in the host's Incus and provisions it; run
/// again, nothing changes.
fn the_admin_domain_applies_the_rest(c: &Container) {
    c.sh(r#"base=$(sed -n 's/^  base_subnet: "\(.*\)"$/\1/p' /etc/anklume/infra.yml)
        cp /etc/anklume/infra.yml /root/full.yml
        printf '  lab:\n    description: "A second domain"\n    subnet_id: 1\n    machines:\n      lab-1:\n        type: lxc\n        ip: "%s.1.10"\n        roles: [base_system]\n' "$base" >> /root/full.yml"#);
    let run = c.run(&format!(
        "{SCRIPT} --dev --infra /root/full.yml --image {IMAGE}"
    ));
    let said = text(&run);
    assert!(run.status.success(), "bootstrap --infra failed:\n{said}");
    for line in [
        "changed: installed from /root/full.yml",
        "reloaded anklume-proxy@admin-ctl.service",
        "changed: admin-ctl:/root/anklume/infra.yml",
    ] {
        assert!(said.contains(line), "no '{line}' in:\n{said}");
    }
    let printed = said
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("incus exec --project admin admin-ctl -- sh -c"))
        .unwrap_or_else(|| panic!("no command to run inside printed:\n{said}"))
        .to_string();
    // The second pass verbose (-v): what a task changed shows.
    let verbose = format!("{} -v'", printed.trim_end_matches('\''));
    let mut said_inside = String::new();
    for (pass, command) in [("first", &printed), ("second", &verbose)] {
        let apply = c.run(command);
        let out = text(&apply);
        said_inside.push_str(&out);
        assert!(
            apply.status.success(),
            "{pass} apply inside admin-ctl failed:\n{out}\nanklume-proxy's journal:\n{}",
            c.sh("journalctl --no-pager -n 60 -u 'anklume-proxy@*' || true")
        );
        let recap: Vec<&str> = out
            .lines()
            .skip_while(|l| !l.starts_with("PLAY RECAP"))
            .filter(|l| l.contains(" : ok="))
            .collect();
        assert!(
            recap.iter().any(|l| l.starts_with("lab-1 ")),
            "{pass} apply: no lab-1 in its recap:\n{out}"
        );
        assert!(recap.iter().all(|l| l.contains("failed=0")), "{out}");
        if pass == "second" {
            assert!(
                recap.iter().all(|l| l.contains("changed=0")),
                "second apply changed something:\n{out}"
            );
        }
    }
    // Isolation is the host's: its anklume-netd's table has the new
    // domain (the firewall play said so, inside, and applied nothing).
    assert!(
        said_inside.contains("Behind anklume-proxy (/var/lib/anklume-proxy/incus.socket)"),
        "the firewall play inside the admin machine:\n{said_inside}"
    );
    let table = c.sh("nft list table inet anklume");
    assert!(
        table.contains("net-lab"),
        "the host's table lacks net-lab:\n{table}"
    );
    // ADR-020 through the proxy: lab-1 is a child of the Incus host (level
    // 1), like the admin machine, whatever the applies read inside it.
    for machine in ["--project lab lab-1", "--project admin admin-ctl"] {
        assert_eq!(
            c.sh(&format!(
                "incus exec {machine} -- cat /etc/anklume/absolute_level"
            ))
            .trim(),
            "2",
            "{machine}"
        );
    }
    let lab = c.sh("incus list --project lab --format csv -c ns");
    assert!(lab.contains("lab-1,RUNNING"), "{lab}");
    assert!(
        c.run("incus network show net-lab").status.success(),
        "no net-lab bridge"
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
        "--wheels DIR",
        "--pip-index URL",
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
        ("--wheels /tmp", "--wheels /tmp: no .whl file there"),
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
