//! Self-confinement at start-up, so a daemon stays confined even when it
//! is started outside systemd (whose unit adds its own sandbox on top):
//! drop every capability but the ones it needs, and restrict its file
//! system access with Landlock where the kernel supports it.

pub mod threads;

use std::path::{Path, PathBuf};

use caps::{CapSet, Capability, CapsHashSet};
use landlock::{
    ABI, Access, AccessFs, CompatLevel, Compatible, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetStatus, path_beneath_rules,
};

#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    #[error("cannot drop capabilities: {0}")]
    Capabilities(String),
    #[error("cannot apply Landlock rules: {0}")]
    Landlock(String),
}

/// Keeps only `keep` in the effective, permitted and inheritable sets,
/// clears the ambient set, and (when allowed) the bounding set.
pub fn drop_capabilities(keep: &[Capability]) -> Result<(), ConfineError> {
    let keep: CapsHashSet = keep.iter().copied().collect();
    let err = |e: caps::errors::CapsError| ConfineError::Capabilities(e.to_string());
    // Under systemd with an empty CapabilityBoundingSet there is nothing to
    // drop: make no capset call a syscall filter might refuse.
    let held = |set| caps::read(None, set).map(|s| s.iter().all(|c| keep.contains(c)));
    if held(CapSet::Permitted).map_err(err)?
        && held(CapSet::Inheritable).map_err(err)?
        && caps::read(None, CapSet::Ambient).map_err(err)?.is_empty()
        && caps::read(None, CapSet::Bounding)
            .map_err(err)?
            .iter()
            .all(|c| keep.contains(c))
    {
        return Ok(());
    }
    // Bounding first: removing from it needs CAP_SETPCAP, which we may be
    // about to drop. Without CAP_SETPCAP the bounding set stays as is.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::all() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(err)?;
            }
        }
    }
    caps::clear(None, CapSet::Ambient).map_err(err)?;
    caps::set(None, CapSet::Inheritable, &CapsHashSet::new()).map_err(err)?;
    let permitted: CapsHashSet = caps::read(None, CapSet::Permitted)
        .map_err(err)?
        .intersection(&keep)
        .copied()
        .collect();
    caps::set(None, CapSet::Effective, &permitted).map_err(err)?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(err)?;
    Ok(())
}

/// File-system access the daemon keeps; everything else is denied.
#[derive(Clone, Debug, Default)]
pub struct FileAccess {
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

/// How far the kernel honoured the rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enforcement {
    Full,
    Partial,
    /// The kernel has no Landlock: only the systemd sandbox applies.
    None,
}

/// Restricts this process (and its future threads and children) to
/// `access`. Paths that do not exist are skipped.
pub fn restrict_files(access: &FileAccess) -> Result<Enforcement, ConfineError> {
    let abi = ABI::V5;
    let err = |e: landlock::RulesetError| ConfineError::Landlock(e.to_string());
    let existing = |paths: &[PathBuf]| -> Vec<PathBuf> {
        paths
            .iter()
            .filter(|p| Path::new(p).exists())
            .cloned()
            .collect()
    };
    let status = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))
        .map_err(err)?
        .create()
        .map_err(err)?
        .add_rules(path_beneath_rules(
            existing(&access.read),
            AccessFs::from_read(abi),
        ))
        .map_err(err)?
        .add_rules(path_beneath_rules(
            existing(&access.write),
            AccessFs::from_all(abi),
        ))
        .map_err(err)?
        .restrict_self()
        .map_err(err)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => Enforcement::Full,
        RulesetStatus::PartiallyEnforced => Enforcement::Partial,
        RulesetStatus::NotEnforced => Enforcement::None,
    })
}
