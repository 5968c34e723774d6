//! Outbound NAT is part of the infra (`global.nat`, a domain's `nat:`),
//! so it holds on every run: the infra's value wins over the roles'
//! default even when a run passes `-e incus_networks_ipv4_nat=true`.
//! (Test bridges never get NAT: every value tried here is false.)

use anklume_e2e::{Infra, free_base_subnet, incus_query, tag};

#[test]
fn the_infra_says_whether_bridges_nat_on_every_run() {
    let t = tag();
    let (a, b) = (format!("e2e{t}n"), format!("e2e{t}o"));
    let base = free_base_subnet();
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-busybox
  nat: false
domains:
  {a}:
    subnet_id: 1
    ephemeral: true
  {b}:
    subnet_id: 2
    ephemeral: true
    nat: no
"
    );
    let infra = Infra::new(&yaml, &[&a, &b]);
    infra.sync();
    let group_vars =
        std::fs::read_to_string(infra.tree().join(format!("group_vars/{b}.yml"))).unwrap();
    assert!(group_vars.contains("domain_nat: false"), "{group_vars}");
    // A run that asks for NAT on the command line: the infra wins.
    let run = infra.apply(&["--tags", "infra", "-e", "incus_networks_ipv4_nat=true"]);
    for d in [&a, &b] {
        let network = incus_query(&format!("/1.0/networks/net-{d}")).expect("bridge");
        assert_eq!(
            network["config"]["ipv4.nat"], "false",
            "net-{d}: {network}\n{}",
            run.text
        );
    }
}
