//! What the engine needs from the kernel: the nftables table (its
//! identity, replacing it in one batch, ownership, the port of our own
//! changes) and the host's links. The netlink implementations are here;
//! the in-memory ones in [`crate::memory`].

use anklume_hostnet::HostLinks;
use anklume_nft::ir::Table;
use anklume_nft::{ApplyError, Netlink, Ownership};

/// The nftables side of the kernel, as one socket sees it.
pub trait Kernel: Send {
    /// The comment of `table inet <name>` in force (the ruleset's
    /// identity); `None` when there is no such table.
    fn comment(&mut self, name: &str) -> Result<Option<String>, ApplyError>;
    /// Replaces (or creates) the table in one batch: all of it or nothing,
    /// the previous table staying in force on error.
    fn replace(&mut self, table: &Table, ownership: Ownership) -> Result<(), ApplyError>;
    /// Deletes `table inet <name>` in one batch: true when it was there;
    /// refused when another socket owns it (the table stays).
    fn delete(&mut self, name: &str) -> Result<bool, ApplyError>;
    /// Whether the last owned replace made the table this socket's (false
    /// on kernels without the owner flag, Linux < 6.9).
    fn owned(&self) -> bool;
    /// The netlink port of this socket: change notifications from it are
    /// our own (0 before it is open).
    fn port_id(&self) -> u32;
}

/// The host's interfaces and uplinks, read when a table is planned.
pub trait Links: Send + Sync {
    fn read(&self) -> Result<HostLinks, anklume_hostnet::Error>;
}

/// A NETLINK_NETFILTER socket kept for the engine's whole life (an owned
/// table belongs to it); opened again at the next use when opening failed.
#[derive(Default)]
pub struct NetlinkKernel {
    socket: Option<Netlink>,
}

impl NetlinkKernel {
    /// Opens the socket now, so its port is known before the first apply.
    pub fn open(&mut self) -> Result<(), ApplyError> {
        self.socket().map(|_| ())
    }

    fn socket(&mut self) -> Result<&mut Netlink, ApplyError> {
        if self.socket.is_none() {
            self.socket = Some(Netlink::open()?);
        }
        Ok(self.socket.as_mut().expect("opened above"))
    }
}

impl Kernel for NetlinkKernel {
    fn comment(&mut self, name: &str) -> Result<Option<String>, ApplyError> {
        self.socket()?.current_comment(name)
    }

    fn replace(&mut self, table: &Table, ownership: Ownership) -> Result<(), ApplyError> {
        self.socket()?.replace(table, ownership)
    }

    fn delete(&mut self, name: &str) -> Result<bool, ApplyError> {
        self.socket()?.delete(name)
    }

    fn owned(&self) -> bool {
        self.socket.as_ref().is_some_and(Netlink::owned)
    }

    fn port_id(&self) -> u32 {
        self.socket.as_ref().map_or(0, Netlink::port_id)
    }
}

/// The caller's network namespace, over rtnetlink.
pub struct SystemLinks;

impl Links for SystemLinks {
    fn read(&self) -> Result<HostLinks, anklume_hostnet::Error> {
        anklume_hostnet::read()
    }
}
