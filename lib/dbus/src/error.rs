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
    /// The daemon's own state (its registry) cannot be saved.
    State(String),
    /// No NVIDIA driver, no GPU, or no such GPU.
    NoDevice(String),
    /// The GPU is held by another instance (the message names it).
    Busy(String),
    /// The infra does not allow this (not a GPU instance…).
    NotAllowed(String),
}

/// Longest message a reply carries, in bytes; a longer one is cut (what
/// the libraries echo of an argument is cut already; this bounds the rest).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `message`, cut to [`MAX_MESSAGE_BYTES`] on a character boundary.
pub fn cut(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES - 3;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push('…');
    }
    message
}

impl From<zbus::fdo::Error> for AnklumeError {
    fn from(e: zbus::fdo::Error) -> Self {
        AnklumeError::ZBus(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_on_a_character_boundary() {
        assert_eq!(cut("short".into()), "short");
        let cut_text = cut("é".repeat(5000));
        assert!(cut_text.len() <= MAX_MESSAGE_BYTES, "{}", cut_text.len());
        assert!(cut_text.ends_with('…'));
    }
}
