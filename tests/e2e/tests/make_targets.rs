//! The Makefile's operator targets, run as a user runs them: `make status`
//! shows domains, instances, addresses and the isolation state; `make
//! destroy` lists what it would delete and deletes nothing unless
//! confirmed, then exactly the domain named; the daemon targets say that
//! the daemon is not running and how to start it. Real Incus.

use std::process::{Command, Output, Stdio};

use anklume_e2e::{
    Infra, busybox_infra, free_base_subnet, incus_query, netd_bin, repo_root, tag, text,
};

fn make(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo_root())
        .args(args)
        .envs(env.iter().copied())
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            "unix:path=/nonexistent/anklume-e2e-bus",
        )
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn status_then_destroy_lists_asks_and_deletes_one_domain() {
    let t = tag();
    let (a, b) = (format!("e2e{t}s"), format!("e2e{t}u"));
    let base = free_base_subnet();
    let yaml = busybox_infra(&base, &[(&a, 1, Some("")), (&b, 2, Some(""))], "");
    let infra = Infra::new(&yaml, &[&a, &b]);
    infra.sync();
    infra.apply(&["--tags", "infra"]);
    let tree = infra.tree().display().to_string();
    let infra_file = infra.dir.path().join("infra.yml").display().to_string();
    let netd = netd_bin().display().to_string();
    let vars = [
        format!("BASE_DIR={tree}"),
        format!("INFRA={infra_file}"),
        format!("ANKLUME_NETD={netd}"),
    ];
    let vars: Vec<&str> = vars.iter().map(String::as_str).collect();

    let mut status = vec!["status"];
    status.extend(&vars);
    let out = make(&status, &[]);
    let shown = text(&out);
    assert!(out.status.success(), "{shown}");
    for expected in [
        format!("{a}-m"),
        format!("{b}-m"),
        format!("{base}.1.10"),
        "RUNNING".into(),
        format!("net-{a}"),
        "ISOLATION:".into(),
    ] {
        assert!(shown.contains(&expected), "{expected} missing:\n{shown}");
    }

    // Not confirmed (no terminal, no YES=1): listed, nothing deleted.
    let d_arg = format!("D={a}");
    let mut destroy = vec!["destroy", d_arg.as_str()];
    destroy.extend(&vars);
    let out = make(&destroy, &[]);
    let shown = text(&out);
    assert!(!out.status.success(), "{shown}");
    assert!(
        shown.contains(&format!("instance {a}-m (RUNNING)")),
        "{shown}"
    );
    assert!(shown.contains(&format!("bridge net-{a}")), "{shown}");
    assert!(shown.contains("Not confirmed: nothing deleted"), "{shown}");
    assert!(incus_query(&format!("/1.0/projects/{a}")).is_some());

    let mut confirmed = destroy.clone();
    confirmed.push("YES=1");
    let out = make(&confirmed, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(incus_query(&format!("/1.0/projects/{a}")).is_none());
    assert!(incus_query(&format!("/1.0/networks/net-{a}")).is_none());
    assert!(
        incus_query(&format!("/1.0/instances/{b}-m?project={b}")).is_some(),
        "the other domain was touched"
    );
}

#[test]
fn daemon_targets_say_the_daemon_is_not_running_and_how_to_start_it() {
    for (target, unit) in [
        ("snapshot-list", "anklume-snapd"),
        ("snapshot", "anklume-snapd"),
        ("netd-status", "anklume-netd"),
        ("netd-apply", "anklume-netd"),
        ("gpu-list", "anklume-gpud"),
        ("gpu-claims", "anklume-gpud"),
    ] {
        let out = make(&[target], &[]);
        let shown = text(&out);
        assert!(!out.status.success(), "{target}: {shown}");
        assert!(
            shown.contains(&format!("systemctl start {unit}"))
                && shown.contains("Running the daemon by hand"),
            "{target}: {shown}"
        );
        assert!(!shown.contains("Traceback"), "{target}: {shown}");
        assert!(
            !shown.contains("Failed to connect to bus"),
            "{target}: {shown}"
        );
    }
}
