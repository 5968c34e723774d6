//! The ruleset as anklume's nftables table (`table inet anklume`). Preview
//! renders this table as nft text, apply sends it over netlink: one source.
//!
//! Per-packet cost does not grow with the number of domains or policies:
//! each chain does a fixed number of set lookups.
//!
//! Every packet crossing two domain bridges is checked against the policy
//! sets, replies included (a reply matches its flow reversed, with its
//! source port standing for the flow's destination port). There is no
//! blanket "established accept": when a new ruleset closes a flow, its
//! next packet is dropped even though conntrack still knows it, so no
//! conntrack flush is needed and no packet slips through in between.

use std::collections::BTreeSet;

use anklume_infra::Protocol;
use anklume_nft::ir::{
    Chain, Direction, FieldType, Hook, Key, Match, PortField, Rule, Set, Table, Value, Verdict,
    ct_state, proto,
};

use crate::ruleset::{Flow, HostFlow, Ruleset, Service, Side};

/// Name of the table anklume owns.
pub const TABLE: &str = "anklume";
/// Before Incus's own chains (priority filter), so a drop here wins.
pub const PRIORITY: i32 = -10;
/// Prefix of logged drops in the firewall VM.
pub const LOG_PREFIX: &str = "anklume-drop: ";

/// Where the ruleset runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the host: forward between bridges, plus host input/output.
    Host,
    /// Inside the sys-firewall VM: forward only, drop policy, logged drops.
    FirewallVm,
}

use FieldType::{IfName, InetProto, InetService, Ipv4Addr as Ipv4};
use Key::{IifName, IpDaddr, IpSaddr, L4Proto, OifName, ThDport, ThSport};

