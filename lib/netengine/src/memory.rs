//! The kernel in memory: one nftables table that sockets replace, own and
//! read (and delete), and fixed host links. For the engine's tests and for
//! `anklume-netd serve --sim` (no root, no netlink). Ownership behaves as
//! on Linux ≥ 6.9 with `owner` + `persist`: only the owning socket may
//! change the table, which outlives it until another socket adopts it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use anklume_hostnet::HostLinks;
use anklume_nft::ir::Table;
use anklume_nft::{ApplyError, Ownership, Rejection};

use crate::kernel::{Kernel, Links};

/// The kernel's nftables, shared by its sockets (cheap to clone).
#[derive(Clone, Debug, Default)]
pub struct MemoryNft {
    state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
struct State {
    table: Option<Table>,
    /// The port of the socket that owns the table.
    owner: Option<u32>,
    /// Every batch is refused with this reason while set.
    refuse: Option<String>,
    /// Batches committed.
    writes: u64,
}

static NEXT_PORT: AtomicU32 = AtomicU32::new(1);

impl MemoryNft {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new socket (a new port), as a process opens one.
    pub fn socket(&self) -> MemorySocket {
        MemorySocket {
            nft: self.clone(),
            port: NEXT_PORT.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// The table in force.
    pub fn table(&self) -> Option<Table> {
        self.state().table.clone()
    }

    pub fn comment(&self) -> Option<String> {
        self.state().table.as_ref().and_then(|t| t.comment.clone())
    }

    /// The port of the owning socket, if the table is owned.
    pub fn owner(&self) -> Option<u32> {
        self.state().owner
    }

    /// How many batches were committed.
    pub fn writes(&self) -> u64 {
        self.state().writes
    }

    /// While `Some`, every batch is refused with that reason (`EINVAL`).
    pub fn refuse(&self, reason: Option<&str>) {
        self.state().refuse = reason.map(str::to_owned);
    }

    /// Someone else replaces (`Some`) or deletes (`None`) the table, as
    /// `nft` would: refused (false) while a socket owns it.
    pub fn tamper(&self, table: Option<Table>) -> bool {
        let mut state = self.state();
        if state.owner.is_some() {
            return false;
        }
        state.table = table;
        true
    }
}

/// One socket on a [`MemoryNft`]; closing it (drop) gives up ownership,
/// and the table stays.
#[derive(Debug)]
pub struct MemorySocket {
    nft: MemoryNft,
    port: u32,
}

impl Kernel for MemorySocket {
    fn comment(&mut self, name: &str) -> Result<Option<String>, ApplyError> {
        let state = self.nft.state();
        Ok(state
            .table
            .as_ref()
            .filter(|t| t.name == name)
            .and_then(|t| t.comment.clone()))
    }

    fn replace(&mut self, table: &Table, ownership: Ownership) -> Result<(), ApplyError> {
        let mut state = self.nft.state();
        if state.owner.is_some_and(|owner| owner != self.port) {
            return Err(ApplyError::OwnedByOther(table.name.clone()));
        }
        if let Some(reason) = &state.refuse {
            return Err(ApplyError::Rejected(vec![Rejection {
                what: format!("add table inet {}", table.name),
                errno: libc_einval(),
                message: Some(reason.clone()),
            }]));
        }
        state.table = Some(table.clone());
        state.owner = (ownership == Ownership::Owned).then_some(self.port);
        state.writes += 1;
        Ok(())
    }

    fn delete(&mut self, name: &str) -> Result<bool, ApplyError> {
        let mut state = self.nft.state();
        if state.table.as_ref().is_none_or(|t| t.name != name) {
            return Ok(false);
        }
        if state.owner.is_some_and(|owner| owner != self.port) {
            return Err(ApplyError::OwnedByOther(name.to_owned()));
        }
        if let Some(reason) = &state.refuse {
            return Err(ApplyError::Rejected(vec![Rejection {
                what: format!("delete table inet {name}"),
                errno: libc_einval(),
                message: Some(reason.clone()),
            }]));
        }
        state.table = None;
        state.owner = None;
        state.writes += 1;
        Ok(true)
    }

    fn owned(&self) -> bool {
        self.nft.state().owner == Some(self.port)
    }

    fn port_id(&self) -> u32 {
        self.port
    }
}

impl Drop for MemorySocket {
    fn drop(&mut self) {
        let mut state = self.nft.state();
        if state.owner == Some(self.port) {
            state.owner = None;
        }
    }
}

const fn libc_einval() -> i32 {
    22
}

/// Host links that change only when told to.
#[derive(Debug, Default)]
pub struct FixedLinks {
    links: Mutex<HostLinks>,
}

impl FixedLinks {
    pub fn new(links: HostLinks) -> Self {
        Self {
            links: Mutex::new(links),
        }
    }

    /// A host with a loopback interface only (what a fresh network
    /// namespace has): no uplink, no leftover bridge.
    pub fn loopback() -> Self {
        Self::new(HostLinks {
            names: ["lo".to_owned()].into(),
            uplinks: Default::default(),
        })
    }

    pub fn set(&self, links: HostLinks) {
        *self.links.lock().unwrap_or_else(PoisonError::into_inner) = links;
    }
}

impl Links for FixedLinks {
    fn read(&self) -> Result<HostLinks, anklume_hostnet::Error> {
        Ok(self
            .links
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone())
    }
}
