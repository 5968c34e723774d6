//! What surrounds the domains on a real host, added to a test [`Net`]: an
//! uplink (a `wan` namespace behind veth `up0`, routed, no NAT), a
//! foreign bridge `fbr0` with machine `fx` (another tool's containers),
//! and a leftover domain bridge `net-old` with machine `old-1` (a domain
//! of a previous infra). All inside the test's own namespaces.

use super::{Net, ok};

/// The wan side of the uplink.
pub const WAN: &str = "10.251.200.2";
/// Machine on the foreign bridge.
pub const FOREIGN: &str = "10.251.9.10";
/// Machine on the leftover bridge.
pub const LEFTOVER: &str = "10.251.8.10";

impl Net {
    /// Adds the uplink, the foreign and the leftover bridge. With
    /// `default_route`, the host namespace routes its default through the
    /// uplink (else the uplink exists but carries no default route).
    pub fn add_outside(&mut self, default_route: bool) {
        let host = self.ns("host");
        let wan = self.ns("wan");
        self.add_ns(&wan);
        ok(&["ip", "-n", &wan, "link", "set", "lo", "up"]);
        ok(&[
            "ip", "-n", &host, "link", "add", "up0", "type", "veth", "peer", "name", "eth0",
            "netns", &wan,
        ]);
        ok(&[
            "ip",
            "-n",
            &host,
            "addr",
            "add",
            "10.251.200.1/24",
            "dev",
            "up0",
        ]);
        ok(&["ip", "-n", &host, "link", "set", "up0", "up"]);
        ok(&[
            "ip",
            "-n",
            &wan,
            "addr",
            "add",
            &format!("{WAN}/24"),
            "dev",
            "eth0",
        ]);
        ok(&["ip", "-n", &wan, "link", "set", "eth0", "up"]);
        ok(&[
            "ip",
            "-n",
            &wan,
            "route",
            "add",
            "10.251.0.0/16",
            "via",
            "10.251.200.1",
        ]);
        if default_route {
            self.set_default_route(true);
        }
        self.add_bridge_machine("fbr0", "fx", 9);
        self.add_bridge_machine("net-old", "old-1", 8);
    }

    /// Adds or removes the host namespace's default route via the uplink.
    pub fn set_default_route(&self, present: bool) {
        let verb = if present { "add" } else { "del" };
        ok(&[
            "ip",
            "-n",
            &self.ns("host"),
            "route",
            verb,
            "default",
            "via",
            WAN,
        ]);
    }

    /// A bridge with `10.251.<subnet>.254/24` and one machine `.10` on it.
    pub fn add_bridge_machine(&mut self, bridge: &str, machine: &str, subnet: u8) {
        self.add_bridge(bridge, subnet, false);
        self.attach(machine, bridge, &format!("10.251.{subnet}.10"), None);
    }
}
