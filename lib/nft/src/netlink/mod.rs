//! Applying a [`Table`] over netlink (NETLINK_NETFILTER) in one batch.
#![allow(unsafe_code)] // libnftnl FFI for what the nftnl crate lacks; see expr.rs

mod expr;
mod objects;
mod socket;
mod watch;

use std::ffi::CString;

use nftnl::nftnl_sys::libc;
use nftnl::{Batch, Chain, ChainType, Hook, MsgType, Policy, ProtoFamily, Rule};

use crate::ir::{self, Table};
use objects::{SetMsg, TABLE_F_OWNER, TABLE_F_PERSIST, TableMsg};
use socket::Socket;
pub use watch::Watcher;

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
/// [`Ownership::Owned`], keep it open as long as the table must stay owned:
/// only this socket may change the table then.
pub struct Netlink {
    socket: Socket,
    owned: bool,
}

impl Netlink {
    pub fn open() -> Result<Self, ApplyError> {
        Ok(Netlink {
            socket: Socket::open()?,
            owned: false,
        })
    }

    /// Replaces `table inet <table.name>` with `table` in ONE batch: on any
    /// error the table in force is left exactly as it was.
    pub fn replace(&mut self, table: &Table, ownership: Ownership) -> Result<(), ApplyError> {
        let mut flags = match ownership {
            Ownership::Shared => 0,
            Ownership::Owned => TABLE_F_OWNER | TABLE_F_PERSIST,
        };
        let mut retried = false;
        loop {
            let current = self.socket.table(&table.name)?;
            if let Some(owner) = current.as_ref().and_then(|t| t.owner)
                && owner != self.port_id()
            {
                return Err(ApplyError::OwnedByOther(table.name.clone()));
            }
            match self.send(table, flags, current.is_some()) {
                Ok(()) => {
                    self.owned = flags & TABLE_F_OWNER != 0;
                    return Ok(());
                }
                Err(ApplyError::Rejected(r)) if retried => return Err(ApplyError::Rejected(r)),
                // A kernel before 6.9 has no `persist`: an owned table
                // would vanish with this process, so stay shared.
                Err(ApplyError::Rejected(r))
                    if flags != 0 && r.iter().any(|r| r.errno == libc::EOPNOTSUPP) =>
                {
                    flags = 0;
                }
                // Deleted by someone else between the query and the batch.
                Err(ApplyError::Rejected(r)) if r.iter().any(|r| r.errno == libc::ENOENT) => {}
                Err(ApplyError::Rejected(r)) if r.iter().any(|r| r.errno == libc::EPERM) => {
                    return Err(ApplyError::OwnedByOther(table.name.clone()));
                }
                Err(e) => return Err(e),
            }
            retried = true;
        }
    }

    fn send(&mut self, table: &Table, flags: u32, exists: bool) -> Result<(), ApplyError> {
        let mut batch = Batch::new();
        let mut labels = Vec::new();
        let name = &table.name;
        if exists {
            batch.add(&TableMsg::new(name, 0, None), MsgType::Del);
            labels.push(format!("delete table inet {name}"));
        }
        batch.add(
            &TableMsg::new(name, flags, table.comment.as_deref()),
            MsgType::Add,
        );
        labels.push(format!("add table inet {name}"));

        let set_id = |set: &str| {
            table
                .sets
                .iter()
                .position(|s| s.name == set)
                .map_or(0, |i| i as u32 + 1)
        };
        let sets: Vec<SetMsg> = table
            .sets
            .iter()
            .enumerate()
            .map(|(i, set)| SetMsg::new(name, i as u32 + 1, set))
            .collect();
        for (set, msg) in table.sets.iter().zip(&sets) {
            batch.add(msg, MsgType::Add);
            labels.push(format!("add set {}", set.name));
            let elements = msg.elements();
            while elements.more() {
                batch.add(&elements, MsgType::Add);
                labels.push(format!("add elements to set {}", set.name));
            }
        }

        let parent = nftnl::Table::new(c_string(name), ProtoFamily::Inet);
        for chain in &table.chains {
            let mut nl_chain = Chain::new(c_string(&chain.name), &parent);
            let hook = match chain.hook {
                ir::Hook::Input => Hook::In,
                ir::Hook::Forward => Hook::Forward,
                ir::Hook::Output => Hook::Out,
            };
            nl_chain.set_hook(hook, chain.priority);
            nl_chain.set_type(ChainType::Filter);
            nl_chain.set_policy(match chain.policy {
                ir::Verdict::Accept => Policy::Accept,
                ir::Verdict::Drop => Policy::Drop,
            });
            batch.add(&nl_chain, MsgType::Add);
            labels.push(format!("add chain {}", chain.name));
            for (n, rule) in chain.rules.iter().enumerate() {
                let mut nl_rule = Rule::new(&nl_chain);
                for e in expr::rule(rule, set_id) {
                    nl_rule.add_expr(&e);
                }
                batch.add(&nl_rule, MsgType::Add);
                labels.push(format!(
                    "add rule {} #{}: {}",
                    chain.name,
                    n + 1,
                    crate::text::rule(rule)
                ));
            }
        }
        self.socket.send_batch(&batch.finalize(), &labels)
    }

    /// Deletes `table inet <name>` in one batch: `Ok(true)` when it was
    /// deleted, `Ok(false)` when there was none (or someone else deleted
    /// it first). A table owned by another socket is refused
    /// ([`ApplyError::OwnedByOther`]) and stays.
    pub fn delete(&mut self, name: &str) -> Result<bool, ApplyError> {
        let Some(current) = self.socket.table(name)? else {
            return Ok(false);
        };
        if let Some(owner) = current.owner
            && owner != self.port_id()
        {
            return Err(ApplyError::OwnedByOther(name.to_owned()));
        }
        let mut batch = Batch::new();
        batch.add(&TableMsg::new(name, 0, None), MsgType::Del);
        let labels = [format!("delete table inet {name}")];
        match self.socket.send_batch(&batch.finalize(), &labels) {
            Ok(()) => {
                self.owned = false;
                Ok(true)
            }
            Err(ApplyError::Rejected(r)) if r.iter().any(|r| r.errno == libc::ENOENT) => Ok(false),
            Err(ApplyError::Rejected(r)) if r.iter().any(|r| r.errno == libc::EPERM) => {
                Err(ApplyError::OwnedByOther(name.to_owned()))
            }
            Err(e) => Err(e),
        }
    }

    /// The comment of `table inet <name>` in force: `Ok(None)` when the
    /// table does not exist, `Some("")` when it has no comment.
    pub fn current_comment(&mut self, name: &str) -> Result<Option<String>, ApplyError> {
        Ok(self
            .socket
            .table(name)?
            .map(|t| t.comment.unwrap_or_default()))
    }

    /// Whether the last `replace` with [`Ownership::Owned`] really set the
    /// owner and persist flags (false on kernels before 6.9).
    pub fn owned(&self) -> bool {
        self.owned
    }

    /// This socket's netlink port id: changes it makes carry it.
    pub fn port_id(&self) -> u32 {
        self.socket.port_id()
    }
}

fn c_string(name: &str) -> CString {
    CString::new(name).expect("nftables names have no NUL")
}
