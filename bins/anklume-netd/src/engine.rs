//! The daemon's state: one netlink socket for its whole life (with
//! `Ownership::Owned` the table belongs to that socket), the table last
//! applied, and what the D-Bus properties show. Callers serialise access
//! (one lock around the engine), so applies never interleave.

use std::path::PathBuf;

use anklume_netpolicy::TABLE;
use anklume_nft::{ApplyError, Netlink, Ownership};

use anklume_infra::Infra;

use crate::plan::{Planned, build, host_links, load_infra};

/// What the D-Bus properties show.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// The last apply succeeded: the ruleset of the infra as last read is
    /// in force.
    pub applied: bool,
    /// The table in force (last applied), empty before the first apply.
    pub hash: String,
    pub domains: u32,
    pub policies: u32,
    /// Unix µs of the last write to the kernel; 0: never.
    pub last_applied: u64,
    /// Why the last apply (or repair) failed; empty after a success.
    pub last_error: String,
}

/// Why an apply did not happen; the table in force is left as it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    InvalidInfra(String),
    Netlink(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::InvalidInfra(m) | Failure::Netlink(m) => f.write_str(m),
        }
    }
}

/// What an apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Install {
    /// The table in force already was this one.
    Unchanged,
    /// It was this one, now owned by this daemon (first apply after a
    /// restart).
    Adopted,
    /// The table in force changed.
    Replaced,
}

pub struct Engine {
    pub infra: PathBuf,
    pub firewall_vm: bool,
    ownership: Ownership,
    /// Opened at start; re-tried at each apply when opening failed.
    netlink: Option<Netlink>,
    /// A replace with `Ownership::Owned` succeeded on this socket.
    adopted: bool,
    /// The table last applied: what drift repair restores.
    good: Option<Planned>,
    /// The infra last applied: its table is rebuilt when the host's
    /// interfaces or uplinks change.
    good_infra: Option<Infra>,
    /// The last apply succeeded (a failed repair does not change this).
    apply_ok: bool,
    pub status: Status,
}

impl Engine {
    pub fn new(infra: PathBuf, firewall_vm: bool, ownership: Ownership) -> Self {
        let mut engine = Self {
            infra,
            firewall_vm,
            ownership,
            netlink: None,
            adopted: false,
            good: None,
            good_infra: None,
            apply_ok: false,
            status: Status::default(),
        };
        if let Err(e) = engine.netlink() {
            eprintln!("anklume-netd: {e}");
        }
        engine
    }

    fn netlink(&mut self) -> Result<&mut Netlink, ApplyError> {
        if self.netlink.is_none() {
            self.netlink = Some(Netlink::open()?);
        }
        Ok(self.netlink.as_mut().expect("opened above"))
    }

    /// The netlink port of our own changes (0 before the socket opens).
    pub fn port_id(&self) -> u32 {
        self.netlink.as_ref().map_or(0, Netlink::port_id)
    }

    /// Re-reads the infra and makes its table the one in force. On error
    /// nothing in the kernel changes and `status.last_error` says why.
    pub fn apply(&mut self) -> Result<Install, Failure> {
        let result = self.plan().and_then(|(planned, infra)| {
            let install = self
                .install(&planned)
                .map_err(|e| Failure::Netlink(e.to_string()))?;
            self.status.hash.clone_from(&planned.hash);
            self.status.domains = planned.domains;
            self.status.policies = planned.policies;
            self.good = Some(planned);
            self.good_infra = Some(infra);
            Ok(install)
        });
        self.apply_ok = result.is_ok();
        match &result {
            Ok(_) => {
                self.status.applied = true;
                self.status.last_error.clear();
            }
            Err(e) => {
                self.status.applied = false;
                self.status.last_error = e.to_string();
            }
        }
        result
    }

    fn plan(&self) -> Result<(Planned, Infra), Failure> {
        let infra = load_infra(&self.infra).map_err(|e| Failure::InvalidInfra(e.to_string()))?;
        let host = host_links(self.firewall_vm).map_err(|e| Failure::Netlink(e.to_string()))?;
        Ok((build(&infra, self.firewall_vm, &host), infra))
    }

    /// When the host's interfaces or uplinks changed the table of the
    /// infra last applied (an uplink came or went, a leftover `net-*`
    /// bridge appeared), applies the new table. `Ok(None)`: nothing to do;
    /// `Ok(Some(hash))`: applied. On error the table in force stays.
    pub fn refresh_host(&mut self) -> Result<Option<String>, String> {
        let Some(infra) = &self.good_infra else {
            return Ok(None);
        };
        let result = host_links(self.firewall_vm)
            .map_err(|e| e.to_string())
            .map(|host| build(infra, self.firewall_vm, &host));
        let planned = match result {
            Ok(planned) if self.good.as_ref().map(|g| &g.hash) == Some(&planned.hash) => {
                return Ok(None);
            }
            Ok(planned) => planned,
            Err(e) => {
                self.status.last_error.clone_from(&e);
                return Err(e);
            }
        };
        match self.install(&planned) {
            Ok(_) => {
                self.status.hash.clone_from(&planned.hash);
                let hash = planned.hash.clone();
                self.good = Some(planned);
                if self.apply_ok {
                    self.status.last_error.clear();
                }
                Ok(Some(hash))
            }
            Err(e) => {
                let message = format!("cannot apply the table for the host's new interfaces: {e}");
                self.status.last_error.clone_from(&message);
                Err(message)
            }
        }
    }

    fn install(&mut self, planned: &Planned) -> Result<Install, ApplyError> {
        let must_adopt = self.ownership == Ownership::Owned && !self.adopted;
        let ownership = self.ownership;
        let netlink = self.netlink()?;
        let equal = netlink.current_comment(TABLE)?.as_deref() == Some(planned.comment());
        if equal && !must_adopt {
            return Ok(Install::Unchanged);
        }
        netlink.replace(&planned.table, ownership)?;
        if ownership == Ownership::Owned {
            if !netlink.owned() {
                eprintln!(
                    "anklume-netd: this kernel cannot make the table owned (Linux >= 6.9); \
                     the drift check restores it instead"
                );
            }
            self.adopted = true;
        }
        self.status.last_applied = now_us();
        Ok(if equal {
            Install::Adopted
        } else {
            Install::Replaced
        })
    }

    /// When the table in force is not the one last applied (deleted,
    /// flushed, changed by someone else), applies it again. `Ok(None)`:
    /// nothing to do; `Ok(Some(hash))`: restored.
    pub fn repair(&mut self) -> Result<Option<String>, String> {
        let Some(good) = self.good.clone() else {
            // Nothing applied yet: the table in force (if any) stays.
            return Ok(None);
        };
        let ownership = self.ownership;
        let result = (|| {
            let netlink = self.netlink()?;
            if netlink.current_comment(TABLE)?.as_deref() == Some(good.comment()) {
                return Ok(false);
            }
            netlink.replace(&good.table, ownership)?;
            Ok::<_, ApplyError>(true)
        })();
        match result {
            Ok(false) => Ok(None),
            Ok(true) => {
                self.status.last_applied = now_us();
                if self.apply_ok {
                    // Back to what the last apply put in force.
                    self.status.applied = true;
                    self.status.last_error.clear();
                }
                Ok(Some(good.hash))
            }
            Err(e) => {
                let message = format!("cannot restore table inet {TABLE}: {e}");
                self.status.applied = false;
                self.status.last_error.clone_from(&message);
                Err(message)
            }
        }
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
