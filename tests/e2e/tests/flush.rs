//! `make flush` on the real Incus of a host that also holds a foreign
//! project, a foreign bridge and an instance in the default project: it
//! refuses on a production host, lists and asks, keeps the protected
//! machine (and what it uses) without FORCE=1, deletes only the infra's
//! domains, and deletes the isolation table only when it is anklume's.
//! The table part runs in throwaway network namespaces, never on the
//! host's shared table; a real anklume-netd on a private bus owns one of
//! them, and flush has the daemon withdraw it (D-Bus Withdraw): the table
//! goes and the daemon does not put it back; a refused Withdraw keeps it.

#[path = "support/netd.rs"]
mod netd;
#[path = "../../harness/test_bus.rs"]
#[allow(dead_code)]
mod test_bus;

use std::path::Path;
use std::process::{Command, Output, Stdio};

use anklume_e2e::{Infra, busybox_infra, free_base_subnet, incus_query, repo_root, tag, text};
use netd::{Netd, table};
use test_bus::TestBus;

/// No system bus: anklume-netd is not running.
const NO_BUS: &str = "unix:path=/nonexistent/anklume-e2e-bus";

/// What the test creates outside anklume, removed by name on drop.
struct Foreign {
    project: String,
    bridge: String,
    instance: String,
    netns: String,
    netd_netns: String,
}

impl Drop for Foreign {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new(args[0])
                .args(&args[1..])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        quiet(&[
            "incus",
            "delete",
            "--force",
            "--project",
            "default",
            &self.instance,
        ]);
        quiet(&["incus", "project", "delete", &self.project]);
        quiet(&["incus", "network", "delete", &self.bridge]);
        quiet(&["ip", "netns", "delete", &self.netns]);
        quiet(&["ip", "netns", "delete", &self.netd_netns]);
    }
}

fn ok(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", text(&out));
}

/// `make flush ARGS` inside `netns`, with the nesting context `context`.
fn flush(netns: &str, context: &Path, args: &[&str]) -> (bool, String) {
    flush_on(NO_BUS, netns, context, args)
}

fn flush_on(bus: &str, netns: &str, context: &Path, args: &[&str]) -> (bool, String) {
    let out: Output = Command::new("ip")
        .args(["netns", "exec", netns, "make", "-s", "-C"])
        .arg(repo_root())
        .arg("flush")
        .args(args)
        .env("ANKLUME_CONTEXT_DIR", context)
        .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (out.status.success(), text(&out))
}

/// `make flush ARGS` on a terminal (`script`), answering `answer`.
fn flush_typed(netns: &str, context: &Path, args: &[&str], answer: &str) -> (bool, String) {
    use std::io::Write as _;
    let make = format!(
        "make -s -C '{}' flush {}",
        repo_root().display(),
        args.iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = Command::new("ip")
        .args(["netns", "exec", netns, "script", "-qec", &make, "/dev/null"])
        .env("ANKLUME_CONTEXT_DIR", context)
        .env("DBUS_SYSTEM_BUS_ADDRESS", NO_BUS)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{answer}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), text(&out))
}

fn add_table(netns: &str, comment: &str) {
    ok(&[
        "ip",
        "netns",
        "exec",
        netns,
        "nft",
        &format!("add table inet anklume {{ comment \"{comment}\" ; }}"),
    ]);
}

fn exists(path: &str) -> bool {
    incus_query(path).is_some()
}

