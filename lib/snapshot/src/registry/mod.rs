//! The tag on snapshots anklume-snapd made automatically (scheduled and
//! safety snapshots): Incus snapshots carry no description or label, so
//! the daemon keeps their list in its state directory. `Prune` only ever
//! deletes snapshots found here with the same creation time, so a user's
//! own snapshot is never touched, even one with a look-alike name.
//!
//! Write-ahead: a snapshot is recorded as *pending* before Incus is asked
//! for it, and completed (with its creation time) after. A daemon killed
//! in between leaves the intent, which [`crate::Engine::reconcile`]
//! settles against Incus, so retention never loses a snapshot it started.

mod file;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use file::{Recovered, RegistryError};

/// A snapshot anklume made: where, what, and when (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tagged {
    pub project: String,
    pub instance: String,
    pub name: String,
    pub created: i64,
}

/// A snapshot anklume is about to ask Incus for, since `since` (unix s).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Intent {
    pub project: String,
    pub instance: String,
    pub name: String,
    pub since: i64,
}

/// Creation times within this many seconds are the same snapshot (Incus
/// reports the time with more precision than the registry keeps).
const SAME_TIME: i64 = 2;

impl Tagged {
    pub fn matches(&self, project: &str, instance: &str, name: &str, created: i64) -> bool {
        self.project == project
            && self.instance == instance
            && self.name == name
            && (self.created - created).abs() <= SAME_TIME
    }
}

impl Intent {
    pub fn is_on(&self, project: &str, instance: &str) -> bool {
        self.project == project && self.instance == instance
    }

    /// Whether a snapshot Incus has is the one this intent asked for:
    /// same name, made no earlier than the intent.
    pub fn made(&self, name: &str, created: i64) -> bool {
        self.name == name && created >= self.since - SAME_TIME
    }

    pub fn into_tagged(self, created: i64) -> Tagged {
        Tagged {
            project: self.project,
            instance: self.instance,
            name: self.name,
            created,
        }
    }
}

/// The registry, `<state dir>/snapshots.json`, saved durably (fsync of the
/// file and of its directory around an atomic rename) at each change.
#[derive(Debug, Default)]
pub struct Registry {
    path: Option<PathBuf>,
    entries: BTreeSet<Tagged>,
    pending: BTreeSet<Intent>,
}

/// A registry just opened, and whether an unreadable one was moved aside.
#[derive(Debug)]
pub struct Opened {
    pub registry: Registry,
    pub recovered: Option<Recovered>,
}

impl Registry {
    /// The registry of `state_dir` (empty when absent). An unreadable file
    /// (empty, truncated, garbled) is moved aside and the registry starts
    /// empty; a file of an unknown version is refused.
    pub fn open(state_dir: &Path) -> Result<Opened, RegistryError> {
        let path = state_dir.join(file::FILE_NAME);
        let (content, recovered) = file::load(&path)?;
        Ok(Opened {
            registry: Self {
                path: Some(path),
                entries: content.snapshots,
                pending: content.pending,
            },
            recovered,
        })
    }

    /// A registry kept in memory only (tests, `--sim`).
    pub fn in_memory() -> Self {
        Self::default()
    }

    pub fn entries(&self) -> impl Iterator<Item = &Tagged> {
        self.entries.iter()
    }

    pub fn pending(&self) -> impl Iterator<Item = &Intent> {
        self.pending.iter()
    }

    /// Every instance with a tag or an intent, once each, sorted.
    pub fn instances(&self) -> Vec<crate::InstanceRef> {
        let tagged = self.entries.iter().map(|t| (&t.project, &t.instance));
        let pending = self.pending.iter().map(|i| (&i.project, &i.instance));
        let set: BTreeSet<crate::InstanceRef> = tagged
            .chain(pending)
            .map(|(project, instance)| crate::InstanceRef {
                project: project.clone(),
                instance: instance.clone(),
            })
            .collect();
        set.into_iter().collect()
    }

    pub fn is_tagged(&self, project: &str, instance: &str, name: &str, created: i64) -> bool {
        self.entries
            .iter()
            .any(|t| t.matches(project, instance, name, created))
    }

    pub fn insert(&mut self, tagged: Tagged) -> Result<(), RegistryError> {
        self.entries.insert(tagged);
        self.save()
    }

    /// Records, durably, that `intent` is about to be asked of Incus.
    pub fn intend(&mut self, intent: Intent) -> Result<(), RegistryError> {
        self.pending.insert(intent);
        self.save()
    }

    /// The snapshot of `intent` exists, made at `created`.
    pub fn complete(&mut self, intent: &Intent, created: i64) -> Result<(), RegistryError> {
        self.pending.remove(intent);
        self.entries.insert(intent.clone().into_tagged(created));
        self.save()
    }

    /// The snapshot of `intent` was never made.
    pub fn abandon(&mut self, intent: &Intent) -> Result<(), RegistryError> {
        if self.pending.remove(intent) {
            self.save()?;
        }
        Ok(())
    }

    /// Forgets every entry `keep` rejects.
    pub fn retain(&mut self, keep: impl FnMut(&Tagged) -> bool) -> Result<(), RegistryError> {
        let before = self.entries.len();
        self.entries.retain(keep);
        if self.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> Result<(), RegistryError> {
        match &self.path {
            Some(path) => file::save(path, &self.entries, &self.pending),
            None => Ok(()),
        }
    }
}
