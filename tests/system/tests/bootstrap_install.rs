//! bootstrap.sh's Incus step on a Debian 12 host that lacks Incus (issue
//! 14), for real and offline: a container booted from `anklume-test-debian`
//! (no Incus) whose apt sees only a local mirror — the suites bookworm and
//! bookworm-backports holding exactly the .debs that image lacks for Incus
//! (`scripts/debian-image.sh incus-mirror`), configured as a user with a
//! local mirror would, in deb822 form, `Trusted: yes` (it is unsigned) —
//! gets the package offline, then `/usr/share/anklume/bootstrap.sh`:
//!
//! 1. installs Incus from bookworm-backports (the mirror's source is used,
//!    no deb.debian.org line is added), incusd answers under the
//!    container's systemd, and it is initialised with a dir pool; the run
//!    then stops at the admin machine, as on any offline host, because its
//!    image is not in the new Incus;
//! 2. with the image imported, a second run finds Incus installed and
//!    initialised, leaves both as they are and creates the admin machine;
//! 3. a third run changes nothing.

use std::process::Command;
use std::time::Instant;

use anklume_system_tests::{
    Container, Created, IMAGE, Scratch, built_deb, debian_image, incus, repo_root, text, unique_tag,
};

const SCRIPT: &str = "/usr/share/anklume/bootstrap.sh";
/// Where the container's apt finds the mirror.
const MIRROR: &str = "/srv/debian-mirror";
const ADMIN: &str = "incus exec --project admin admin-ctl --";

