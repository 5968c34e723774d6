//! The tag on snapshots anklume-snapd made automatically (scheduled and
//! safety snapshots): Incus snapshots carry no description or label, so
//! the daemon keeps their list in its state directory. `Prune` only ever
//! deletes snapshots found here with the same creation time, so a user's
//! own snapshot is never touched, even one with a look-alike name.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A snapshot anklume made: where, what, and when (unix seconds).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Tagged {
    pub project: String,
    pub instance: String,
    pub name: String,
    pub created: i64,
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

#[derive(Default, Serialize, Deserialize)]
struct File {
    version: u32,
    snapshots: BTreeSet<Tagged>,
}

/// The registry file, `<state dir>/snapshots.json`, written atomically.
#[derive(Debug)]
pub struct Registry {
    path: Option<PathBuf>,
    entries: BTreeSet<Tagged>,
}

impl Registry {
    /// Loads the registry of `state_dir` (empty when absent). `None` keeps
    /// it in memory only.
    pub fn open(state_dir: Option<&Path>) -> std::io::Result<Self> {
        let path = state_dir.map(|d| d.join("snapshots.json"));
        let entries = match &path {
            Some(path) => match std::fs::read(path) {
                Ok(bytes) => {
                    serde_json::from_slice::<File>(&bytes)
                        .map_err(|e| {
                            std::io::Error::new(
                                std::io::ErrorKind::InvalidData,
                                format!("{}: {e}", path.display()),
                            )
                        })?
                        .snapshots
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeSet::new(),
                Err(e) => return Err(e),
            },
            None => BTreeSet::new(),
        };
        Ok(Self { path, entries })
    }

    pub fn entries(&self) -> impl Iterator<Item = &Tagged> {
        self.entries.iter()
    }

    pub fn is_tagged(&self, project: &str, instance: &str, name: &str, created: i64) -> bool {
        self.entries
            .iter()
            .any(|t| t.matches(project, instance, name, created))
    }

    pub fn insert(&mut self, tagged: Tagged) -> std::io::Result<()> {
        self.entries.insert(tagged);
        self.save()
    }

    /// Forgets every entry `keep` rejects.
    pub fn retain(&mut self, keep: impl FnMut(&Tagged) -> bool) -> std::io::Result<()> {
        let before = self.entries.len();
        self.entries.retain(keep);
        if self.entries.len() != before {
            self.save()?;
        }
        Ok(())
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let file = File {
            version: 1,
            snapshots: self.entries.clone(),
        };
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        serde_json::to_writer_pretty(&mut tmp, &file)?;
        tmp.write_all(b"\n")?;
        tmp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}
