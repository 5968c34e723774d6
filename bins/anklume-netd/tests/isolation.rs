//! The ruleset proven with real packets: a throwaway "host" network
//! namespace with one bridge per domain, "instance" namespaces wired to
//! them by veth with the infra's IPv4 and IPv6 addresses, and the preview
//! loaded into the host namespace. (Loaded here with `nft -f`; the daemon
//! applies the same ruleset over netlink.) Needs root; every namespace is
//! removed by name at the end, even on failure.

mod common;

use common::{INFRA, Net, preview, run_preview, text};

#[test]
fn cross_domain_traffic_is_dropped_and_policies_open_exactly_their_flows() {
    let net = Net::new("i");
    // Without the ruleset the two domains reach each other: the test
    // would notice a ruleset that does nothing.
    net.wait_connected();

    net.load(&preview(INFRA));

    // Same domain: untouched.
    assert!(net.ping("ta-1", "10.251.1.11"));
    assert!(net.ping("ta-1", "fd51:1::11"));
    // Cross-domain: dropped, IPv4 and IPv6, both ways.
    assert!(!net.ping("ta-1", "10.251.2.10"));
    assert!(!net.ping("ta-1", "fd51:2::10"));
    assert!(!net.ping("tb-1", "10.251.1.10"));
    // The machine policy opens exactly ta-1 → tb-1 tcp/8080.
    assert!(net.tcp("ta-1", "tb-1", "10.251.2.10", 8080));
    assert!(
        !net.tcp("ta-1", "tb-1", "10.251.2.10", 8081),
        "another port passed"
    );
    assert!(
        !net.tcp("ta-2", "tb-1", "10.251.2.10", 8080),
        "another machine passed"
    );
    assert!(
        !net.tcp("tb-1", "ta-1", "10.251.1.10", 8080),
        "the reverse direction passed"
    );
    // Host policies: tb → host tcp/9000 (domain-wide), host → ta-1 tcp/2222.
    assert!(net.tcp("tb-1", "host", "10.251.2.254", 9000));
    assert!(!net.tcp("tb-1", "host", "10.251.2.254", 9001));
    assert!(
        !net.tcp("ta-1", "host", "10.251.1.254", 9000),
        "domain ta was not opened to the host"
    );
    assert!(net.tcp("host", "ta-1", "10.251.1.10", 2222));
    assert!(!net.tcp("host", "ta-1", "10.251.1.10", 2223));
    assert!(!net.tcp("host", "tb-1", "10.251.2.10", 2222));
}

#[test]
fn firewall_vm_preview_uses_one_nic_per_domain_and_drops_by_default() {
    let infra = INFRA
        .replace("  ta:\n", "  admin:\n    subnet_id: 0\n  ta:\n")
        .replace("'10.251'\n", "'10.251'\n  firewall_mode: vm\n");
    let out = run_preview(&infra, &["--firewall-vm"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ruleset = String::from_utf8(out.stdout).unwrap();
    // admin is eth0, then the other domains in sorted order.
    assert!(
        ruleset.contains("elements = { \"eth0\",\n\t\t\t     \"eth1\",\n\t\t\t     \"eth2\" }"),
        "{ruleset}"
    );
    assert!(
        ruleset.contains("\"eth1\" . 10.251.1.10 . 10.251.2.10 . tcp . 8080"),
        "{ruleset}"
    );
    assert!(ruleset.contains("policy drop;"));
    assert!(ruleset.contains("log prefix \"anklume-drop: \" drop"));
    assert!(
        !ruleset.contains("chain input"),
        "the VM routes; host chains do not apply"
    );
    // nft accepts it (checked in a throwaway namespace, nothing applied).
    let net = Net::bare("fv");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm.nft");
    std::fs::write(&file, &ruleset).unwrap();
    let checked = net.nft(&["-c", "-f", file.to_str().unwrap()]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
}

#[test]
fn preview_of_an_invalid_infra_says_why_and_fails() {
    let out = run_preview(common::INVALID_INFRA, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains(common::INVALID_MESSAGE));
    assert!(out.stdout.is_empty());
}

/// Policies naming whole domains, a protocol, and both directions, applied
/// over netlink by `anklume-netd apply`.
#[test]
fn domain_protocol_and_bidirectional_policies_open_exactly_their_flows() {
    let net = Net::new("p");
    net.wait_connected();
    let infra = INFRA.replace(
        "network_policies:\n",
        "network_policies:\n  - {from: ta, to: tb, ports: all, protocol: udp}\n  - {from: tb-1, to: ta, ports: [7000], bidirectional: true}\n  - {from: tb, to: ta-2, ports: all}\n",
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("infra.yml");
    std::fs::write(&file, &infra).unwrap();
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.ns("host"),
            env!("CARGO_BIN_EXE_anklume-netd"),
        ])
        .args(["apply", "--infra", file.to_str().unwrap()])
        .env("ANKLUME_CONTEXT_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("applied ruleset "),
        "{}",
        text(&out.stdout)
    );

    // ta → tb: every UDP port, nothing else.
    assert!(net.udp("ta-2", "tb-1", "10.251.2.10", 5353));
    assert!(net.udp("ta-1", "tb-1", "10.251.2.10", 40000));
    assert!(!net.tcp("ta-2", "tb-1", "10.251.2.10", 5353), "tcp passed");
    assert!(!net.ping("ta-1", "10.251.2.10"), "icmp passed");
    assert!(
        !net.udp("tb-1", "ta-1", "10.251.1.10", 5353),
        "udp passed the other way"
    );
    // tb-1 ⇄ ta on tcp/7000 (machine → domain, and back).
    assert!(net.tcp("tb-1", "ta-1", "10.251.1.10", 7000));
    assert!(net.tcp("ta-1", "tb-1", "10.251.2.10", 7000));
    assert!(!net.tcp("ta-1", "tb-1", "10.251.2.10", 7001));
    // tb → ta-2: everything, IPv4 (a machine side matches its IPv4 address).
    assert!(net.ping("tb-1", "10.251.1.11"));
    assert!(net.tcp("tb-1", "ta-2", "10.251.1.11", 1234));
    assert!(!net.ping("tb-1", "10.251.1.10"), "ta-1 was not opened");
    assert!(
        !net.ping("ta-2", "10.251.2.10"),
        "the reverse direction passed"
    );
}
