//! anklume's inter-domain isolation: the ruleset derived from the infra
//! (no packet crosses from one domain bridge to another, IPv4 and IPv6,
//! except the flows `network_policies` open; host ↔ domain only for the
//! host policies and what instances need from the host), and the nftables
//! table that enforces it. `anklume-netd` previews and applies it.

pub mod ruleset;
pub mod table;

pub use ruleset::{Flow, HostFlow, Ruleset, Service, Side};
pub use table::{Mode, TABLE, table};

/// The table in nft syntax, as `nft list table inet anklume` shows it.
pub fn render(ruleset: &Ruleset, mode: Mode) -> String {
    anklume_nft::text::render(&table(ruleset, mode))
}
