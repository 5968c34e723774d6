//! The ruleset in nftables syntax: what `anklume-netd preview` prints and
//! what `nft -f` accepts. Per-packet cost does not grow with the number of
//! domains or policies: each chain does a fixed number of set lookups.

use std::fmt::Write as _;

use anklume_infra::Protocol;

use crate::ruleset::{HostFlow, Ruleset, Service, Side};

/// Name of the table anklume owns.
pub const TABLE: &str = "anklume";
/// Before Incus's own chains (priority filter), so a drop here wins.
pub const PRIORITY: &str = "filter - 10";

/// Where the ruleset runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the host: forward between bridges, plus host input/output.
    Host,
    /// Inside the sys-firewall VM: forward only, drop policy, logged drops.
    FirewallVm,
}

/// The whole `table inet anklume { … }`.
pub fn render(ruleset: &Ruleset, mode: Mode) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "table inet {TABLE} {{");
    set(
        &mut out,
        "domain_ifaces",
        "ifname",
        false,
        ruleset.interfaces.iter().map(|i| quote(i)),
    );

    // Traffic inside one bridge is never filtered (it only reaches this
    // hook with br_netfilter or hairpin routing).
    let same_bridge = ruleset
        .interfaces
        .iter()
        .map(|i| format!("{} . {} . 0-255 . 0-65535", quote(i), quote(i)));
    let forward_any = ruleset
        .forward
        .iter()
        .filter(|f| f.from.address.is_none() && f.to.address.is_none())
        .map(|f| {
            format!(
                "{} . {} . {}",
                quote(&f.from.interface),
                quote(&f.to.interface),
                service(f.service)
            )
        });
    set(
        &mut out,
        "forward_any",
        "ifname . ifname . inet_proto . inet_service",
        true,
        same_bridge.chain(forward_any),
    );
    // Flows naming a machine match its address; the other side is its
    // whole subnet. The input bridge is matched too, so a spoofed source
    // address from another bridge does not pass; the output bridge follows
    // from the destination address by routing. (nft concatenations hold at
    // most five fields.)
    set(
        &mut out,
        "forward_v4",
        "ifname . ipv4_addr . ipv4_addr . inet_proto . inet_service",
        true,
        ruleset
            .forward
            .iter()
            .filter(|f| f.from.address.is_some() || f.to.address.is_some())
            .map(|f| {
                format!(
                    "{} . {} . {} . {}",
                    quote(&f.from.interface),
                    address_or_subnet(&f.from),
                    address_or_subnet(&f.to),
                    service(f.service)
                )
            }),
    );
    if mode == Mode::Host {
        host_sets(&mut out, "host_in", &ruleset.host_in);
        host_sets(&mut out, "host_out", &ruleset.host_out);
    }

    let (policy, drop) = match mode {
        Mode::Host => ("accept", "counter drop"),
        Mode::FirewallVm => ("drop", "counter log prefix \"anklume-drop: \" drop"),
    };
    chain(
        &mut out,
        "forward",
        "forward",
        policy,
        &[
            // Only traffic from one domain bridge to another is filtered;
            // to or from the uplink (NAT) it is left alone.
            "iifname != @domain_ifaces accept".into(),
            "oifname != @domain_ifaces accept".into(),
            "ct state established,related accept".into(),
            "ct state invalid drop".into(),
            "iifname . oifname . meta l4proto . th dport @forward_any accept".into(),
            "iifname . ip saddr . ip daddr . meta l4proto . th dport @forward_v4 accept".into(),
            drop.into(),
        ],
    );
    if mode == Mode::Host {
        chain(
            &mut out,
            "input",
            "input",
            "accept",
            &[
                "iifname != @domain_ifaces accept".into(),
                "ct state established,related accept".into(),
                "ct state invalid drop".into(),
                // What every instance needs from the host: ICMP (and IPv6
                // neighbour discovery), DHCP and DNS from Incus's dnsmasq.
                "meta l4proto { icmp, ipv6-icmp } accept".into(),
                "udp dport { 53, 67, 547 } accept".into(),
                "tcp dport 53 accept".into(),
                "iifname . meta l4proto . th dport @host_in accept".into(),
                "iifname . ip saddr . meta l4proto . th dport @host_in_v4 accept".into(),
                "counter drop".into(),
            ],
        );
        chain(
            &mut out,
            "output",
            "output",
            "accept",
            &[
                "oifname != @domain_ifaces accept".into(),
                "ct state established,related accept".into(),
                "meta l4proto ipv6-icmp accept".into(),
                "icmp type != echo-request accept".into(),
                "udp sport { 53, 67, 547 } accept".into(),
                "tcp sport 53 accept".into(),
                "oifname . meta l4proto . th dport @host_out accept".into(),
                "oifname . ip daddr . meta l4proto . th dport @host_out_v4 accept".into(),
                "counter drop".into(),
            ],
        );
    }
    out.push_str("}\n");
    out
}

fn host_sets(out: &mut String, name: &str, flows: &std::collections::BTreeSet<HostFlow>) {
    set(
        out,
        name,
        "ifname . inet_proto . inet_service",
        true,
        flows
            .iter()
            .filter(|f| f.domain.address.is_none())
            .map(|f| format!("{} . {}", quote(&f.domain.interface), service(f.service))),
    );
    set(
        out,
        &format!("{name}_v4"),
        "ifname . ipv4_addr . inet_proto . inet_service",
        true,
        flows
            .iter()
            .filter(|f| f.domain.address.is_some())
            .map(|f| format!("{} . {}", side_v4(&f.domain), service(f.service))),
    );
}

fn set(
    out: &mut String,
    name: &str,
    key: &str,
    interval: bool,
    elements: impl Iterator<Item = String>,
) {
    let elements: Vec<String> = elements.collect();
    let _ = writeln!(out, "\tset {name} {{");
    let _ = writeln!(out, "\t\ttype {key}");
    if interval {
        out.push_str("\t\tflags interval\n");
    }
    if !elements.is_empty() {
        let _ = writeln!(
            out,
            "\t\telements = {{ {} }}",
            elements.join(",\n\t\t\t     ")
        );
    }
    out.push_str("\t}\n\n");
}

fn chain(out: &mut String, name: &str, hook: &str, policy: &str, rules: &[String]) {
    let _ = writeln!(out, "\tchain {name} {{");
    let _ = writeln!(
        out,
        "\t\ttype filter hook {hook} priority {PRIORITY}; policy {policy};"
    );
    for rule in rules {
        let _ = writeln!(out, "\t\t{rule}");
    }
    out.push_str("\t}\n");
}

fn quote(interface: &str) -> String {
    format!("\"{interface}\"")
}

fn side_v4(side: &Side) -> String {
    format!("{} . {}", quote(&side.interface), address_or_subnet(side))
}

fn address_or_subnet(side: &Side) -> String {
    side.address
        .map_or_else(|| side.subnet.clone(), |a| a.to_string())
}

/// `protocol . port` as interval elements.
fn service(service: Service) -> String {
    let number = |p: Protocol| match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    match service {
        Service::Any => "0-255 . 0-65535".into(),
        Service::Protocol(p) => format!("{} . 0-65535", number(p)),
        Service::Port(p, port) => format!("{} . {port}", number(p)),
    }
}