#[test]
fn bootstrap_installs_incus_from_backports_on_a_host_without_it() {
    let started = Instant::now();
    let deb = built_deb();
    // The alias scripts/debian-image.sh imports (ANKLUME_TEST_DEBIAN_IMAGE
    // may name another one: the mirror is made for its recipe).
    let image = std::env::var("ANKLUME_TEST_DEBIAN_IMAGE").unwrap_or_else(|_| IMAGE.to_owned());
    debian_image(None);
    let mirror = debian_image(Some("incus-mirror")).trim().to_owned();
    let tag = unique_tag();
    let name = format!("anklume-t-binst-{tag}");
    let _created = Created {
        container: name.clone(),
        project: None,
    };
    let scratch = Scratch(std::env::temp_dir().join(format!("anklume-t-binst-{tag}")));
    std::fs::create_dir_all(&scratch.0).unwrap();
    incus(&[
        "image",
        "export",
        &image,
        &scratch.0.join("debian").display().to_string(),
    ]);
    let mirror_tar = scratch.0.join("mirror.tar");
    let tar = Command::new("tar")
        .args(["-C", &mirror, "-cf"])
        .arg(&mirror_tar)
        .arg(".")
        .output()
        .unwrap();
    assert!(tar.status.success(), "tar of {mirror}: {}", text(&tar));

    // Nested containers: mknod and setxattr are intercepted for them.
    let c = Container::launch_from(
        &image,
        &name,
        &[
            "security.syscalls.intercept.mknod=true",
            "security.syscalls.intercept.setxattr=true",
        ],
    );
    assert!(
        !c.run("command -v incus || dpkg -s incus").status.success(),
        "{image} has Incus already"
    );
    // The image's deb.debian.org source cannot be reached: none at all
    // while the package goes in (its Recommends: incus stays unmet, as it
    // does offline), then the mirror only.
    c.sh("rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*");
    c.push(&deb, "/root/anklume.deb");
    c.sh("cd /root && apt-get install -y -q ./anklume.deb");
    assert!(!c.run("command -v incus").status.success());
    c.push(&repo_root().join("bootstrap.sh"), "/root/checkout.sh");
    assert!(
        c.run(&format!("cmp -s {SCRIPT} /root/checkout.sh"))
            .status
            .success(),
        "the package's {SCRIPT} is not this checkout's bootstrap.sh: run `make deb`"
    );
    c.push(&scratch.0.join("debian.tar.gz"), "/root/debian.tar.gz");
    c.push(&mirror_tar, "/root/mirror.tar");
    c.sh(&format!(
        "mkdir -p {MIRROR} && tar -C {MIRROR} -xf /root/mirror.tar && rm /root/mirror.tar && \
         printf 'Types: deb\\nURIs: file:{MIRROR}\\nSuites: bookworm bookworm-backports\\nComponents: main\\nTrusted: yes\\n' \
         > /etc/apt/sources.list.d/debian-mirror.sources"
    ));
    // Nested LXC on a cgroup v1 host: the controllers mounted before
    // incusd first starts (tests/system/anklume-test-cgroups.sh).
    c.push(
        &repo_root().join("tests/system/anklume-test-cgroups.sh"),
        "/root/cgroups.sh",
    );
    c.sh("sh /root/cgroups.sh");

    // 1. Installed from bookworm-backports, started, initialised; then the
    // admin machine's image is missing from this offline Incus.
    let first = c.run(&format!("{SCRIPT} --prod --no-provision --image {image}"));
    let said = text(&first);
    eprintln!("{said}");
    for line in [
        "==> Incus",
        "not installed: installing it from bookworm-backports",
        "changed: installed incus ",
        "~bpo12",
        "not initialised: preseed with a dir storage pool 'default' (/var/lib/incus on ",
        "changed: Incus initialised (pool default: dir)",
    ] {
        assert!(said.contains(line), "no '{line}' in:\n{said}");
    }
    assert!(
        !first.status.success()
            && said.contains("==> Admin domain 'admin'")
            && said.contains(&format!("Error: Image \"{image}\" not found")),
        "the first run should stop at the admin machine (its image is not in the new Incus):\n{said}"
    );
    // From the mirror's bookworm-backports, its own source kept: no line
    // for deb.debian.org was added.
    let policy = c.sh("apt-cache policy incus");
    let installed = policy
        .lines()
        .find_map(|l| l.trim().strip_prefix("Installed: "))
        .unwrap_or_default()
        .to_owned();
    assert!(installed.contains("~bpo12"), "{policy}");
    // (Priority 100: the suite is NotAutomatic, as Debian's backports.)
    assert!(
        policy.contains(&format!("*** {installed} 100"))
            && policy.contains(&format!(
                "100 file:{MIRROR} bookworm-backports/main amd64 Packages"
            )),
        "{policy}"
    );
    assert!(
        c.sh("dpkg-query -W -f '${db:Status-Abbrev}${Version}' incus")
            .starts_with(&format!("ii {installed}")),
    );
    assert_eq!(
        c.sh("ls /etc/apt/sources.list.d").trim(),
        "debian-mirror.sources"
    );
    // incusd under the container's systemd, with the preseed's pool.
    assert_eq!(c.prop("incus.service", "ActiveState"), "active");
    assert_eq!(c.prop("incus.socket", "ActiveState"), "active");
    assert_eq!(
        c.sh("incus storage list --format csv -c nD").trim(),
        "default,dir"
    );
    let dump = c.sh("incus admin init --dump");
    assert!(dump.contains("pool: default"), "{dump}");
    // Root's subordinate ids cut to the ids the container has (10^9 from
    // a default host Incus: the package's 1000000:1000000000 would not let
    // the admin machine start below).
    let have: u64 = c
        .sh("awk '$1 == 0 {print $3}' /proc/self/uid_map")
        .trim()
        .parse()
        .unwrap();
    let fitted = format!("root:1000000:{}", have - 1_000_000);
    assert!(
        said.contains(&format!(
            "changed: /etc/subuid: {fitted} (inside this container's {have} ids)"
        )),
        "{said}"
    );
    assert_eq!(
        c.sh("cat /etc/subuid /etc/subgid"),
        format!("{fitted}\n{fitted}\n")
    );

    // 2. The image in place: Incus is found installed and initialised and
    // left alone; the admin machine is made.
    c.sh(&format!(
        "incus image import /root/debian.tar.gz --alias {image} && rm /root/debian.tar.gz"
    ));
    let second = c.run(&format!("{SCRIPT} --dev --no-provision --image {image}"));
    let said = text(&second);
    assert!(second.status.success(), "second run failed:\n{said}");
    for line in [
        &format!("installed: {}", c.sh("incus --version").trim()),
        "initialised (storage pools: default): left as it is",
        "changed: machine admin-ctl (lxc, ",
    ] {
        assert!(said.contains(line), "no '{line}' in:\n{said}");
    }
    assert!(!said.contains("installing it"), "{said}");
    let listed = c.eventually(&format!(
        "{ADMIN} true && incus list --project admin --format csv -c ns"
    ));
    assert!(listed.contains("admin-ctl,RUNNING"), "{listed}");

    // 3. Nothing left to do.
    let state = || {
        c.sh(
            "dpkg-query -W -f '${Version}' incus; ls /etc/apt/sources.list.d; incus admin init --dump; \
             incus query '/1.0/instances/admin-ctl?project=admin' | grep created_at",
        )
    };
    let before = state();
    let third = c.run(&format!("{SCRIPT} --dev --no-provision --image {image}"));
    let said = text(&third);
    assert!(third.status.success(), "third run failed:\n{said}");
    assert!(said.contains("==> Done: 0 change(s)"), "{said}");
    assert!(!said.contains("changed:"), "{said}");
    assert_eq!(state(), before, "the third run changed the host");
    eprintln!(
        "bootstrap install system test: {:.1} s (image export, container, package, mirror, three runs)",
        started.elapsed().as_secs_f64()
    );
}

