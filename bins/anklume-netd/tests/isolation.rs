//! The ruleset proven with real packets: a throwaway "host" network
//! namespace with one bridge per domain, "instance" namespaces wired to
//! them by veth with the infra's IPv4 and IPv6 addresses, and the preview
//! loaded into the host namespace. (Loaded here with `nft -f`; the daemon
//! applies the same ruleset over netlink.) Needs root; every namespace is
//! removed by name at the end, even on failure.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// Two domains: `ta` (subnet 1: ta-1 .10, ta-2 .11) and `tb` (subnet 2:
/// tb-1 .10), with policies: ta-1 → tb-1 tcp/8080, tb → host tcp/9000,
/// host → ta-1 tcp/2222.
const INFRA: &str = "project_name: t
global:
  base_subnet: '10.251'
domains:
  ta:
    subnet_id: 1
    machines:
      ta-1: {ip: 10.251.1.10}
      ta-2: {ip: 10.251.1.11}
  tb:
    subnet_id: 2
    machines:
      tb-1: {ip: 10.251.2.10}
network_policies:
  - {from: ta-1, to: tb-1, ports: [8080]}
  - {from: tb, to: host, ports: [9000]}
  - {from: host, to: ta-1, ports: [2222]}
";

struct Net {
    prefix: String,
    namespaces: Vec<String>,
}

fn run(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

fn ok(args: &[&str]) {
    let out = run(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Net {
    /// host namespace with bridges net-ta / net-tb; instances ta-1, ta-2,
    /// tb-1 with IPv4 and IPv6 addresses and default routes via the bridge.
    fn new() -> Self {
        let prefix = format!("ank{}", std::process::id() % 100_000);
        let mut net = Net {
            prefix,
            namespaces: Vec::new(),
        };
        let host = net.ns("host");
        net.add_ns(&host);
        ok(&[
            "ip",
            "netns",
            "exec",
            &host,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ]);
        ok(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        for (domain, subnet) in [("ta", 1), ("tb", 2)] {
            let bridge = format!("net-{domain}");
            ok(&["ip", "-n", &host, "link", "add", &bridge, "type", "bridge"]);
            ok(&[
                "ip",
                "-n",
                &host,
                "addr",
                "add",
                &format!("10.251.{subnet}.254/24"),
                "dev",
                &bridge,
            ]);
            ok(&[
                "ip",
                "-n",
                &host,
                "addr",
                "add",
                &format!("fd51:{subnet}::254/64"),
                "dev",
                &bridge,
                "nodad",
            ]);
            ok(&["ip", "-n", &host, "link", "set", &bridge, "up"]);
        }
        for (name, domain, subnet, host_part) in [
            ("ta-1", "ta", 1, 10),
            ("ta-2", "ta", 1, 11),
            ("tb-1", "tb", 2, 10),
        ] {
            let ns = net.ns(name);
            net.add_ns(&ns);
            let (outer, inner) = (format!("v{}{}", net.prefix, name.replace('-', "")), "eth0");
            ok(&[
                "ip", "-n", &host, "link", "add", &outer, "type", "veth", "peer", "name", inner,
                "netns", &ns,
            ]);
            ok(&[
                "ip",
                "-n",
                &host,
                "link",
                "set",
                &outer,
                "master",
                &format!("net-{domain}"),
                "up",
            ]);
            ok(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
            ok(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("10.251.{subnet}.{host_part}/24"),
                "dev",
                inner,
            ]);
            ok(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("fd51:{subnet}::{host_part}/64"),
                "dev",
                inner,
                "nodad",
            ]);
            ok(&["ip", "-n", &ns, "link", "set", inner, "up"]);
            ok(&[
                "ip",
                "-n",
                &ns,
                "route",
                "add",
                "default",
                "via",
                &format!("10.251.{subnet}.254"),
            ]);
            ok(&[
                "ip",
                "-n",
                &ns,
                "-6",
                "route",
                "add",
                "default",
                "via",
                &format!("fd51:{subnet}::254"),
            ]);
        }
        net
    }

    fn ns(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    fn add_ns(&mut self, ns: &str) {
        let _ = run(&["ip", "netns", "del", ns]);
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
    }

    fn load(&self, ruleset: &str) {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.ns("host"), "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut child.stdin.take().unwrap(), ruleset.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "nft -f: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ping(&self, from: &str, to: &str) -> bool {
        let flag = if to.contains(':') { "-6" } else { "-4" };
        run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(from),
            "ping",
            flag,
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "1",
            to,
        ])
        .status
        .success()
    }

    /// Whether a TCP connection from `from` reaches a listener on
    /// `to_ns`:`port` (address `to`).
    fn tcp(&self, from: &str, to_ns: &str, to: &str, port: u16) -> bool {
        let mut listener = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(to_ns),
                "busybox",
                "nc",
                "-l",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let connected = run(&[
            "ip",
            "netns",
            "exec",
            &self.ns(from),
            "busybox",
            "nc",
            "-w",
            "2",
            to,
            &port.to_string(),
        ])
        .status
        .success();
        let _ = listener.kill();
        let _ = listener.wait();
        connected
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}

/// `anklume-netd preview --infra <text written to a file> <extra args>`.
fn run_preview(infra_text: &str, extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let infra = dir.path().join("infra.yml");
    std::fs::write(&infra, infra_text).unwrap();
    Command::new(env!("CARGO_BIN_EXE_anklume-netd"))
        .arg("preview")
        .args(extra)
        .arg("--infra")
        .arg(&infra)
        .env("ANKLUME_CONTEXT_DIR", dir.path())
        .output()
        .unwrap()
}

fn preview() -> String {
    let out = run_preview(INFRA, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn cross_domain_traffic_is_dropped_and_policies_open_exactly_their_flows() {
    let net = Net::new();
    // Without the ruleset the two domains reach each other: the test
    // would notice a ruleset that does nothing.
    // (IPv6 needs a moment after the links come up.)
    for target in ["10.251.2.10", "fd51:2::10", "fd51:1::11"] {
        let ready = (0..25).any(|_| {
            net.ping("ta-1", target) || {
                std::thread::sleep(Duration::from_millis(200));
                false
            }
        });
        assert!(
            ready,
            "test network broken: ta-1 cannot reach {target} without the ruleset"
        );
    }

    net.load(&preview());

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
    let text = INFRA
        .replace("  ta:\n", "  admin:\n    subnet_id: 0\n  ta:\n")
        .replace("'10.251'\n", "'10.251'\n  firewall_mode: vm\n");
    let out = run_preview(&text, &["--firewall-vm"]);
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
    let ns = format!("ank{}-chk", std::process::id() % 100_000);
    let _ = run(&["ip", "netns", "del", &ns]);
    ok(&["ip", "netns", "add", &ns]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("vm.nft");
    std::fs::write(&file, &ruleset).unwrap();
    let checked = run(&[
        "ip",
        "netns",
        "exec",
        &ns,
        "nft",
        "-c",
        "-f",
        file.to_str().unwrap(),
    ]);
    let _ = run(&["ip", "netns", "del", &ns]);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn preview_of_an_invalid_infra_says_why_and_fails() {
    let out = run_preview(
        "project_name: t\nglobal: {}\ndomains:\n  a:\n    subnet_id: 300\n",
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("subnet_id must be 0-254, got 300"));
    assert!(out.stdout.is_empty());
}
