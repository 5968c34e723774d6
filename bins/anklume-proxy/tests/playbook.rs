//! The e2e infra applied from scratch with `ansible-playbook site.yml`
//! (infra and provisioning plays) using only the proxy's socket, then
//! again: `changed=0`, and the proxy refused nothing. Needs root, Incus and
//! the venv (scripts/install-test-deps.sh).

mod common;

use common::{Infra, Proxy, busybox_infra, free_base_subnet, tag};

#[test]
fn site_yml_applies_the_infra_through_the_proxy_alone() {
    let name = format!("pa{}", tag());
    let other = format!("{name}b");
    let base = free_base_subnet();
    let yaml = busybox_infra(&base, &[(&name, 1, Some("")), (&other, 2, None)], "");
    let infra = Infra::new(&yaml, &[&name, &other]);
    infra.sync();
    let proxy = Proxy::start(&infra.dir.path().join("infra.yml"));
    let socket = proxy.socket.to_str().unwrap().to_string();
    let env = [("INCUS_SOCKET", socket.as_str())];
    let tags = ["--tags", "infra,provision"];
    let first = infra.playbook_in(None, &env, &tags);
    assert!(
        first.ok,
        "first run:\n{}\nproxy:\n{}",
        first.text,
        proxy.log_text()
    );
    assert!(first.changed() > 0);
    let state = common::direct_query(&format!("/1.0/instances/{name}-m/state?project={name}"));
    assert!(state.contains("Running"), "{state}");
    let second = infra.playbook_in(None, &env, &tags);
    assert!(second.ok, "second run:\n{}", second.text);
    assert_eq!(second.changed(), 0, "second run:\n{}", second.text);
    let log = proxy.log_text();
    assert!(
        !log.contains(r#""verdict":"deny""#),
        "the proxy refused a request of the roles:\n{log}"
    );
    assert!(log.contains(r#""rule":"declared""#), "{log}");
}
