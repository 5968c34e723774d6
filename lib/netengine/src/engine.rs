//! The state machine that keeps the infra's table in force: apply (the
//! infra as it is now), adopt (the first apply after a restart takes the
//! table over in the batch that replaces it, so no window opens), repair
//! (someone else changed or deleted the table), follow the host's links,
//! withdraw (delete the table on request and keep none until the next
//! apply), and fail closed (an invalid infra or a refused batch leaves the table
//! in force as it was). Callers serialise access (one lock around the
//! engine), so applies never interleave.

use std::sync::Arc;

use anklume_netpolicy::TABLE;
use anklume_nft::{ApplyError, Ownership};

use crate::kernel::Kernel;
use crate::plan::{Plan, PlanError, Planned};
use crate::planner::Planner;

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
    /// Why the last apply (or repair) failed; empty after a success;
    /// [`WITHDRAWN`] after a withdrawal.
    pub last_error: String,
    /// The table was withdrawn on request and none is kept until the next
    /// successful apply.
    pub withdrawn: bool,
}

/// `last_error` after a withdrawal.
pub const WITHDRAWN: &str = "withdrawn on request: no table inet anklume is kept \
     until the next Apply or reload";

/// Why an apply, a refresh or a repair did not happen; the table in force
/// is left as it was.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// No table to apply: the infra, or the host's links, cannot be read.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The kernel refused the batch (or netlink failed).
    #[error(transparent)]
    Kernel(ApplyError),
    #[error("cannot apply the table for the host's new interfaces: {0}")]
    Refresh(ApplyError),
    #[error("cannot restore table inet {TABLE}: {0}")]
    Restore(ApplyError),
    #[error("cannot withdraw table inet {TABLE}, it stays in force: {0}")]
    Withdraw(ApplyError),
}

/// What an apply did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Install {
    /// The table in force already was this one.
    Unchanged,
    /// It was this one, now owned by this engine (first apply after a
    /// restart).
    Adopted,
    /// The table in force changed.
    Replaced,
}

pub struct Engine {
    kernel: Box<dyn Kernel>,
    planner: Arc<Planner>,
    ownership: Ownership,
    /// A replace with `Ownership::Owned` succeeded on this socket.
    adopted: bool,
    /// The table (and infra) last applied: what drift repair restores,
    /// and what a change of the host's links rebuilds.
    good: Option<Arc<Plan>>,
    /// The last apply succeeded (a failed repair does not change this).
    apply_ok: bool,
    status: Status,
}

impl Engine {
    pub fn new(kernel: Box<dyn Kernel>, planner: Arc<Planner>, ownership: Ownership) -> Self {
        Self {
            kernel,
            planner,
            ownership,
            adopted: false,
            good: None,
            apply_ok: false,
            status: Status::default(),
        }
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    pub fn planner(&self) -> &Arc<Planner> {
        &self.planner
    }

    /// The netlink port of our own changes.
    pub fn port_id(&self) -> u32 {
        self.kernel.port_id()
    }

    /// Whether the table is this engine's (owner flag honoured).
    pub fn owned(&self) -> bool {
        self.kernel.owned()
    }

    /// Re-reads the infra and makes its table the one in force. On error
    /// nothing in the kernel changes and `status.last_error` says why.
    pub fn apply(&mut self) -> Result<Install, Failure> {
        let result = self.planner.plan().map_err(Failure::Plan).and_then(|plan| {
            let install = self.install(&plan.planned).map_err(Failure::Kernel)?;
            self.status.hash.clone_from(&plan.planned.hash);
            self.status.domains = plan.planned.domains;
            self.status.policies = plan.planned.policies;
            self.good = Some(plan);
            Ok(install)
        });
        self.apply_ok = result.is_ok();
        match &result {
            Ok(_) => {
                self.status.applied = true;
                self.status.withdrawn = false;
                self.status.last_error.clear();
            }
            Err(e) => {
                self.status.applied = false;
                self.status.last_error = e.to_string();
            }
        }
        result
    }

    /// When the host's links changed the table of the infra last applied
    /// (an uplink came or went, a leftover `net-*` bridge appeared),
    /// applies the new table. `Ok(None)`: nothing to do (nothing written);
    /// `Ok(Some(hash))`: applied. On error the table in force stays.
    pub fn refresh_host(&mut self) -> Result<Option<String>, Failure> {
        let Some(good) = &self.good else {
            return Ok(None);
        };
        let links = match self.planner.links() {
            Ok(links) => links,
            Err(e) => {
                self.status.last_error = e.to_string();
                return Err(e.into());
            }
        };
        if links == good.links {
            return Ok(None);
        }
        let plan = Arc::new(Plan::new(
            Arc::clone(&good.infra),
            links,
            self.planner.firewall_vm(),
        ));
        if plan.planned.hash == good.planned.hash {
            // Links that do not touch the table (another interface).
            self.good = Some(plan);
            return Ok(None);
        }
        match self.install(&plan.planned) {
            Ok(_) => {
                self.status.hash.clone_from(&plan.planned.hash);
                let hash = plan.planned.hash.clone();
                self.good = Some(plan);
                if self.apply_ok {
                    self.status.last_error.clear();
                }
                Ok(Some(hash))
            }
            Err(e) => {
                let failure = Failure::Refresh(e);
                self.status.last_error = failure.to_string();
                Err(failure)
            }
        }
    }

    /// Deletes the table in force and keeps none: drift repair and the
    /// host's links put nothing back until the next successful
    /// [`Engine::apply`]. `Ok(true)`: deleted; `Ok(false)`: there was none
    /// (withdrawn all the same). On error the table, and all of this
    /// engine's state, stay as they were.
    pub fn withdraw(&mut self) -> Result<bool, Failure> {
        let deleted = self.kernel.delete(TABLE).map_err(Failure::Withdraw)?;
        self.good = None;
        self.apply_ok = false;
        self.status = Status {
            applied: false,
            hash: String::new(),
            domains: 0,
            policies: 0,
            last_applied: if deleted {
                now_us()
            } else {
                self.status.last_applied
            },
            last_error: WITHDRAWN.to_owned(),
            withdrawn: true,
        };
        Ok(deleted)
    }

    fn install(&mut self, planned: &Planned) -> Result<Install, ApplyError> {
        let must_adopt = self.ownership == Ownership::Owned && !self.adopted;
        let equal = self.kernel.comment(TABLE)?.as_deref() == Some(planned.comment());
        if equal && !must_adopt {
            return Ok(Install::Unchanged);
        }
        self.kernel.replace(&planned.table, self.ownership)?;
        if self.ownership == Ownership::Owned {
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
    pub fn repair(&mut self) -> Result<Option<String>, Failure> {
        let Some(good) = self.good.clone() else {
            // Nothing applied yet: the table in force (if any) stays.
            return Ok(None);
        };
        let result = (|| {
            if self.kernel.comment(TABLE)?.as_deref() == Some(good.planned.comment()) {
                return Ok(false);
            }
            self.kernel.replace(&good.planned.table, self.ownership)?;
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
                Ok(Some(good.planned.hash.clone()))
            }
            Err(e) => {
                let failure = Failure::Restore(e);
                self.status.applied = false;
                self.status.last_error = failure.to_string();
                Err(failure)
            }
        }
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
