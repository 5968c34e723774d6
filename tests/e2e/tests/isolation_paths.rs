//! The paths a user takes never leave domains unisolated (issue: no silent
//! isolation gaps): `--limit` still isolates the whole infra, stale
//! domains of a previous infra are reported and never applied, a missing
//! anklume-netd fails the run, and a running daemon is used (and checked)
//! instead of the one-shot command. Real packets between namespaces, real
//! Incus, a real anklume-netd on a private bus.

#[path = "support/netd.rs"]
mod netd;
#[path = "../../harness/test_bus.rs"]
#[allow(dead_code)]
mod test_bus;

use std::process::Command;

use anklume_e2e::netns::Domains;
use anklume_e2e::{Infra, busybox_infra, free_base_subnet, incus_query, netd_bin, tag};
use netd::Netd;
use test_bus::TestBus;

fn two_domains(base: &str, a: &str, b: &str, policy: bool) -> String {
    let policies = if policy {
        format!("network_policies:\n  - {{from: {a}, to: {b}, ports: all}}\n")
    } else {
        String::new()
    };
    busybox_infra(base, &[(a, 1, Some("")), (b, 2, Some(""))], &policies)
}

fn netd_vars(infra: &Infra) -> [String; 4] {
    [
        "-e".into(),
        format!("anklume_netd={}", netd_bin().display()),
        "-e".into(),
        format!(
            "anklume_infra={}",
            infra.dir.path().join("infra.yml").display()
        ),
    ]
}

