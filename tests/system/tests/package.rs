//! The Debian package under a real systemd (`make test-system`, part of
//! `make test`): the .deb `make deb` built is installed offline in a
//! container booted from the Debian 12 test image, then each promise of
//! the package is checked there — the four bugs a trial install found
//! included (AccessDenied on the first start, polkit refusing non-root
//! daemons, `systemctl reload` without procps, a degraded system on a
//! fresh install with no infra).

use std::time::Instant;

use anklume_system_tests::{
    BUSYBOX, Container, Created, IMAGE, built_deb, incus, repo_root, unique_tag,
};

/// Every daemon of the package: unit, bus name, object path, its user. A
/// new daemon adds one line.
const DAEMONS: &[(&str, &str, &str)] = &[
    (
        "anklume-netd",
        "org.anklume.Network1",
        "/org/anklume/Network1",
    ),
    (
        "anklume-snapd",
        "org.anklume.Snapshot1",
        "/org/anklume/Snapshot1",
    ),
    // No NVIDIA driver in the container: gpud still starts and says so.
    ("anklume-gpud", "org.anklume.Gpu1", "/org/anklume/Gpu1"),
];

/// The highest exposure `systemd-analyze security` may rate a daemon.
const MAX_EXPOSURE: f64 = 2.0;

const INFRA: &str = "/etc/anklume/infra.yml";

#[test]
fn the_package_installs_serves_and_goes_away_under_systemd() {
    let started = Instant::now();
    let deb = built_deb();
    // The image of this checkout's recipe (polkitd, nftables): imported
    // from the cache when the alias names another recipe's image.
    let image = std::process::Command::new(repo_root().join("scripts/debian-image.sh"))
        .output()
        .unwrap();
    assert!(
        image.status.success(),
        "scripts/debian-image.sh could not provide {IMAGE}: {}",
        anklume_system_tests::text(&image)
    );
    let tag = unique_tag();
    let name = format!("anklume-t-pkg-{tag}");
    let project = format!("tpkg-{tag}");
    // Removed on success and failure: the container, its proxy device,
    // the host test instance and its project.
    let _created = Created {
        container: name.clone(),
        project: Some(project.clone()),
    };
    let machine = format!("{project}-m");
    incus(&[
        "project",
        "create",
        &project,
        "-c",
        "features.images=false",
        "-c",
        "features.profiles=false",
    ]);
    incus(&["init", BUSYBOX, &machine, "--project", &project]);

    let c = Container::launch(&name);
    assert!(
        c.run("test -x /usr/lib/polkit-1/polkitd && command -v nft")
            .status
            .success(),
        "{IMAGE} lacks polkitd or nftables: run scripts/debian-image.sh (its recipe installs them)"
    );
    // 1. Installed offline with apt, as a user would.
    c.push(&deb, "/root/anklume.deb");
    c.sh("cd /root && apt-get install -y -q ./anklume.deb");

    fresh_install_is_healthy(&c);
    units_verify_and_are_confined(&c);
    netd_applies_the_infra_on_reload(&c, &project, &machine);
    snapd_snapshots_a_host_instance(&c, &project, &machine);
    polkit_grants_a_group(&c, &machine);
    upgrade_reinstall_remove_purge(&c);
    eprintln!(
        "system test: {:.1} s (container, install, checks, removal)",
        started.elapsed().as_secs_f64()
    );
}