#[test]
fn flush_removes_only_anklume_resources_and_keeps_protected_machines() {
    let t = tag();
    let (a, b) = (format!("e2e{t}f"), format!("e2e{t}g"));
    let base = free_base_subnet();
    let keep = format!("{a}-keep");
    let tail = format!("      {keep}: {{type: lxc, ephemeral: false}}\n");
    let mut yaml = busybox_infra(&base, &[(&a, 1, Some("")), (&b, 2, Some(""))], "");
    // The protected machine joins domain a.
    let a_machine = format!("      {a}-m: {{type: lxc, ip: \"{base}.1.10\"}}\n");
    yaml = yaml.replace(&a_machine, &format!("{a_machine}{tail}"));
    let infra = Infra::new(&yaml, &[&a, &b]);
    infra.sync();
    infra.apply(&["--tags", "infra"]);

    let foreign = Foreign {
        project: format!("e2e{t}fp"),
        bridge: format!("e2e{t}fb"),
        instance: format!("e2e{t}dflt"),
        netns: format!("anke2e{t}fl"),
        netd_netns: format!("anke2e{t}fn"),
    };
    ok(&["incus", "project", "create", &foreign.project]);
    ok(&[
        "incus",
        "network",
        "create",
        &foreign.bridge,
        "ipv4.address=none",
        "ipv6.address=none",
    ]);
    ok(&[
        "incus",
        "init",
        "anklume-test-busybox",
        &foreign.instance,
        "--project",
        "default",
        "--no-profiles",
        "--storage",
        "default",
    ]);
    ok(&["ip", "netns", "add", &foreign.netns]);
    add_table(&foreign.netns, "anklume ruleset 0123abcd");
    let still_foreign = || {
        assert!(exists(&format!("/1.0/projects/{}", foreign.project)));
        assert!(exists(&format!("/1.0/networks/{}", foreign.bridge)));
        assert!(exists(&format!(
            "/1.0/instances/{}?project=default",
            foreign.instance
        )));
    };

    let tree = format!("BASE_DIR={}", infra.tree().display());
    let context = infra.dir.path().join("flush-context");
    std::fs::create_dir(&context).unwrap();

    // A production host (level 0) is refused without FORCE=1.
    std::fs::write(context.join("absolute_level"), "0\n").unwrap();
    let (done, out) = flush(&foreign.netns, &context, &[&tree, "YES=1"]);
    assert!(!done, "{out}");
    assert!(
        out.contains("production host (absolute nesting level 0)"),
        "{out}"
    );
    assert!(
        exists(&format!("/1.0/instances/{a}-m?project={a}")),
        "{out}"
    );

    // Level 1: listed, not confirmed (no terminal, no YES=1), nothing gone.
    std::fs::write(context.join("absolute_level"), "1\n").unwrap();
    let (done, out) = flush(&foreign.netns, &context, &[&tree]);
    assert!(!done, "{out}");
    for expected in [
        "make flush would delete:".to_string(),
        format!("instance {a}-m (RUNNING)"),
        format!("instance {keep} (RUNNING)"),
        "KEPT: protected (ephemeral: false); --force deletes it".into(),
        format!("bridge net-{b}"),
        "table inet anklume: kept, since protected machines stay".into(),
        "Not confirmed: nothing deleted".into(),
    ] {
        assert!(out.contains(&expected), "{expected} missing:\n{out}");
    }
    assert!(
        !out.contains(&foreign.project) && !out.contains(&foreign.instance),
        "{out}"
    );
    assert!(exists(&format!("/1.0/projects/{b}")));

    // anklume-netd runs on the bus and owns its table (in a namespace of
    // its own): while protected machines stay, so does its table.
    ok(&["ip", "netns", "add", &foreign.netd_netns]);
    let bus = TestBus::start();
    let log = infra.dir.path().join("netd.log");
    let _netd = Netd::start(
        &bus,
        &foreign.netd_netns,
        &infra.dir.path().join("infra.yml"),
        &log,
    );
    let (done, out) = flush_on(&bus.address, &foreign.netd_netns, &context, &[&tree]);
    assert!(!done, "{out}");
    assert!(
        out.contains("table inet anklume: kept, since protected machines stay"),
        "{out}"
    );
    assert!(table(&foreign.netd_netns).is_some(), "{out}");
    // A caller the daemon refuses (not root, no polkit): the table stays
    // and the script says why.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(repo_root().join("scripts/nft-table.sh"))
        .arg("withdraw")
        .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
        .output()
        .unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("anklume-netd did not withdraw table inet anklume, which stays in force")
            && said.contains("org.anklume.network.withdraw"),
        "{said}"
    );
    assert!(table(&foreign.netd_netns).is_some(), "{said}");

    // On a terminal: anything but a typed "yes" deletes nothing.
    let (done, out) = flush_typed(&foreign.netns, &context, &[&tree], "y");
    assert!(!done, "{out}");
    assert!(
        out.contains("Type 'yes'") && out.contains("Nothing deleted."),
        "{out}"
    );
    assert!(exists(&format!("/1.0/projects/{b}")), "{out}");

    // Typed "yes": all of b and a's ephemeral machine go; the protected
    // machine stays with its project, bridge and the table.
    let (done, out) = flush_typed(&foreign.netns, &context, &[&tree], "yes");
    assert!(done, "{out}");
    assert!(!exists(&format!("/1.0/projects/{b}")), "{out}");
    assert!(!exists(&format!("/1.0/networks/net-{b}")), "{out}");
    assert!(
        !exists(&format!("/1.0/instances/{a}-m?project={a}")),
        "{out}"
    );
    assert!(
        exists(&format!("/1.0/instances/{keep}?project={a}")),
        "{out}"
    );
    assert!(exists(&format!("/1.0/networks/net-{a}")), "{out}");
    assert!(table(&foreign.netns).is_some(), "{out}");
    still_foreign();

    // FORCE=1 where anklume-netd runs: the protected machine and its
    // domain go, and the daemon withdraws its table (and keeps it away).
    let (done, out) = flush_on(
        &bus.address,
        &foreign.netd_netns,
        &context,
        &[&tree, "YES=1", "FORCE=1"],
    );
    assert!(done, "{out}");
    for expected in [
        "the isolation table inet anklume, withdrawn through anklume-netd",
        "Table inet anklume withdrawn by anklume-netd.",
        "keeps no table until its next Apply (make netd-apply)",
    ] {
        assert!(out.contains(expected), "{expected} missing:\n{out}");
    }
    assert!(!exists(&format!("/1.0/projects/{a}")), "{out}");
    assert!(!exists(&format!("/1.0/networks/net-{a}")), "{out}");
    assert!(table(&foreign.netd_netns).is_none(), "{out}");
    let withdrawn = test_bus::busctl(
        &bus,
        None,
        &[
            "get-property",
            "org.anklume.Network1",
            "/org/anklume/Network1",
            "org.anklume.Network1",
            "Withdrawn",
        ],
    );
    assert_eq!(text(&withdrawn), "b true\n");
    assert!(
        table(&foreign.netns).is_some(),
        "another namespace's table went"
    );
    still_foreign();

    // Without anklume-netd, flush deletes an anklume table itself (the
    // domains are gone already: only the table is listed).
    let (done, out) = flush(&foreign.netns, &context, &[&tree, "YES=1", "FORCE=1"]);
    assert!(done, "{out}");
    assert!(
        out.contains("the isolation table inet anklume (its comment names an anklume ruleset)"),
        "{out}"
    );
    assert!(table(&foreign.netns).is_none(), "{out}");
    assert!(
        table(&foreign.netd_netns).is_none(),
        "anklume-netd put its table back:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    // A table of that name that anklume did not make is never deleted.
    add_table(&foreign.netns, "someone else's");
    let (done, out) = flush(&foreign.netns, &context, &[&tree, "YES=1", "FORCE=1"]);
    assert!(done, "{out}");
    assert!(
        out.contains("kept: it has no 'anklume ruleset' comment"),
        "{out}"
    );
    assert!(table(&foreign.netns).is_some(), "{out}");
    // The user's files are all there.
    assert!(infra.dir.path().join("infra.yml").exists());
    assert!(infra.tree().join("group_vars/all.yml").exists());
    still_foreign();
}