fn args<'a>(extra: &'a [String], more: &[&'a str]) -> Vec<&'a str> {
    let mut all: Vec<&str> = more.to_vec();
    all.extend(extra.iter().map(String::as_str));
    all
}

#[test]
fn apply_limit_still_isolates_the_whole_infra() {
    let t = tag();
    let (a, b) = (format!("e2e{t}a"), format!("e2e{t}b"));
    let base = "10.198";
    let infra = Infra::new(&two_domains(base, &a, &b, false), &[]);
    infra.sync();
    let net = Domains::new(&t, base, &[(&a, 1), (&b, 2)]);
    assert!(net.ping(0, &format!("{base}.2.10")), "test network broken");

    // What `make apply-limit G=<a>` runs, firewall play only (nothing is
    // built in Incus), inside the namespaces' host.
    let vars = netd_vars(&infra);
    let run = infra.playbook_in(
        Some(&net.host),
        &[],
        &args(&vars, &["--tags", "firewall", "--limit", &a]),
    );
    assert!(run.ok, "{}", run.text);
    assert!(net.table().is_some(), "no table applied:\n{}", run.text);
    assert!(
        !net.ping(0, &format!("{base}.2.10")),
        "{a} reaches {b} after apply-limit"
    );
    assert!(!net.ping(1, &format!("{base}.1.10")), "{b} reaches {a}");

    // The Makefile's form (--limit 'G,localhost') gives the same.
    let run = infra.playbook_in(
        Some(&net.host),
        &[],
        &args(
            &vars,
            &["--tags", "firewall", "--limit", &format!("{b},localhost")],
        ),
    );
    assert!(run.ok, "{}", run.text);
    assert_eq!(run.changed(), 0, "{}", run.text);
}

#[test]
fn without_anklume_netd_the_run_fails_unless_isolation_is_off() {
    let t = tag();
    let (a, b) = (format!("e2e{t}c"), format!("e2e{t}d"));
    let infra = Infra::new(&two_domains("10.197", &a, &b, false), &[]);
    infra.sync();
    let infra_file = format!(
        "anklume_infra={}",
        infra.dir.path().join("infra.yml").display()
    );
    let missing = [
        "--tags",
        "firewall",
        "-e",
        "anklume_netd=/nonexistent/anklume-netd",
        "-e",
        &infra_file,
    ];
    let run = infra.playbook(&missing);
    assert!(!run.ok, "isolation skipped silently:\n{}", run.text);
    assert!(
        run.text.contains("Domains would be left UNISOLATED"),
        "{}",
        run.text
    );

    let mut off = missing.to_vec();
    off.extend(["-e", "anklume_isolation=off"]);
    let run = infra.playbook(&off);
    assert!(run.ok, "{}", run.text);
    assert!(
        run.text.contains("the domains are NOT isolated"),
        "{}",
        run.text
    );
}

#[test]
fn stale_domains_are_reported_and_never_applied() {
    let t = tag();
    let (a, b) = (format!("e2e{t}e"), format!("e2e{t}f"));
    let base = free_base_subnet();
    // b is not ephemeral: its files are protected orphans once it leaves
    // the infra (sync keeps them).
    let both = two_domains(&base, &a, &b, false).replace(
        &format!("  {b}:\n    subnet_id: 2\n    ephemeral: true"),
        &format!("  {b}:\n    subnet_id: 2\n    ephemeral: false"),
    );
    let infra = Infra::new(&both, &[&a, &b]);
    infra.sync();
    infra.apply(&["--tags", "infra"]);
    let stale_machine = format!("/1.0/instances/{b}-m?project={b}");
    assert!(incus_query(&stale_machine).is_some());

    // Switch to an infra without b: its files stay in the tree (protected
    // orphans), its instance is deleted by hand.
    let only_a = &both[..both.find(&format!("  {b}:\n")).unwrap()];
    infra.write(only_a);
    infra.sync();
    assert!(infra.tree().join(format!("inventory/{b}.yml")).exists());
    for args in [
        vec![
            "config",
            "unset",
            "--project",
            &b,
            &format!("{b}-m"),
            "security.protection.delete",
        ],
        vec!["delete", "--force", "--project", &b, &format!("{b}-m")],
    ] {
        let out = Command::new("incus").args(&args).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let run = infra.apply(&["--tags", "infra"]);
    assert!(
        run.text.contains(&format!("STALE domain(s) {b}")),
        "{}",
        run.text
    );
    assert!(
        run.text.contains(&format!("make destroy D={b}")),
        "{}",
        run.text
    );
    assert!(
        incus_query(&stale_machine).is_none(),
        "the stale domain's instance was re-created:\n{}",
        run.text
    );
    assert!(incus_query(&format!("/1.0/instances/{a}-m?project={a}")).is_some());
    assert_eq!(run.changed(), 0, "{}", run.text);
}

#[test]
fn check_from_nothing_reports_what_apply_would_create() {
    let t = tag();
    let a = format!("e2e{t}g");
    let base = free_base_subnet();
    let yaml = busybox_infra(&base, &[(&a, 1, Some(", roles: [base_system]"))], "");
    let infra = Infra::new(&yaml, &[&a]);
    infra.sync();
    let vars = netd_vars(&infra);
    let run = infra.playbook(&args(&vars, &["--check", "--diff"]));
    assert!(run.ok, "check mode failed from nothing:\n{}", run.text);
    assert!(
        run.text
            .contains(&format!("{a}-m does not exist yet: apply creates it")),
        "{}",
        run.text
    );
    // The isolation diff is shown, and nothing was built.
    assert!(run.text.contains("would apply ruleset"), "{}", run.text);
    assert!(incus_query(&format!("/1.0/projects/{a}")).is_none());
}

fn busctl(bus: &TestBus, args: &[&str]) -> std::process::Output {
    test_bus::busctl(bus, None, args)
}

fn ruleset_hash(bus: &TestBus) -> String {
    let out = busctl(
        bus,
        &[
            "get-property",
            "org.anklume.Network1",
            "/org/anklume/Network1",
            "org.anklume.Network1",
            "RulesetHash",
        ],
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_firewall_play_uses_a_running_daemon_and_shows_its_drift() {
    let t = tag();
    let (a, b) = (format!("e2e{t}h"), format!("e2e{t}i"));
    let base = "10.196";
    let infra = Infra::new(&two_domains(base, &a, &b, false), &[]);
    infra.sync();
    let net = Domains::new(&t, base, &[(&a, 1), (&b, 2)]);
    let bus = TestBus::start();
    let infra_file = infra.dir.path().join("infra.yml");
    let _daemon = Netd::start(
        &bus,
        &net.host,
        &infra_file,
        &infra.dir.path().join("netd.log"),
    );
    let env = [("DBUS_SYSTEM_BUS_ADDRESS", bus.address.as_str())];
    let vars = netd_vars(&infra);
    let firewall = args(&vars, &["--tags", "firewall"]);
    let first = ruleset_hash(&bus);
    assert!(
        !net.ping(0, &format!("{base}.2.10")),
        "daemon applied at start"
    );

    // The daemon already applied this infra: Apply changes nothing. (The
    // one-shot command would refuse: the daemon owns the table.)
    let run = infra.playbook_in(Some(&net.host), &env, &firewall);
    assert!(run.ok, "{}", run.text);
    assert!(run.text.contains("(anklume-netd daemon)"), "{}", run.text);
    assert_eq!(run.changed(), 0, "{}", run.text);

    // The infra opens a → b: check mode reports the drift, changes nothing.
    infra.write(&two_domains(base, &a, &b, true));
    let mut check = firewall.clone();
    check.push("--check");
    let run = infra.playbook_in(Some(&net.host), &env, &check);
    assert!(run.ok, "{}", run.text);
    assert!(
        run.text.contains("anklume-netd would change the isolation"),
        "{}",
        run.text
    );
    assert_eq!(run.changed(), 1, "{}", run.text);
    assert_eq!(ruleset_hash(&bus), first);
    assert!(!net.ping(0, &format!("{base}.2.10")));

    // A real run applies it through the daemon.
    let run = infra.playbook_in(Some(&net.host), &env, &firewall);
    assert!(run.ok, "{}", run.text);
    assert_eq!(run.changed(), 1, "{}", run.text);
    assert_ne!(ruleset_hash(&bus), first);
    assert!(
        net.ping(0, &format!("{base}.2.10")),
        "the policy was not applied"
    );

    // Applying another infra than the daemon's fails, and says how to fix.
    let other = infra.dir.path().join("other.yml");
    std::fs::write(&other, two_domains(base, &a, &b, false)).unwrap();
    let mut other_args = firewall.clone();
    let other_var = format!("anklume_infra={}", other.display());
    other_args.extend(["-e", &other_var]);
    let run = infra.playbook_in(Some(&net.host), &env, &other_args);
    assert!(!run.ok, "{}", run.text);
    assert!(
        run.text.contains("Install this infra as the"),
        "{}",
        run.text
    );
}