/// Item 2: Every daemon active without a restart, owning its name as its own
/// user, introspectable; no infra yet: said in the log and LastError; the
/// system `running`.
fn fresh_install_is_healthy(c: &Container) {
    for (unit, bus, path) in DAEMONS {
        c.eventually(&format!("systemctl is-active --quiet {unit}"));
        assert_eq!(c.prop(unit, "NRestarts"), "0", "{unit} restarted");
        let owner = c.sh(&format!(
            "busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
             GetConnectionUnixUser s {bus}"
        ));
        let uid = c.sh(&format!("id -u {unit}"));
        assert_eq!(owner.trim(), format!("u {}", uid.trim()), "{bus} owner");
        let introspect = c.sh(&format!("busctl introspect {bus} {path}"));
        assert!(introspect.contains(&format!("{bus} ")), "{introspect}");
        let last_error = c.sh(&format!("busctl get-property {bus} {path} {bus} LastError"));
        assert!(
            last_error.contains(&format!("no infra yet at {INFRA}")),
            "{unit}: {last_error}"
        );
        let log = c.sh(&format!("journalctl -u {unit} --no-pager -o cat"));
        assert!(
            log.contains(&format!("no infra yet at {INFRA}")),
            "{unit}: {log}"
        );
    }
    let state = c.run("systemctl is-system-running --wait");
    assert_eq!(
        String::from_utf8_lossy(&state.stdout).trim(),
        "running",
        "{}",
        c.sh("systemctl --failed --no-pager")
    );
}

/// Item 6: `systemd-analyze verify` clean for every unit; the exposure of
/// each service (the daemons, and the timer's service) at most
/// MAX_EXPOSURE.
fn units_verify_and_are_confined(c: &Container) {
    let units = c.sh("ls /usr/lib/systemd/system/anklume*");
    for unit in units.split_whitespace() {
        let out = c.run(&format!("systemd-analyze verify {unit} 2>&1"));
        let said = anklume_system_tests::text(&out);
        assert!(
            out.status.success() && said.trim().is_empty(),
            "{unit}: {said}"
        );
    }
    let services: Vec<&str> = units
        .split_whitespace()
        .filter(|u| u.ends_with(".service") && !u.contains('@'))
        .collect();
    for (unit, _, _) in DAEMONS {
        assert!(
            services
                .iter()
                .any(|s| s.ends_with(&format!("/{unit}.service")))
        );
    }
    for unit in services {
        let unit = unit.rsplit('/').next().unwrap();
        let report = c.sh(&format!("systemd-analyze security --no-pager {unit}"));
        let score: f64 = report
            .lines()
            .find_map(|l| l.split("Overall exposure level for ").nth(1))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level: {report}"));
        eprintln!("{unit}: exposure {score}");
        assert!(score <= MAX_EXPOSURE, "{unit}: exposure {score}\n{report}");
    }
}

/// Item 3: The infra written and the daemons reloaded (no procps here: `kill`
/// is not installed): netd's table in the container's own namespace is
/// `anklume-netd preview`'s (same ruleset hash, same elements); LastError
/// clears.
fn netd_applies_the_infra_on_reload(c: &Container, domain: &str, machine: &str) {
    assert!(
        !c.run("test -e /bin/kill || test -e /usr/bin/kill")
            .status
            .success(),
        "the image has a kill binary (procps): the reload would not prove anything"
    );
    c.sh(&format!(
        "cat > {INFRA} <<'EOF'\nproject_name: pkg\nglobal:\n  base_subnet: \"10.231\"\n  nat: false\n\
         domains:\n  {domain}:\n    subnet_id: 1\n    machines:\n      {machine}: {{type: lxc}}\nEOF"
    ));
    for (unit, bus, path) in DAEMONS {
        c.sh(&format!("systemctl reload {unit}"));
        let property = format!("busctl get-property {bus} {path} {bus} LastError");
        let cleared = if *unit == "anklume-gpud" {
            // No driver in the container: the NoDevice reason stays, the
            // infra's part of LastError goes.
            format!(
                "{property} | grep -q 'no NVIDIA driver' && ! {property} | grep -q 'no infra yet'"
            )
        } else {
            format!("{property} | grep -qx 's \"\"'")
        };
        if !c.eventually_ok(&cleared) {
            panic!(
                "{unit}: LastError after reload: {}\n{}",
                c.sh(&format!("busctl get-property {bus} {path} {bus} LastError")),
                c.sh(&format!("journalctl -u {unit} --no-pager -o cat"))
            );
        }
        assert_eq!(c.prop(unit, "NRestarts"), "0", "{unit} restarted on reload");
        assert_eq!(c.prop(unit, "ActiveState"), "active");
    }
    let table = c.eventually("nft list table inet anklume");
    let preview = c.sh(&format!("anklume-netd preview --infra {INFRA}"));
    // The container's nft prints numbers for some protocols and adds
    // flags and counters; the ruleset's hash (its comment) and every set's
    // elements must be the preview's.
    let keys: Vec<&str> = preview
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("comment \"anklume ruleset ") || l.starts_with("elements"))
        .collect();
    assert!(keys.len() >= 3, "{preview}");
    for key in keys {
        assert!(
            table.lines().any(|l| l.trim() == key),
            "{key} not in\n{table}"
        );
    }
}

