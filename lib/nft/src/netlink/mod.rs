//! Applying a [`Table`] over netlink (NETLINK_NETFILTER) in one batch.
#![allow(unsafe_code)] // libnftnl FFI for what the nftnl crate lacks; see expr.rs

use std::os::fd::{AsRawFd, RawFd};

use crate::ir::Table;

/// Who may change the table once applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Anyone with CAP_NET_ADMIN may change or delete it (one-shot `apply`).
    Shared,
    /// Table flags `owner` + `persist` (Linux ≥ 6.9): only this socket may
    /// change or delete it, and it stays in force after the process exits,
    /// until a later owner adopts it. Falls back to Shared on kernels
    /// without these flags (see [`Netlink::owned`]).
    Owned,
}

/// The kernel refused one message of a batch; the whole batch was undone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    /// What the message did, e.g. `add rule forward #3: ct state invalid drop`.
    pub what: String,
    pub errno: i32,
    /// The kernel's extended-ack text, when it gave one.
    pub message: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("netlink: {0}")]
    Io(#[from] std::io::Error),
    #[error("the kernel rejected the ruleset, the previous one stays in force: {}", describe(.0))]
    Rejected(Vec<Rejection>),
    #[error(
        "table inet {0} is owned by another process (a running anklume-netd?); reload it instead"
    )]
    OwnedByOther(String),
}

fn describe(rejections: &[Rejection]) -> String {
    rejections
        .iter()
        .map(|r| {
            let text = std::io::Error::from_raw_os_error(r.errno);
            match &r.message {
                Some(m) => format!("{}: {text} ({m})", r.what),
                None => format!("{}: {text}", r.what),
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A NETLINK_NETFILTER socket in the caller's network namespace. With
/// [`Ownership::Owned`], keep it open as long as the table must stay owned.
pub struct Netlink {
    _private: (),
}

impl Netlink {
    pub fn open() -> Result<Self, ApplyError> {
        Err(std::io::Error::other("not implemented yet").into())
    }

    /// Replaces `table inet <table.name>` with `table` in ONE batch: on any
    /// error the table in force is left exactly as it was.
    pub fn replace(&mut self, table: &Table, ownership: Ownership) -> Result<(), ApplyError> {
        let _ = (table, ownership);
        Err(std::io::Error::other("not implemented yet").into())
    }

    /// The comment of `table inet <name>` in force: `Ok(None)` when the
    /// table does not exist, `Some("")` when it has no comment.
    pub fn current_comment(&mut self, name: &str) -> Result<Option<String>, ApplyError> {
        let _ = name;
        Err(std::io::Error::other("not implemented yet").into())
    }

    /// Whether the last `replace` with [`Ownership::Owned`] really set the
    /// owner and persist flags (false on kernels before 6.9).
    pub fn owned(&self) -> bool {
        false
    }

    /// This socket's netlink port id: changes it makes carry it.
    pub fn port_id(&self) -> u32 {
        0
    }
}

/// Notifications of nftables changes (multicast group NFNLGRP_NFTABLES),
/// to notice when someone else changes or deletes the table. Non-blocking:
/// poll its fd (e.g. with tokio's `AsyncFd`) and call [`Watcher::drain`].
pub struct Watcher {
    fd: RawFd,
}

impl Watcher {
    pub fn open() -> Result<Self, ApplyError> {
        Err(std::io::Error::other("not implemented yet").into())
    }

    /// Reads every pending notification. True when one of them touched
    /// `table inet <table>` and came from another socket than `own_port`,
    /// or when notifications were lost (the caller should then check).
    pub fn drain(&mut self, table: &str, own_port: u32) -> Result<bool, ApplyError> {
        let _ = (table, own_port);
        Ok(false)
    }
}

impl AsRawFd for Watcher {
    fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}
