//! Addressing of domains: `<base>.<subnet_id>.0/24`, gateway `.254`, the
//! firewall VM at `.253`, bridge `net-<domain>`.

use std::fmt;
use std::net::Ipv4Addr;

/// Host part of a domain's gateway.
pub const GATEWAY_HOST: u8 = 254;
/// Host part of the auto-created firewall VM.
pub const FIREWALL_VM_HOST: u8 = 253;
/// Linux limits interface names to 15 bytes (IFNAMSIZ - 1).
pub const MAX_INTERFACE_NAME: usize = 15;

/// The first two octets shared by every domain subnet, e.g. `10.100`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BaseSubnet([u8; 2]);

impl BaseSubnet {
    pub fn new(first: u8, second: u8) -> Self {
        Self([first, second])
    }

    /// Parses `"A.B"`, two decimal octets.
    pub fn parse(text: &str) -> Option<Self> {
        let (a, b) = text.split_once('.')?;
        let octet = |s: &str| {
            (!s.is_empty() && s.len() <= 3 && s.bytes().all(|c| c.is_ascii_digit()))
                .then(|| s.parse::<u8>().ok())
                .flatten()
        };
        Some(Self([octet(a)?, octet(b)?]))
    }

    pub fn domain_network(self, domain: &str, subnet_id: u8) -> DomainNetwork {
        DomainNetwork {
            bridge: bridge_name(domain),
            base: self,
            subnet_id,
        }
    }

    pub fn address(self, subnet_id: u8, host: u8) -> Ipv4Addr {
        Ipv4Addr::new(self.0[0], self.0[1], subnet_id, host)
    }
}

impl Default for BaseSubnet {
    fn default() -> Self {
        Self([10, 100])
    }
}

impl fmt::Display for BaseSubnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.0[0], self.0[1])
    }
}

/// What every domain bridge's name starts with.
pub const BRIDGE_PREFIX: &str = "net-";

/// The bridge of a domain.
pub fn bridge_name(domain: &str) -> String {
    format!("{BRIDGE_PREFIX}{domain}")
}

/// A domain's IPv4 network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainNetwork {
    pub bridge: String,
    pub base: BaseSubnet,
    pub subnet_id: u8,
}

impl DomainNetwork {
    /// `<base>.<n>.0/24`
    pub fn subnet(&self) -> String {
        format!("{}.{}.0/24", self.base, self.subnet_id)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        self.base.address(self.subnet_id, GATEWAY_HOST)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        [a, b] == self.base.0 && c == self.subnet_id
    }

    /// The network, gateway and broadcast addresses, which no machine may use.
    pub fn is_reserved(&self, ip: Ipv4Addr) -> bool {
        matches!(ip.octets()[3], 0 | GATEWAY_HOST | 255)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_subnet_parses_two_octets_only() {
        assert_eq!(BaseSubnet::parse("10.100"), Some(BaseSubnet::new(10, 100)));
        assert_eq!(
            BaseSubnet::parse("192.168"),
            Some(BaseSubnet::new(192, 168))
        );
        for bad in [
            "10", "10.256", "10.1.1", "a.b", "10.", ".1", "+1.2", "1000.1",
        ] {
            assert_eq!(BaseSubnet::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn domain_network_addresses() {
        let net = BaseSubnet::new(10, 100).domain_network("pro", 2);
        assert_eq!(net.bridge, "net-pro");
        assert_eq!(net.subnet(), "10.100.2.0/24");
        assert_eq!(net.gateway(), Ipv4Addr::new(10, 100, 2, 254));
        assert!(net.contains(Ipv4Addr::new(10, 100, 2, 9)));
        assert!(!net.contains(Ipv4Addr::new(10, 100, 3, 9)));
        assert!(net.is_reserved(Ipv4Addr::new(10, 100, 2, 255)));
    }
}