/// A preseed case: mode, file system, its source, tools present, the pool's
/// driver and source, a warning.
type Case = (
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static str,
    Option<&'static str>,
    &'static str,
);

/// bootstrap.sh's `incus_preseed` (the pool of a fresh Incus), run on its
/// own with `findmnt`, `btrfs` and `zfs` stood in for: the file systems the
/// container test cannot have. The preseed must be YAML of the shape
/// `incus admin init --preseed` takes (its dir form is fed to a real Incus
/// by the test above).
#[test]
fn the_preseed_follows_the_file_system_in_prod_only() {
    let script = std::fs::read_to_string(repo_root().join("bootstrap.sh")).unwrap();
    let mut functions = String::new();
    let mut inside = false;
    for line in script.lines() {
        if line.starts_with("say() ") || line.starts_with("warn() ") {
            functions.push_str(line);
            functions.push('\n');
        }
        inside |= line == "incus_preseed() {";
        if inside {
            functions.push_str(line);
            functions.push('\n');
            inside = line != "}";
        }
    }
    assert!(functions.contains("incus_preseed() {"), "{functions}");
    let profiles = r#""profiles": [{"devices": {"root": {"path": "/", "pool": "default", "type": "disk"}}, "name": "default"}]"#;
    let pool = |driver: &str, source: Option<&str>| {
        let config = source.map_or(String::new(), |s| {
            format!(r#""config": {{"source": "{s}"}}, "#)
        });
        format!(
            r#"{{{profiles}, "storage_pools": [{{{config}"driver": "{driver}", "name": "default"}}]}}"#
        )
    };
    let cases: [Case; 7] = [
        (
            "prod",
            "btrfs",
            "/dev/sda2",
            &["btrfs"],
            "btrfs",
            Some("/var/lib/incus/storage-pools/default"),
            "",
        ),
        (
            "prod",
            "btrfs",
            "/dev/sda2",
            &[],
            "dir",
            None,
            "btrfs-progs is not installed",
        ),
        (
            "prod",
            "zfs",
            "rpool/ROOT/debian",
            &["zfs"],
            "zfs",
            Some("rpool/incus"),
            "",
        ),
        (
            "prod",
            "zfs",
            "rpool/ROOT/debian",
            &[],
            "dir",
            None,
            "zfsutils-linux is not installed",
        ),
        (
            "prod",
            "ext4",
            "/dev/vda1",
            &["btrfs", "zfs"],
            "dir",
            None,
            "",
        ),
        ("dev", "btrfs", "/dev/sda2", &["btrfs"], "dir", None, ""),
        ("dev", "zfs", "rpool/ROOT/debian", &["zfs"], "dir", None, ""),
    ];
    for (mode, fs, source, tools, driver, pool_source, warning) in cases {
        let expected = pool(driver, pool_source);
        let bin = Scratch(std::env::temp_dir().join(format!("anklume-t-preseed-{}", unique_tag())));
        std::fs::create_dir_all(&bin.0).unwrap();
        let stub = |name: &str, body: &str| {
            let path = bin.0.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            Command::new("chmod")
                .arg("755")
                .arg(&path)
                .status()
                .unwrap();
        };
        // findmnt -no FSTYPE|SOURCE -T PATH
        stub(
            "findmnt",
            &format!("case \"$2\" in FSTYPE) echo {fs} ;; SOURCE) echo {source} ;; esac"),
        );
        for tool in tools {
            stub(tool, "exit 0");
        }
        std::os::unix::fs::symlink("/usr/bin/cut", bin.0.join("cut")).unwrap();
        let out = Command::new("/bin/bash")
            .arg("-c")
            .arg(format!(
                "{functions}\nincus_preseed {mode} && printf '%s\\n' \"$PRESEED\" >{dir}/preseed.yml",
                dir = bin.0.display()
            ))
            .env("PATH", &bin.0)
            .output()
            .unwrap();
        let said = text(&out);
        assert!(out.status.success(), "{mode} {fs}: {said}");
        assert!(
            said.contains(&format!(
                "preseed with a {driver} storage pool 'default' (/var/lib/incus on {fs}, --{mode})"
            )),
            "{mode} {fs}: {said}"
        );
        if warning.is_empty() {
            assert!(!said.contains("WARNING"), "{mode} {fs}: {said}");
        } else {
            assert!(said.contains(warning), "{mode} {fs}: {said}");
        }
        let json = Command::new("python3")
            .args([
                "-c",
                "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1])), sort_keys=True))",
            ])
            .arg(bin.0.join("preseed.yml"))
            .output()
            .unwrap();
        assert!(json.status.success(), "{}", text(&json));
        assert_eq!(
            String::from_utf8_lossy(&json.stdout).trim(),
            expected,
            "{mode} {fs}"
        );
    }
}
