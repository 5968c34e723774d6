//! Fail closed towards everything that is not a declared domain: with the
//! ruleset in force, domain bridges reach each other only through
//! policies, and the outside only through the host's uplinks (its
//! default-route interfaces, followed live by the daemon, or
//! `global.uplinks`). A foreign bridge and a leftover `net-*` bridge are
//! cut off from the domains both ways. Real packets between throwaway
//! namespaces; needs root.

mod common;

use std::time::Duration;

use common::outside::{FOREIGN, LEFTOVER, WAN};
use common::{Daemon, Files, INFRA, Net, TestBus, cli_apply, eventually, text};

/// Every pair that must be cut, as (from namespace, to address).
const CUT: [(&str, &str); 6] = [
    ("fx", "10.251.1.10"),
    ("ta-1", FOREIGN),
    ("old-1", "10.251.1.10"),
    ("ta-1", LEFTOVER),
    ("old-1", "10.251.2.10"),
    ("fx", LEFTOVER),
];

#[test]
fn foreign_and_leftover_bridges_are_cut_off_and_the_uplink_stays_open() {
    let mut net = Net::new("u1");
    net.add_outside(true);
    net.wait_connected();
    // Without the ruleset everything reaches everything: the drops below
    // are the ruleset's.
    for (from, to) in CUT.iter().chain(&[("ta-1", WAN)]) {
        assert!(net.ping(from, to), "test network broken: {from} -> {to}");
    }

    let files = Files::new(INFRA);
    let out = cli_apply(&net, &files);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = net.table().unwrap();
    assert!(
        table.contains("set uplinks {\n\t\ttype ifname\n\t\telements = { \"up0\" }"),
        "{table}"
    );
    assert!(table.contains("\"net-old\" . \"net-old\""), "{table}");

    for (from, to) in CUT {
        assert!(!net.ping(from, to), "{from} -> {to} passed");
    }
    // The way out and back: domains (declared or leftover) and the
    // foreign bridge reach the uplink, and the uplink reaches domains.
    for from in ["ta-1", "tb-1", "old-1", "fx"] {
        assert!(net.ping(from, WAN), "{from} cannot reach the uplink");
    }
    assert!(net.ping("wan", "10.251.1.10"), "uplink cannot reach ta-1");
    assert!(
        !net.tcp("fx", "ta-1", "10.251.1.10", 8080),
        "tcp from the foreign bridge"
    );
    // Inside a domain, nothing changes.
    assert!(net.ping("ta-1", "10.251.1.11"));
}

#[test]
fn without_a_known_uplink_domains_reach_no_other_interface() {
    // The uplink exists, but no default route says it is one: fail
    // closed. `global.uplinks` names it explicitly.
    let mut net = Net::new("u2");
    net.add_outside(false);
    net.wait_connected();
    let files = Files::new(INFRA);
    assert!(cli_apply(&net, &files).status.success());
    assert!(!net.ping("ta-1", WAN), "an interface that is no uplink");
    assert!(net.ping("fx", WAN), "the foreign bridge is not anklume's");

    files.write_infra(&INFRA.replace(
        "  base_subnet: '10.251'\n",
        "  base_subnet: '10.251'\n  uplinks: [up0]\n",
    ));
    let out = cli_apply(&net, &files);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(net.ping("ta-1", WAN), "global.uplinks names up0");
    assert!(!net.ping("fx", "10.251.1.10"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_daemon_follows_uplinks_and_new_bridges_live() {
    let mut net = Net::new("u3");
    net.add_outside(false);
    net.wait_connected();
    let bus = TestBus::start();
    let files = Files::new(INFRA);
    let _daemon = Daemon::start(&bus, &net, &files, &[]).await;
    let proxy = bus.proxy().await;
    let first = proxy.ruleset_hash().await.unwrap();
    assert!(!net.ping("ta-1", WAN), "no uplink yet");

    // A default route appears: its interface becomes the uplink.
    net.set_default_route(true);
    assert!(
        eventually(Duration::from_secs(5), || net.ping("ta-1", WAN)).await,
        "the new uplink was not followed:\n{}",
        files.log()
    );
    assert_ne!(proxy.ruleset_hash().await.unwrap(), first);
    assert!(
        files
            .log()
            .contains("the host's interfaces or uplinks changed"),
        "{}",
        files.log()
    );

    // A leftover bridge appearing later is cut off too (the wildcard
    // covers it at once, the set follows for its own traffic).
    net.add_bridge_machine("net-late", "late-1", 7);
    assert!(
        eventually(Duration::from_secs(5), || net
            .table()
            .is_some_and(|t| t.contains("\"net-late\" . \"net-late\"")))
        .await,
        "{}",
        files.log()
    );
    assert!(!net.ping("late-1", "10.251.1.10"));
    assert!(!net.ping("ta-1", "10.251.7.10"));

    // The route goes away: the uplink is closed again.
    net.set_default_route(false);
    assert!(
        eventually(Duration::from_secs(5), || !net.ping("ta-1", WAN)).await,
        "the uplink stayed open:\n{}",
        files.log()
    );
}

/// Issue: with br_netfilter (bridged frames cross the forward hook, on by
/// default on this kernel in every namespace), IPv6 neighbour discovery
/// is untracked; it must still pass inside a bridge, with caches cold.
#[test]
fn same_domain_ipv6_passes_with_cold_neighbour_caches() {
    let net = Net::new("u4");
    let bridged = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-ip6tables")
        .unwrap_or_default();
    assert_eq!(
        bridged.trim(),
        "1",
        "this test needs br_netfilter (bridge-nf-call-ip6tables=1)"
    );
    let files = Files::new(INFRA);
    // No traffic before the apply: neighbour caches are cold.
    assert!(cli_apply(&net, &files).status.success());
    assert!(
        eventually_sync(|| net.ping("ta-1", "fd51:1::11")),
        "same-domain IPv6 cut"
    );
    assert!(net.ping("ta-2", "10.251.1.10"), "same-domain IPv4 cut");
    assert!(!net.ping("ta-1", "fd51:2::10"), "cross-domain IPv6 passed");
    assert!(!net.ping("ta-1", "10.251.2.10"), "cross-domain IPv4 passed");
}

/// Neighbour discovery may take a moment after links come up (DAD is off,
/// but the first solicitation can race the port's forwarding state).
fn eventually_sync(mut check: impl FnMut() -> bool) -> bool {
    (0..10).any(|_| {
        check() || {
            std::thread::sleep(Duration::from_millis(300));
            false
        }
    })
}