/// Item 4: snapd reaches the host's Incus through a proxy device (test only)
/// at the default socket path: a real snapshot of a host instance is
/// created, listed and deleted; the timer's service takes a scheduled one.
fn snapd_snapshots_a_host_instance(c: &Container, project: &str, machine: &str) {
    let gid = c.sh("getent group incus-admin | cut -d: -f3");
    c.sh("mkdir -p /var/lib/incus");
    incus(&[
        "config",
        "device",
        "add",
        &c.name,
        "incus-socket",
        "proxy",
        "connect=unix:/var/lib/incus/unix.socket",
        "listen=unix:/var/lib/incus/unix.socket",
        "bind=instance",
        "uid=0",
        &format!("gid={}", gid.trim()),
        "mode=0660",
    ]);
    let host_snapshots = || {
        incus(&[
            "query",
            &format!("/1.0/instances/{machine}/snapshots?project={project}"),
        ])
    };
    let snapd = "busctl --timeout=120 call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1";
    let made = c.sh(&format!("{snapd} Create ss instance:{machine} pkg1"));
    assert_eq!(made.trim(), format!("as 1 \"{project}/{machine}/pkg1\""));
    assert!(
        host_snapshots().contains("/snapshots/pkg1"),
        "{}",
        host_snapshots()
    );
    let listed = c.sh(&format!("{snapd} List s instance:{machine}"));
    assert!(listed.contains("\"pkg1\""), "{listed}");

    c.sh("systemctl start anklume-snapshot.service");
    let after = host_snapshots();
    assert_eq!(
        after.matches("/snapshots/").count(),
        2,
        "a scheduled snapshot: {after}"
    );

    c.sh(&format!("{snapd} Delete ss instance:{machine} pkg1"));
    assert!(
        !host_snapshots().contains("/snapshots/pkg1"),
        "{}",
        host_snapshots()
    );
}

/// Item 5: A rules.d file granting a group: a member may Apply and Create, a
/// non-member gets org.anklume.Error.PermissionDenied (real polkitd).
fn polkit_grants_a_group(c: &Container, machine: &str) {
    c.sh("groupadd anklumeops && useradd -M -G anklumeops alice && useradd -M bob");
    c.sh(
        "cat > /etc/polkit-1/rules.d/50-anklume.rules <<'EOF'\n\
         polkit.addRule(function(action, subject) {\n\
         \x20   if (action.id.indexOf(\"org.anklume.\") == 0 && subject.isInGroup(\"anklumeops\"))\n\
         \x20       return polkit.Result.YES;\n\
         });\nEOF",
    );
    let as_user = |user: &str, call: &str| {
        c.run(&format!(
            "setpriv --reuid={user} --regid={user} --init-groups dbus-send --system --print-reply \
             --reply-timeout=120000 {call}"
        ))
    };
    let apply = "--dest=org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1.Apply";
    let create = format!(
        "--dest=org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1.Create \
         string:instance:{machine} string:by-alice"
    );
    // polkitd notices the new rule file by itself; give it a moment.
    c.eventually(&format!(
        "setpriv --reuid=alice --regid=alice --init-groups dbus-send --system --print-reply {apply}"
    ));
    let out = as_user("alice", &create);
    assert!(out.status.success(), "{}", anklume_system_tests::text(&out));
    for call in [apply, create.as_str()] {
        let out = as_user("bob", call);
        let said = anklume_system_tests::text(&out);
        assert!(
            !out.status.success() && said.contains("org.anklume.Error.PermissionDenied"),
            "bob: {said}"
        );
    }
}

