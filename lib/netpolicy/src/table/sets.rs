//! What the table's sets hold. Exact flows go to hash sets (O(1) per
//! packet and cheap to load); only flows with a range (a whole subnet, a
//! whole protocol's ports) go to interval sets. A flow another flow
//! already opens is left out.

use std::collections::BTreeSet;

use anklume_infra::Protocol;
use anklume_nft::ir::{FieldType, Set, Value, proto};

use crate::ruleset::{Flow, HostFlow, Ruleset, Service, Side};

use FieldType::{IfName, InetProto, InetService, Ipv4Addr as Ipv4};

/// Every domain bridge.
pub(super) fn domain_ifaces(ruleset: &Ruleset) -> Set {
    hash_set(
        "domain_ifaces",
        &[IfName],
        ruleset
            .interfaces
            .iter()
            .map(|i| vec![Value::IfName(i.clone())])
            .collect(),
    )
}

/// `bridge_self` (hash, bridge . bridge): each domain bridge, and each
/// leftover `net-*` bridge, with itself. Traffic inside one bridge only
/// reaches the forward hook with br_netfilter (or hairpin routing) and is
/// never filtered, whatever its conntrack state: IPv6 neighbour discovery
/// and MLD are untracked.
pub(super) fn bridge_self(ruleset: &Ruleset) -> Set {
    hash_set(
        "bridge_self",
        &[IfName, IfName],
        ruleset
            .interfaces
            .iter()
            .chain(&ruleset.stale_bridges)
            .map(|i| vec![Value::IfName(i.clone()), Value::IfName(i.clone())])
            .collect(),
    )
}

/// `uplinks` (hash, ifname): the interfaces domain bridges may forward to
/// and from.
pub(super) fn uplinks(ruleset: &Ruleset) -> Set {
    hash_set(
        "uplinks",
        &[IfName],
        ruleset
            .uplinks
            .iter()
            .map(|i| vec![Value::IfName(i.clone())])
            .collect(),
    )
}

/// Sets of flows between bridges, by how they match:
/// * `forward_pairs` (hash, bridge . bridge): domain pairs open to
///   everything;
/// * `forward_protos` (hash, + protocol): pairs open to a whole protocol;
/// * `forward_ports` (hash, + protocol . port): pairs open to a port;
/// * `forward_hosts` (hash, input bridge . source . destination .
///   protocol . port): one machine to another on a port;
/// * `forward_v4` (intervals, the same key): the other flows naming a
///   machine, whose other side is a whole subnet or service a whole
///   protocol.
///
/// A machine is matched by its address and by the bridge the packet comes
/// in from, so a spoofed source on another bridge does not pass; the
/// output bridge follows from the destination address by routing. (A
/// concatenation holds at most five fields.)
pub(super) fn forward_sets(ruleset: &Ruleset) -> Vec<Set> {
    let bridge_level: Vec<&Flow> = ruleset
        .forward
        .iter()
        .filter(|f| f.from.address.is_none() && f.to.address.is_none())
        .collect();
    let machine_level = ruleset
        .forward
        .iter()
        .filter(|f| f.from.address.is_some() || f.to.address.is_some());
    // A flow that a whole-domain flow with a wider service opens adds
    // nothing.
    let covered = |f: &Flow| {
        bridge_level.iter().any(|g| {
            *g != f
                && g.from.interface == f.from.interface
                && g.to.interface == f.to.interface
                && service_covers(g.service, f.service)
        })
    };
    let pair = |f: &Flow| {
        vec![
            Value::IfName(f.from.interface.clone()),
            Value::IfName(f.to.interface.clone()),
        ]
    };

    let mut pairs = Vec::new();
    let (mut protos, mut ports) = (Vec::new(), Vec::new());
    for f in bridge_level.iter().copied().filter(|f| !covered(f)) {
        let mut e = pair(f);
        match f.service {
            Service::Any => pairs.push(e),
            Service::Protocol(p) => {
                e.push(Value::Proto(number(p), number(p)));
                protos.push(e);
            }
            Service::Port(p, port) => {
                e.extend([Value::Proto(number(p), number(p)), Value::Port(port, port)]);
                ports.push(e);
            }
        }
    }

    let (mut hosts, mut ranges) = (Vec::new(), Vec::new());
    for f in machine_level.filter(|f| !covered(f)) {
        let mut e = vec![
            Value::IfName(f.from.interface.clone()),
            address(&f.from),
            address(&f.to),
        ];
        e.extend(service(f.service));
        let exact = f.from.address.is_some()
            && f.to.address.is_some()
            && matches!(f.service, Service::Port(..));
        if exact { hosts.push(e) } else { ranges.push(e) }
    }

    let v4 = [IfName, Ipv4, Ipv4, InetProto, InetService];
    vec![
        hash_set("forward_pairs", &[IfName, IfName], pairs),
        hash_set("forward_protos", &[IfName, IfName, InetProto], protos),
        hash_set(
            "forward_ports",
            &[IfName, IfName, InetProto, InetService],
            ports,
        ),
        hash_set("forward_hosts", &v4, hosts),
        interval_set("forward_v4", &v4, ranges),
    ]
}

fn hash_set(name: &str, fields: &[FieldType], mut elements: Vec<Vec<Value>>) -> Set {
    // Exact keys: equal ones would be refused as duplicates.
    let mut seen = Vec::with_capacity(elements.len());
    elements.retain(|e| {
        let new = !seen.contains(e);
        if new {
            seen.push(e.clone());
        }
        new
    });
    Set {
        name: name.into(),
        fields: fields.to_vec(),
        interval: false,
        elements,
    }
}

pub(super) fn interval_set(name: &str, fields: &[FieldType], elements: Vec<Vec<Value>>) -> Set {
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

pub(super) fn host_sets(name: &str, flows: &BTreeSet<HostFlow>) -> [Set; 2] {
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

fn number(protocol: Protocol) -> u8 {
    match protocol {
        Protocol::Tcp => proto::TCP,
        Protocol::Udp => proto::UDP,
    }
}

/// `protocol . port` as interval values.
fn service(service: Service) -> [Value; 2] {
    match service {
        Service::Any => [Value::Proto(0, 255), Value::Port(0, 65535)],
        Service::Protocol(p) => [Value::Proto(number(p), number(p)), Value::Port(0, 65535)],
        Service::Port(p, port) => [Value::Proto(number(p), number(p)), Value::Port(port, port)],
    }
}
