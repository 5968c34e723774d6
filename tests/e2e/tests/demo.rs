//! `make demo`'s machinery (scripts/demo.sh) on a throwaway infra: it
//! builds or reuses its DHCP busybox image, syncs and applies, isolates
//! the domains with the real `anklume-netd apply`, every instance gets its
//! static IP, the reachability matrix is measured with real pings (same
//! domain reachable, other domains blocked), and `clean` removes exactly
//! what it created (domains, and the isolation table it loaded).
//!
//! When the host already has an isolation table (table inet anklume, not
//! the demo's) the demo leaves it alone, and only same-domain reachability
//! is checked.

use std::collections::HashMap;
use std::process::Command;

use anklume_e2e::{
    Infra, free_base_subnet, gen_bin, host_has_isolation_table, incus_query, netd_bin, repo_root,
    tag, text,
};

/// The matrix printed after "from \ to": (from, to) -> cell.
fn matrix(out: &str) -> HashMap<(String, String), String> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("from \\ to"));
    let header: Vec<String> = lines
        .next()
        .expect("no matrix")
        .split_whitespace()
        .skip(3)
        .map(String::from)
        .collect();
    let mut cells = HashMap::new();
    for line in lines.take_while(|l| !l.trim().is_empty()) {
        let mut words = line.split_whitespace();
        let from = words.next().unwrap().to_string();
        for (to, cell) in header.iter().zip(words) {
            cells.insert((from.clone(), to.clone()), cell.to_string());
        }
    }
    cells
}

#[test]
fn demo_brings_up_measures_and_cleans_exactly() {
    let t = tag();
    let (g, h) = (format!("e2e{t}g"), format!("e2e{t}h"));
    let base = free_base_subnet();
    let yaml = format!(
        "project_name: e2e-demo
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-demo-busybox
  nat: false
domains:
  {g}:
    subnet_id: 6
    ephemeral: true
    machines:
      {g}-1: {{type: lxc, ip: \"{base}.6.10\"}}
      {g}-2: {{type: lxc, ip: \"{base}.6.11\"}}
  {h}:
    subnet_id: 7
    ephemeral: true
    machines:
      {h}-1: {{type: lxc, ip: \"{base}.7.10\"}}
"
    );
    let infra = Infra::new(&yaml, &[&g, &h]);
    let dir = infra.dir.path();
    let netd = netd_bin();
    let foreign_table = host_has_isolation_table();
    let state = dir.join("state");
    let demo = |cmd: &str| {
        Command::new(repo_root().join("scripts/demo.sh"))
            .arg(cmd)
            .env("ANKLUME_DEMO_INFRA", dir.join("infra.yml"))
            .env("ANKLUME_DEMO_DIR", &state)
            .env("ANKLUME_GEN", gen_bin())
            .env("ANKLUME_NETD", &netd)
            .output()
            .unwrap()
    };

    let out = demo("up");
    let up = text(&out);
    assert!(out.status.success(), "demo up failed:\n{up}");
    if foreign_table {
        assert!(up.contains("the demo leaves it alone"), "{up}");
    } else {
        assert!(
            up.contains("Isolation: table inet anklume loaded by"),
            "{up}"
        );
        assert!(up.contains("Mismatches (!): 0"), "{up}");
    }
    for (name, ip) in [
        (format!("{g}-1"), format!("{base}.6.10")),
        (format!("{g}-2"), format!("{base}.6.11")),
        (format!("{h}-1"), format!("{base}.7.10")),
    ] {
        assert!(
            up.lines()
                .any(|l| l.contains(&name) && l.contains("RUNNING") && l.trim_end().ends_with(&ip)),
            "{name} not shown running with {ip}:\n{up}"
        );
    }
    let cells = matrix(&up);
    assert_eq!(cells.len(), 9, "{up}");
    assert_eq!(
        cells[&(format!("{g}-1"), format!("{g}-2"))],
        "reach",
        "{up}"
    );
    assert_eq!(
        cells[&(format!("{g}-2"), format!("{g}-1"))],
        "reach",
        "{up}"
    );
    assert_eq!(cells[&(format!("{h}-1"), format!("{h}-1"))], "-", "{up}");
    if !foreign_table {
        for (from, to) in [
            (format!("{g}-1"), format!("{h}-1")),
            (format!("{h}-1"), format!("{g}-2")),
        ] {
            assert_eq!(
                cells[&(from.clone(), to.clone())],
                "BLOCKED",
                "{from} -> {to}:\n{up}"
            );
        }
    }

    // Again: nothing to do, netd included ("unchanged"), same matrix.
    let out = demo("up");
    let again = text(&out);
    assert!(out.status.success(), "second demo up failed:\n{again}");
    let recap: Vec<&str> = again.lines().filter(|l| l.contains(" : ok=")).collect();
    assert!(
        !recap.is_empty() && recap.iter().all(|l| l.contains("changed=0")),
        "{again}"
    );
    assert_eq!(matrix(&again), cells, "{again}");

    let out = demo("clean");
    assert!(out.status.success(), "demo clean failed:\n{}", text(&out));
    for d in [&g, &h] {
        assert!(
            incus_query(&format!("/1.0/projects/{d}")).is_none(),
            "project {d} left"
        );
        assert!(
            incus_query(&format!("/1.0/networks/net-{d}")).is_none(),
            "bridge net-{d} left"
        );
    }
    assert!(!state.exists(), "state directory left");
    if !foreign_table {
        assert!(
            !host_has_isolation_table(),
            "the demo's isolation table was left"
        );
    }
}