/// The whole table for `ruleset` (without comment).
pub fn table(ruleset: &Ruleset, mode: Mode) -> Table {
    let mut sets = vec![Set {
        name: "domain_ifaces".into(),
        fields: vec![IfName],
        interval: false,
        elements: ruleset
            .interfaces
            .iter()
            .map(|i| vec![Value::IfName(i.clone())])
            .collect(),
    }];
    let bridge_level = || {
        ruleset
            .forward
            .iter()
            .filter(|f| f.from.address.is_none() && f.to.address.is_none())
    };
    // Traffic inside one bridge is never filtered (it only reaches this
    // hook with br_netfilter or hairpin routing). Whole-domain flows open
    // to everything sit in a hash set: O(1) whatever their number.
    let same_bridge = ruleset
        .interfaces
        .iter()
        .map(|i| vec![Value::IfName(i.clone()), Value::IfName(i.clone())]);
    let open_pairs = bridge_level()
        .filter(|f| f.service == Service::Any)
        .map(|f| {
            vec![
                Value::IfName(f.from.interface.clone()),
                Value::IfName(f.to.interface.clone()),
            ]
        });
    let mut pairs: Vec<Vec<Value>> = same_bridge.chain(open_pairs).collect();
    pairs.dedup();
    sets.push(Set {
        name: "forward_pairs".into(),
        fields: vec![IfName, IfName],
        interval: false,
        elements: pairs,
    });
    // A flow another whole-domain flow already opens adds nothing.
    let covered = |f: &Flow, by_any: bool| {
        bridge_level().any(|g| {
            g != f
                && g.from.interface == f.from.interface
                && g.to.interface == f.to.interface
                && (g.service == Service::Any || (!by_any && service_covers(g.service, f.service)))
        })
    };
    sets.push(interval_set(
        "forward_ports",
        &[IfName, IfName, InetProto, InetService],
        bridge_level()
            .filter(|f| f.service != Service::Any && !covered(f, true))
            .map(|f| {
                let mut e = vec![
                    Value::IfName(f.from.interface.clone()),
                    Value::IfName(f.to.interface.clone()),
                ];
                e.extend(service(f.service));
                e
            })
            .collect(),
    ));
    // Flows naming a machine match its address; the other side is its
    // whole subnet. The input bridge is matched too, so a spoofed source
    // address from another bridge does not pass; the output bridge follows
    // from the destination address by routing. (A concatenation holds at
    // most five fields.)
    sets.push(interval_set(
        "forward_v4",
        &[IfName, Ipv4, Ipv4, InetProto, InetService],
        ruleset
            .forward
            .iter()
            .filter(|f| f.from.address.is_some() || f.to.address.is_some())
            .filter(|f| !covered(f, false))
            .map(|f| {
                let mut e = vec![
                    Value::IfName(f.from.interface.clone()),
                    address(&f.from),
                    address(&f.to),
                ];
                e.extend(service(f.service));
                e
            })
            .collect(),
    ));
    if mode == Mode::Host {
        sets.extend(host_sets("host_in", &ruleset.host_in));
        sets.extend(host_sets("host_out", &ruleset.host_out));
    }

    let (policy, last) = match mode {
        Mode::Host => (Verdict::Accept, Rule::new(vec![], Verdict::Drop).counted()),
        Mode::FirewallVm => (
            Verdict::Drop,
            Rule::new(vec![], Verdict::Drop)
                .counted()
                .logged(LOG_PREFIX),
        ),
    };
    let accept = |matches: Vec<Match>| Rule::new(matches, Verdict::Accept);
    let original = Match::CtDirection(Direction::Original);
    let reply = Match::CtDirection(Direction::Reply);

    let mut forward = vec![
        // Only traffic from one domain bridge to another is filtered; to or
        // from the uplink (NAT) it is left alone.
        accept(vec![Match::not_in(IifName, "domain_ifaces")]),
        accept(vec![Match::not_in(OifName, "domain_ifaces")]),
        Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
        // ICMP errors about a flow (e.g. "fragmentation needed") reach it.
        accept(vec![
            Match::CtState(ct_state::RELATED),
            Match::L4Proto(proto::ICMP),
        ]),
        accept(vec![
            Match::CtState(ct_state::RELATED),
            Match::L4Proto(proto::ICMPV6),
        ]),
    ];
    forward.extend(both_ways(
        "forward_pairs",
        &[IifName, OifName],
        &[OifName, IifName],
    ));
    forward.extend(both_ways(
        "forward_ports",
        &[IifName, OifName, L4Proto, ThDport],
        &[OifName, IifName, L4Proto, ThSport],
    ));
    forward.extend(both_ways(
        "forward_v4",
        &[IifName, IpSaddr, IpDaddr, L4Proto, ThDport],
        &[OifName, IpDaddr, IpSaddr, L4Proto, ThSport],
    ));
    forward.push(last.clone());
    let mut chains = vec![base_chain("forward", Hook::Forward, policy, forward)];

    if mode == Mode::Host {
        let mut input = vec![
            accept(vec![Match::not_in(IifName, "domain_ifaces")]),
            Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
            // What every instance needs from the host: ICMP (and IPv6
            // neighbour discovery), DHCP and DNS from Incus's dnsmasq.
            accept(vec![Match::L4Proto(proto::ICMP)]),
            accept(vec![Match::L4Proto(proto::ICMPV6)]),
            accept(vec![port(proto::UDP, PortField::Dport, 53)]),
            accept(vec![port(proto::UDP, PortField::Dport, 67)]),
            accept(vec![port(proto::UDP, PortField::Dport, 547)]),
            accept(vec![port(proto::TCP, PortField::Dport, 53)]),
        ];
        // Domain → host flows, and replies to host → domain ones.
        input.extend([
            accept(vec![
                original.clone(),
                Match::lookup(&[IifName, L4Proto, ThDport], "host_in"),
            ]),
            accept(vec![
                original.clone(),
                Match::lookup(&[IifName, IpSaddr, L4Proto, ThDport], "host_in_v4"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[IifName, L4Proto, ThSport], "host_out"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[IifName, IpSaddr, L4Proto, ThSport], "host_out_v4"),
            ]),
            last.clone(),
        ]);
        chains.push(base_chain("input", Hook::Input, Verdict::Accept, input));

        let output = vec![
            accept(vec![Match::not_in(OifName, "domain_ifaces")]),
            Rule::new(vec![Match::CtState(ct_state::INVALID)], Verdict::Drop),
            accept(vec![Match::L4Proto(proto::ICMPV6)]),
            // The host answers pings and sends ICMP errors, but pinging an
            // instance needs a policy.
            accept(vec![Match::IcmpTypeNot(8)]),
            accept(vec![port(proto::UDP, PortField::Sport, 53)]),
            accept(vec![port(proto::UDP, PortField::Sport, 67)]),
            accept(vec![port(proto::UDP, PortField::Sport, 547)]),
            accept(vec![port(proto::TCP, PortField::Sport, 53)]),
            // Host → domain flows, and replies to domain → host ones.
            accept(vec![
                original.clone(),
                Match::lookup(&[OifName, L4Proto, ThDport], "host_out"),
            ]),
            accept(vec![
                original,
                Match::lookup(&[OifName, IpDaddr, L4Proto, ThDport], "host_out_v4"),
            ]),
            accept(vec![
                reply.clone(),
                Match::lookup(&[OifName, L4Proto, ThSport], "host_in"),
            ]),
            accept(vec![
                reply,
                Match::lookup(&[OifName, IpDaddr, L4Proto, ThSport], "host_in_v4"),
            ]),
            last,
        ];
        chains.push(base_chain("output", Hook::Output, Verdict::Accept, output));
    }
    Table {
        name: TABLE.into(),
        comment: None,
        sets,
        chains,
    }
}

