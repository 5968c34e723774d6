//! The isolation ruleset as data: which flows between domain bridges, and
//! between domains and the host, are allowed. Everything else crossing a
//! domain bridge is dropped. `table` turns this one model into the nftables
//! table that preview prints and apply sends, so preview and apply never differ.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use anklume_infra::{BRIDGE_PREFIX, Endpoint, Infra, NetworkPolicy, Ports, Protocol};

/// The layer-4 part of a flow: any traffic, a whole protocol, or one port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    Any,
    Protocol(Protocol),
    Port(Protocol, u16),
}

/// One side of a flow on a domain bridge: the bridge, and the machine's
/// address when the policy names a machine with a static IP.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Side {
    pub interface: String,
    pub address: Option<Ipv4Addr>,
    /// The domain's IPv4 subnet (network address, prefix length), e.g.
    /// `10.100.1.0/24`.
    pub subnet: (Ipv4Addr, u8),
}

/// Allowed traffic from one domain bridge to another.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Flow {
    pub from: Side,
    pub to: Side,
    pub service: Service,
}

/// Allowed traffic between the host and a domain bridge.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostFlow {
    pub domain: Side,
    pub service: Service,
}

/// The whole ruleset. Collections are sorted and de-duplicated, so equal
/// infras give byte-identical renderings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// Every domain bridge, sorted.
    pub interfaces: Vec<String>,
    /// The host's uplinks, sorted: the only interfaces (besides their own
    /// bridge and what a policy opens) domain bridges forward to and from.
    pub uplinks: Vec<String>,
    /// Bridges of anklume's `net-*` scheme present on the host but not
    /// declared (a previous infra's): domains with no policy. Sorted.
    pub stale_bridges: Vec<String>,
    pub forward: BTreeSet<Flow>,
    /// Domain → host.
    pub host_in: BTreeSet<HostFlow>,
    /// Host → domain.
    pub host_out: BTreeSet<HostFlow>,
}

impl Ruleset {
    /// The host-mode ruleset: interfaces are the domain bridges `net-<d>`.
    pub fn from_infra(infra: &Infra) -> Self {
        Self::build(infra, |domain| {
            infra.domain(domain).map(|d| infra.network(d).bridge)
        })
    }

    /// Adds the host's side: its `uplinks`, and the `net-*` bridges among
    /// `present` (the host's interfaces) that the infra does not declare.
    #[must_use]
    pub fn with_host<'a>(
        mut self,
        uplinks: impl IntoIterator<Item = &'a String>,
        present: impl IntoIterator<Item = &'a String>,
    ) -> Self {
        let declared: BTreeSet<&String> = self.interfaces.iter().collect();
        let stale: BTreeSet<String> = present
            .into_iter()
            .filter(|name| name.starts_with(BRIDGE_PREFIX) && !declared.contains(name))
            .cloned()
            .collect();
        let uplinks: BTreeSet<String> = uplinks
            .into_iter()
            .filter(|name| !name.starts_with(BRIDGE_PREFIX))
            .cloned()
            .collect();
        self.stale_bridges = stale.into_iter().collect();
        self.uplinks = uplinks.into_iter().collect();
        self
    }

    /// The ruleset inside the `sys-firewall` VM: one NIC per domain bridge,
    /// `eth0` for admin and the others in sorted domain order.
    pub fn for_firewall_vm(infra: &Infra) -> Self {
        let nics = firewall_vm_nics(infra);
        Self::build(infra, |domain| {
            nics.iter()
                .find(|(d, _)| d == domain)
                .map(|(_, nic)| nic.clone())
        })
    }

    fn build(infra: &Infra, interface: impl Fn(&str) -> Option<String>) -> Self {
        let mut ruleset = Ruleset {
            interfaces: infra
                .domains
                .iter()
                .filter_map(|d| interface(&d.name))
                .collect(),
            ..Default::default()
        };
        ruleset.interfaces.sort();
        for policy in infra.network_policies.iter().flatten() {
            ruleset.add(infra, policy, &policy.from, &policy.to, &interface);
            if policy.bidirectional {
                ruleset.add(infra, policy, &policy.to, &policy.from, &interface);
            }
        }
        ruleset
    }

    fn add(
        &mut self,
        infra: &Infra,
        policy: &NetworkPolicy,
        from: &Endpoint,
        to: &Endpoint,
        interface: &impl Fn(&str) -> Option<String>,
    ) {
        let side = |endpoint: &Endpoint| -> Option<Side> {
            let domain = infra.domain(endpoint.domain()?)?;
            let interface = interface(&domain.name)?;
            let address = match endpoint {
                Endpoint::Machine { name, .. } => infra.machine(name).and_then(|m| m.ip),
                _ => None,
            };
            let network = infra.network(domain);
            let subnet = (network.base.address(network.subnet_id, 0), 24);
            Some(Side {
                interface,
                address,
                subnet,
            })
        };
        for service in services(policy) {
            match (side(from), side(to)) {
                (Some(from), Some(to)) if from.interface != to.interface => {
                    self.forward.insert(Flow { from, to, service });
                }
                // Within one bridge nothing is filtered: nothing to open.
                (Some(_), Some(_)) => {}
                (Some(domain), None) => {
                    self.host_in.insert(HostFlow { domain, service });
                }
                (None, Some(domain)) => {
                    self.host_out.insert(HostFlow { domain, service });
                }
                (None, None) => {}
            }
        }
    }
}

/// `ports: all` without a protocol opens everything; with `protocol:` it
/// opens that protocol; a port list opens each port of the protocol
/// (tcp unless said otherwise).
fn services(policy: &NetworkPolicy) -> Vec<Service> {
    let explicit_protocol = policy.raw.get("protocol").is_some_and(|p| !p.is_null());
    match &policy.ports {
        Ports::All if explicit_protocol => vec![Service::Protocol(policy.protocol)],
        Ports::All => vec![Service::Any],
        Ports::List(ports) => ports
            .iter()
            .map(|p| Service::Port(policy.protocol, *p))
            .collect(),
    }
}

/// Domain → NIC inside the firewall VM: admin is eth0, the others follow in
/// sorted domain order (roadmap phase 11).
pub fn firewall_vm_nics(infra: &Infra) -> Vec<(String, String)> {
    let mut names: Vec<&str> = infra.domains.iter().map(|d| d.name.as_str()).collect();
    names.sort_by_key(|n| (*n != "admin", *n));
    names
        .into_iter()
        .enumerate()
        .map(|(i, d)| (d.to_owned(), format!("eth{i}")))
        .collect()
}
