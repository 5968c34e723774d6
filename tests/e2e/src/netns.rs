//! Two anklume domains wired in throwaway network namespaces, for plays
//! that must isolate them: a "host" namespace with bridges `net-<a>` and
//! `net-<b>` (like Incus's), and one machine namespace on each, so pings
//! between machines prove what the table in the host namespace does.
//! Removed by name on drop.

use std::process::{Command, Output};

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

pub struct Domains {
    pub host: String,
    namespaces: Vec<String>,
}

impl Domains {
    /// `domains[i]` gets the subnet `<base>.<subnets[i]>.0/24` and one
    /// machine namespace `<host>-<i>` at `.10`.
    pub fn new(tag: &str, base: &str, domains: &[(&str, u8)]) -> Self {
        let host = format!("anke2e{tag}");
        let mut net = Domains {
            host: host.clone(),
            namespaces: Vec::new(),
        };
        net.add(&host);
        ok(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        ok(&[
            "ip",
            "netns",
            "exec",
            &host,
            "sysctl",
            "-qw",
            "net.ipv4.ip_forward=1",
        ]);
        for (i, (domain, subnet)) in domains.iter().enumerate() {
            let bridge = format!("net-{domain}");
            let gateway = format!("{base}.{subnet}.254");
            ok(&["ip", "-n", &host, "link", "add", &bridge, "type", "bridge"]);
            ok(&[
                "ip",
                "-n",
                &host,
                "addr",
                "add",
                &format!("{gateway}/24"),
                "dev",
                &bridge,
            ]);
            ok(&["ip", "-n", &host, "link", "set", &bridge, "up"]);
            let machine = format!("{host}-{i}");
            net.add(&machine);
            let outer = format!("vm{i}");
            ok(&[
                "ip", "-n", &host, "link", "add", &outer, "type", "veth", "peer", "name", "eth0",
                "netns", &machine,
            ]);
            ok(&[
                "ip", "-n", &host, "link", "set", &outer, "master", &bridge, "up",
            ]);
            let address = format!("{base}.{subnet}.10/24");
            ok(&["ip", "-n", &machine, "addr", "add", &address, "dev", "eth0"]);
            ok(&["ip", "-n", &machine, "link", "set", "eth0", "up"]);
            ok(&["ip", "-n", &machine, "link", "set", "lo", "up"]);
            ok(&[
                "ip", "-n", &machine, "route", "add", "default", "via", &gateway,
            ]);
        }
        net
    }

    fn add(&mut self, ns: &str) {
        let _ = run(&["ip", "netns", "del", ns]);
        ok(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_owned());
    }

    /// Whether machine `from` (its index) answers pings sent to `to`.
    pub fn ping(&self, from: usize, to: &str) -> bool {
        run(&[
            "ip",
            "netns",
            "exec",
            &format!("{}-{from}", self.host),
            "ping",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            to,
        ])
        .status
        .success()
    }

    /// `nft list table inet anklume` in the host namespace, if any.
    pub fn table(&self) -> Option<String> {
        let out = run(&[
            "ip", "netns", "exec", &self.host, "nft", "list", "table", "inet", "anklume",
        ]);
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Domains {
    fn drop(&mut self) {
        for ns in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", ns]);
        }
    }
}
