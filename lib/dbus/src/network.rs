//! `org.anklume.Network1`: anklume-netd's interface.

use zbus::proxy;

use crate::AnklumeError;

pub const BUS_NAME: &str = "org.anklume.Network1";
pub const OBJECT_PATH: &str = "/org/anklume/Network1";
pub const INTERFACE: &str = "org.anklume.Network1";
/// polkit action of `Apply`.
pub const APPLY_ACTION: &str = "org.anklume.network.apply";

#[proxy(
    interface = "org.anklume.Network1",
    default_service = "org.anklume.Network1",
    default_path = "/org/anklume/Network1"
)]
pub trait Network1 {
    /// Re-reads the infra and applies its ruleset; true when the table in
    /// force changed. On error the previous ruleset stays in force.
    fn apply(&self) -> Result<bool, AnklumeError>;
    /// The ruleset of the current infra in nft syntax, as
    /// `nft list table inet anklume` shows it once applied.
    fn preview(&self) -> Result<String, AnklumeError>;

    /// Whether the ruleset of the last good infra is in force.
    #[zbus(property)]
    fn applied(&self) -> zbus::Result<bool>;
    /// sha256 of the ruleset in force (hex), empty before the first apply.
    #[zbus(property)]
    fn ruleset_hash(&self) -> zbus::Result<String>;
    #[zbus(property)]
    fn domain_count(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn policy_count(&self) -> zbus::Result<u32>;
    /// When the ruleset was last written to the kernel (unix µs; 0: never).
    #[zbus(property)]
    fn last_applied(&self) -> zbus::Result<u64>;
    /// Why the last apply failed; empty after a success.
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;

    /// The table in force changed (apply, reload, or drift repaired).
    #[zbus(signal)]
    fn ruleset_applied(&self, hash: String) -> zbus::Result<()>;
}
