//! Changing base_subnet or subnet_id under a domain that has instances is
//! refused before anything changes (it used to move the bridge, then fail
//! on every instance with a static IP, leaving them broken), with the way
//! to migrate. Real Incus.

use anklume_e2e::{Infra, busybox_infra, free_base_subnet, incus_query, tag};

fn infra(base: &str, d: &str, subnet: u8) -> String {
    busybox_infra(base, &[(d, subnet, Some(""))], "")
}

#[test]
fn re_addressing_a_domain_with_instances_is_refused_before_any_change() {
    let d = format!("e2e{}x", tag());
    let base = free_base_subnet();
    let infra_dir = Infra::new(&infra(&base, &d, 1), &[&d]);
    infra_dir.sync();
    infra_dir.apply(&["--tags", "infra"]);

    infra_dir.write(&infra(&base, &d, 3));
    infra_dir.sync();
    let run = infra_dir.playbook(&["--tags", "infra"]);
    assert!(!run.ok, "re-addressing went ahead:\n{}", run.text);
    assert!(
        run.text.contains(&format!(
            "domain {d}: bridge net-{d} is {base}.1.254/24, the infra wants {base}.3.254/24, and it has instance(s) {d}-m"
        )),
        "{}",
        run.text
    );
    assert!(run.text.contains("make destroy D=<domain>"), "{}", run.text);
    let bridge = incus_query(&format!("/1.0/networks/net-{d}")).unwrap();
    assert_eq!(bridge["config"]["ipv4.address"], format!("{base}.1.254/24"));
    let machine = incus_query(&format!("/1.0/instances/{d}-m?project={d}")).unwrap();
    assert_eq!(machine["status"], "Running");
}
