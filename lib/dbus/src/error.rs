//! The typed errors of every anklume interface: `org.anklume.Error.<Name>`.

use zbus::DBusError;

#[derive(Debug, DBusError)]
#[zbus(prefix = "org.anklume.Error")]
pub enum AnklumeError {
    /// A bus-level failure (sent as `org.freedesktop.zbus.Error`).
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The target, instance or snapshot does not exist.
    NotFound(String),
    /// An argument is malformed (target, snapshot name…).
    InvalidArgument(String),
    /// The host's infra cannot be read or is invalid.
    InvalidInfra(String),
    /// Incus refused or failed.
    Incus(String),
    /// The kernel refused the ruleset (or netlink failed); the previous
    /// ruleset stays in force.
    Netlink(String),
    /// The caller may not do this (not root, and polkit said no).
    PermissionDenied(String),
}

impl From<zbus::fdo::Error> for AnklumeError {
    fn from(e: zbus::fdo::Error) -> Self {
        AnklumeError::ZBus(e.into())
    }
}
