//! anklume's inter-domain isolation: the ruleset derived from the infra
//! (no packet crosses from one domain bridge to another, IPv4 and IPv6,
//! except the flows `network_policies` open; host ↔ domain only for the
//! host policies and what instances need from the host), and its nftables
//! rendering. `anklume-netd` applies it.

pub mod nft;
pub mod ruleset;

pub use nft::{Mode, render};
pub use ruleset::{Flow, HostFlow, Ruleset, Service, Side};
