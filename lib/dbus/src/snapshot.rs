//! `org.anklume.Snapshot1`: anklume-snapd's interface.

use zbus::proxy;

use crate::AnklumeError;

pub const BUS_NAME: &str = "org.anklume.Snapshot1";
pub const OBJECT_PATH: &str = "/org/anklume/Snapshot1";
pub const INTERFACE: &str = "org.anklume.Snapshot1";
/// polkit action of every mutating call.
pub const MANAGE_ACTION: &str = "org.anklume.snapshot.manage";

/// One line of `List`: domain, instance, snapshot, creation time (unix s).
pub type ListedSnapshot = (String, String, String, i64);

#[proxy(
    interface = "org.anklume.Snapshot1",
    default_service = "org.anklume.Snapshot1",
    default_path = "/org/anklume/Snapshot1"
)]
pub trait Snapshot1 {
    /// Snapshots `target` (`instance:<n>`, `domain:<d>`, `all`) as `name`
    /// (empty: timestamped); returns `project/instance/snapshot` strings.
    fn create(&self, target: &str, name: &str) -> Result<Vec<String>, AnklumeError>;
    /// Rolls `target` back to `name` after a safety snapshot of each instance.
    fn restore(&self, target: &str, name: &str) -> Result<Vec<String>, AnklumeError>;
    fn delete(&self, target: &str, name: &str) -> Result<Vec<String>, AnklumeError>;
    fn list(&self, target: &str) -> Result<Vec<ListedSnapshot>, AnklumeError>;
    /// Applies the retention policy; returns the deleted snapshots.
    fn prune(&self) -> Result<Vec<String>, AnklumeError>;

    /// The problems the daemon works around now (a registry moved aside,
    /// a configuration not reloaded, an invalid infra); empty when none.
    #[zbus(property)]
    fn last_error(&self) -> zbus::Result<String>;

    #[zbus(signal)]
    fn snapshot_created(&self, target: String, name: String) -> zbus::Result<()>;
    #[zbus(signal)]
    fn snapshot_restored(&self, target: String, name: String) -> zbus::Result<()>;
    #[zbus(signal)]
    fn snapshot_deleted(&self, target: String, name: String) -> zbus::Result<()>;
}
