//! The typed infra: what `infra.yml` declares once it has been validated.
//! Every anklume binary works on these types, never on YAML.

use std::net::Ipv4Addr;

use crate::addressing::{BaseSubnet, DomainNetwork};
use crate::value::Value;

/// A validated infra. Domains and machines keep the input order.
#[derive(Clone, Debug, PartialEq)]
pub struct Infra {
    /// `project_name`; `None` when it is null.
    pub project_name: Option<String>,
    pub global: Global,
    pub domains: Vec<Domain>,
    /// `None` when `network_policies` is absent or null; `Some(vec![])`
    /// for an explicit empty list.
    pub network_policies: Option<Vec<NetworkPolicy>>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Global {
    pub base_subnet: BaseSubnet,
    pub default_os_image: Option<String>,
    pub default_connection: Option<String>,
    pub default_user: Option<String>,
    pub gpu_policy: GpuPolicy,
    pub firewall_mode: FirewallMode,
    /// `global.uplinks`: the interfaces domain bridges may forward to and
    /// from (the way out). `None`: the host's default-route interfaces,
    /// tracked live by anklume-netd.
    pub uplinks: Option<Vec<String>>,
    /// `global.nat`: outbound NAT of domain bridges when a domain does not
    /// say (`None`: not set, the roles' default, NAT on).
    pub nat: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GpuPolicy {
    #[default]
    Exclusive,
    Shared,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum FirewallMode {
    /// nftables on the host (anklume-netd).
    #[default]
    Host,
    /// A `sys-firewall` VM routes between domains.
    Vm,
}

/// One isolated compartment: an Incus project with its own bridge.
#[derive(Clone, Debug, PartialEq)]
pub struct Domain {
    pub name: String,
    pub description: String,
    pub subnet_id: u8,
    pub ephemeral: bool,
    /// Outbound NAT of the domain's bridge: `nat:`, else `global.nat`;
    /// `None` when neither is set.
    pub nat: Option<bool>,
    /// Incus profiles defined by this domain, bodies verbatim.
    pub profiles: Vec<Profile>,
    pub machines: Vec<Machine>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    pub name: String,
    /// The profile body (`devices`, `config`, …) as written.
    pub body: Value,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InstanceType {
    /// An LXC system container.
    #[default]
    Lxc,
    /// A KVM virtual machine.
    Vm,
}

impl InstanceType {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceType::Lxc => "lxc",
            InstanceType::Vm => "vm",
        }
    }
}

/// An instance (container or VM) of a domain.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    pub name: String,
    /// Name of the domain this machine belongs to.
    pub domain: String,
    pub description: String,
    pub instance_type: InstanceType,
    /// Static IPv4 address on the domain bridge; `None` = DHCP.
    pub ip: Option<Ipv4Addr>,
    /// `ip: ''`, which existing infras use for "no static address": DHCP
    /// like `None`, but written back as `instance_ip: ''` as the original
    /// generator did.
    pub ip_written_empty: bool,
    pub ephemeral: bool,
    /// The `gpu` key as written (absent = `None`).
    pub gpu: Option<bool>,
    /// Whether the machine can reach a GPU: `gpu: true`, or a profile of
    /// its domain that holds a `type: gpu` device.
    pub has_gpu_access: bool,
    pub profiles: Option<Vec<String>>,
    pub config: Option<Value>,
    pub devices: Option<Value>,
    pub storage_volumes: Option<Value>,
    pub roles: Option<Vec<String>>,
    /// The image: the machine's own `os_image`, else the global default.
    pub os_image: Option<String>,
    /// Added by anklume (the firewall VM of `firewall_mode: vm`).
    pub auto_created: bool,
}

/// An allowed flow between two endpoints.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkPolicy {
    pub from: Endpoint,
    pub to: Endpoint,
    pub ports: Ports,
    pub protocol: Protocol,
    pub bidirectional: bool,
    pub description: Option<String>,
    /// The policy as written (booleans normalised), for the generated tree.
    pub raw: Value,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The host itself.
    Host,
    /// Every instance of a domain (its whole bridge).
    Domain(String),
    /// One machine, of the given domain.
    Machine { name: String, domain: String },
}

impl Endpoint {
    /// The domain whose bridge this endpoint sits on (`None` for the host).
    pub fn domain(&self) -> Option<&str> {
        match self {
            Endpoint::Host => None,
            Endpoint::Domain(d) | Endpoint::Machine { domain: d, .. } => Some(d),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ports {
    All,
    List(Vec<u16>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Protocol {
    #[default]
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

impl Infra {
    pub fn domain(&self, name: &str) -> Option<&Domain> {
        self.domains.iter().find(|d| d.name == name)
    }

    pub fn machines(&self) -> impl Iterator<Item = &Machine> {
        self.domains.iter().flat_map(|d| d.machines.iter())
    }

    pub fn machine(&self, name: &str) -> Option<&Machine> {
        self.machines().find(|m| m.name == name)
    }

    /// The network of a domain: bridge, subnet and gateway.
    pub fn network(&self, domain: &Domain) -> DomainNetwork {
        self.global
            .base_subnet
            .domain_network(&domain.name, domain.subnet_id)
    }

    /// Sorted, de-duplicated images of all machines.
    pub fn all_images(&self) -> Vec<&str> {
        let mut images: Vec<&str> = self
            .machines()
            .filter_map(|m| m.os_image.as_deref())
            .collect();
        images.sort_unstable();
        images.dedup();
        images
    }
}