/// The flow's own packets match `keys`; its replies match `reply_keys`
/// (the same flow seen from the other end).
fn both_ways(set: &str, keys: &[Key], reply_keys: &[Key]) -> [Rule; 2] {
    [
        Rule::new(
            vec![
                Match::CtDirection(Direction::Original),
                Match::lookup(keys, set),
            ],
            Verdict::Accept,
        ),
        Rule::new(
            vec![
                Match::CtDirection(Direction::Reply),
                Match::lookup(reply_keys, set),
            ],
            Verdict::Accept,
        ),
    ]
}

fn base_chain(name: &str, hook: Hook, policy: Verdict, rules: Vec<Rule>) -> Chain {
    Chain {
        name: name.into(),
        hook,
        priority: PRIORITY,
        policy,
        rules,
    }
}

fn port(proto: u8, field: PortField, port: u16) -> Match {
    Match::Port { proto, field, port }
}

fn interval_set(name: &str, fields: &[FieldType], elements: Vec<Vec<Value>>) -> Set {
    Set {
        name: name.into(),
        fields: fields.to_vec(),
        interval: true,
        elements: without_covered(elements),
    }
}

/// Leaves out every element another one covers (e.g. tcp/443 when the
/// same pair is open for everything): the kernel refuses an interval that
/// starts inside another, and it would add nothing anyway. Each field's
/// ranges are nested or disjoint (a port or all, an address or its /24),
/// so what remains never overlaps that way.
fn without_covered(elements: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let mut kept: Vec<Vec<Value>> = Vec::with_capacity(elements.len());
    for (i, e) in elements.iter().enumerate() {
        let covered = elements
            .iter()
            .enumerate()
            .any(|(j, other)| j != i && covers(other, e) && (!covers(e, other) || j < i));
        if !covered {
            kept.push(e.clone());
        }
    }
    kept
}

fn covers(outer: &[Value], inner: &[Value]) -> bool {
    outer.iter().zip(inner).all(|(o, i)| match (o, i) {
        (Value::IfName(a), Value::IfName(b)) => a == b,
        (Value::Ipv4(a, la), Value::Ipv4(b, lb)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(*la)).unwrap_or(0);
            la <= lb && u32::from(*a) & mask == u32::from(*b) & mask
        }
        (Value::Proto(olo, ohi), Value::Proto(ilo, ihi)) => olo <= ilo && ihi <= ohi,
        (Value::Port(olo, ohi), Value::Port(ilo, ihi)) => olo <= ilo && ihi <= ohi,
        _ => false,
    })
}

fn host_sets(name: &str, flows: &BTreeSet<HostFlow>) -> [Set; 2] {
    [
        interval_set(
            name,
            &[IfName, InetProto, InetService],
            flows
                .iter()
                .filter(|f| f.domain.address.is_none())
                .map(|f| {
                    let mut e = vec![Value::IfName(f.domain.interface.clone())];
                    e.extend(service(f.service));
                    e
                })
                .collect(),
        ),
        interval_set(
            &format!("{name}_v4"),
            &[IfName, Ipv4, InetProto, InetService],
            flows
                .iter()
                .filter(|f| f.domain.address.is_some())
                .map(|f| {
                    let mut e = vec![
                        Value::IfName(f.domain.interface.clone()),
                        address(&f.domain),
                    ];
                    e.extend(service(f.service));
                    e
                })
                .collect(),
        ),
    ]
}

fn service_covers(outer: Service, inner: Service) -> bool {
    match (outer, inner) {
        (Service::Any, _) => true,
        (Service::Protocol(p), Service::Protocol(q) | Service::Port(q, _)) => p == q,
        (outer, inner) => outer == inner,
    }
}

/// The machine's address, or its domain's whole subnet.
fn address(side: &Side) -> Value {
    match side.address {
        Some(a) => Value::Ipv4(a, 32),
        None => Value::Ipv4(side.subnet.0, side.subnet.1),
    }
}

/// `protocol . port` as interval values.
fn service(service: Service) -> [Value; 2] {
    let number = |p: Protocol| match p {
        Protocol::Tcp => proto::TCP,
        Protocol::Udp => proto::UDP,
    };
    match service {
        Service::Any => [Value::Proto(0, 255), Value::Port(0, 65535)],
        Service::Protocol(p) => [Value::Proto(number(p), number(p)), Value::Port(0, 65535)],
        Service::Port(p, port) => [Value::Proto(number(p), number(p)), Value::Port(port, port)],
    }
}
