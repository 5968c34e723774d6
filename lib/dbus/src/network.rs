//! `org.anklume.Network1`: anklume-netd's interface.

use zbus::proxy;

use crate::AnklumeError;

pub const BUS_NAME: &str = "org.anklume.Network1";
pub const OBJECT_PATH: &str = "/org/anklume/Network1";
pub const INTERFACE: &str = "org.anklume.Network1";
/// polkit action of `Apply`.
pub const APPLY_ACTION: &str = "org.anklume.network.apply";
/// polkit action of `Withdraw`.
pub const WITHDRAW_ACTION: &str = "org.anklume.network.withdraw";

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
    /// Deletes the table in force and keeps none (no drift repair, no
    /// rebuild for the host's links) until the next Apply or reload; true
    /// when a table was deleted, false when there was none. On error the
    /// table stays in force and is still kept.
    fn withdraw(&self) -> Result<bool, AnklumeError>;

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
    /// The table was withdrawn (`Withdraw`) and none is kept until the
    /// next Apply or reload.
    #[zbus(property)]
    fn withdrawn(&self) -> zbus::Result<bool>;

    /// The table in force changed (apply, reload, or drift repaired).
    #[zbus(signal)]
    fn ruleset_applied(&self, hash: String) -> zbus::Result<()>;
    /// The table in force was deleted by `Withdraw` (hash: the ruleset it
    /// held, as last applied; empty when unknown).
    #[zbus(signal)]
    fn ruleset_withdrawn(&self, hash: String) -> zbus::Result<()>;
}