fn main_pids(c: &Container) -> Vec<String> {
    DAEMONS
        .iter()
        .map(|(unit, _, _)| c.prop(unit, "MainPID"))
        .collect()
}

/// Item 7: Reinstall and upgrade restart the daemons; remove stops them; purge
/// leaves nothing of anklume behind but its system users.
fn upgrade_reinstall_remove_purge(c: &Container) {
    let before = main_pids(c);
    c.sh("cd /root && apt-get install -y -q --reinstall ./anklume.deb");
    let reinstalled = main_pids(c);
    for (i, (unit, _, _)) in DAEMONS.iter().enumerate() {
        assert_ne!(
            before[i], reinstalled[i],
            "{unit} not restarted by a reinstall"
        );
        assert_eq!(c.prop(unit, "ActiveState"), "active");
    }
    c.sh(
        "cd /root && rm -rf up && dpkg-deb -R anklume.deb up && \
         sed -i 's/^Version: .*/&+up1/' up/DEBIAN/control && dpkg-deb -b up up.deb >/dev/null && \
         apt-get install -y -q ./up.deb && dpkg-query -W -f '${Version}' anklume | grep -q '+up1$'",
    );
    let upgraded = main_pids(c);
    for (i, (unit, _, _)) in DAEMONS.iter().enumerate() {
        assert_ne!(
            reinstalled[i], upgraded[i],
            "{unit} not restarted by an upgrade"
        );
        assert_eq!(c.prop(unit, "ActiveState"), "active");
    }
    // A running instance of a template unit (as anklume-proxy@.socket's
    // will be) is stopped by remove too.
    c.sh("printf '[Service]\\nExecStart=/bin/sleep infinity\\n' \
         > /etc/systemd/system/anklume-t@.service && systemctl daemon-reload && \
         systemctl start anklume-t@one.service");
    c.sh("apt-get remove -y -q anklume");
    assert_eq!(c.prop("anklume-t@one.service", "ActiveState"), "inactive");
    for (unit, bus, _) in DAEMONS {
        assert_eq!(
            c.prop(unit, "ActiveState"),
            "inactive",
            "{unit} after remove"
        );
        assert!(
            !c.run(&format!("busctl status {bus} >/dev/null 2>&1"))
                .status
                .success()
        );
    }
    assert!(
        c.run("test -e /etc/anklume/anklume.conf.yml")
            .status
            .success(),
        "remove keeps conffiles"
    );
    // The infra is the admin's file, not the package's: removed by hand.
    c.sh(&format!("rm -f {INFRA} && apt-get purge -y -q anklume"));
    let left = c.sh(
        "ls -d /etc/anklume /var/lib/anklume-snapd /usr/lib/systemd/system/anklume* \
         /usr/share/dbus-1/system.d/org.anklume.* /usr/share/polkit-1/actions/org.anklume.* \
         /usr/bin/anklume-* /usr/share/anklume /usr/share/doc/anklume \
         /etc/systemd/system/*/anklume* 2>/dev/null || true",
    );
    assert_eq!(left.trim(), "", "left after purge");
    for (unit, _, _) in DAEMONS {
        c.sh(&format!("id {unit}"));
    }
    c.sh("rm /etc/systemd/system/anklume-t@.service && systemctl daemon-reload");
    assert_eq!(c.sh("systemctl is-system-running").trim(), "running");
}
