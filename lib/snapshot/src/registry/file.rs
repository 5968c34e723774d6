//! The registry on disk: `snapshots.json`, versioned, written durably, and
//! moved aside (not fatal) when it cannot be read.

use std::collections::BTreeSet;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Intent, Tagged};

pub const FILE_NAME: &str = "snapshots.json";
/// The version this code reads and writes.
const VERSION: u64 = 1;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot save {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} has version {found}, but this anklume-snapd reads version {VERSION} only \
         (written by a newer anklume?): upgrade anklume-snapd, or move the file aside to \
         start with an empty registry (the snapshots it lists are then no longer pruned)"
    )]
    UnknownVersion { path: String, found: u64 },
}

/// An unreadable registry moved aside at start-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovered {
    pub path: PathBuf,
    pub moved_to: PathBuf,
    pub reason: String,
}

impl fmt::Display for Recovered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} was unreadable ({}) and was moved to {}; started with an empty registry: \
             snapshots tagged before are no longer pruned (delete them by name)",
            self.path.display(),
            self.reason,
            self.moved_to.display()
        )
    }
}

#[derive(Default, Serialize, Deserialize)]
pub struct Content {
    pub snapshots: BTreeSet<Tagged>,
    /// Absent in files written before write-ahead: none pending.
    #[serde(default)]
    pub pending: BTreeSet<Intent>,
}

#[derive(Serialize)]
struct Written<'a> {
    version: u64,
    snapshots: &'a BTreeSet<Tagged>,
    pending: &'a BTreeSet<Intent>,
}

#[derive(Deserialize)]
struct Version {
    version: u64,
}

pub fn load(path: &Path) -> Result<(Content, Option<Recovered>), RegistryError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Content::default(), None));
        }
        Err(source) => {
            return Err(RegistryError::Read {
                path: path.display().to_string(),
                source,
            });
        }
    };
    let parsed = serde_json::from_slice::<Version>(&bytes).and_then(|v| {
        if v.version == VERSION {
            serde_json::from_slice::<Content>(&bytes).map(Some)
        } else {
            Ok(None)
        }
    });
    match parsed {
        Ok(Some(content)) => Ok((content, None)),
        Ok(None) => Err(RegistryError::UnknownVersion {
            path: path.display().to_string(),
            found: serde_json::from_slice::<Version>(&bytes).map_or(0, |v| v.version),
        }),
        Err(e) => {
            let moved_to = move_aside(path)?;
            Ok((
                Content::default(),
                Some(Recovered {
                    path: path.to_path_buf(),
                    moved_to,
                    reason: if bytes.is_empty() {
                        "empty".to_owned()
                    } else {
                        e.to_string()
                    },
                }),
            ))
        }
    }
}

/// Renames `path` to `<path>.corrupt-<unix time>` (durably), keeping it
/// for a person to look at.
fn move_aside(path: &Path) -> Result<PathBuf, RegistryError> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut n = 0;
    let moved_to = loop {
        let suffix = if n == 0 {
            format!("corrupt-{now}")
        } else {
            format!("corrupt-{now}-{n}")
        };
        let candidate = PathBuf::from(format!("{}.{suffix}", path.display()));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    let write_err = |source| RegistryError::Write {
        path: path.display().to_string(),
        source,
    };
    std::fs::rename(path, &moved_to).map_err(write_err)?;
    sync_dir(path).map_err(write_err)?;
    Ok(moved_to)
}

/// Writes the registry so that a power cut leaves either the old or the
/// new file, never an empty one: write a temporary file, fsync it, rename
/// it over the old one, fsync the directory.
pub fn save(
    path: &Path,
    snapshots: &BTreeSet<Tagged>,
    pending: &BTreeSet<Intent>,
) -> Result<(), RegistryError> {
    let write_err = |source| RegistryError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(write_err)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(write_err)?;
    let written = Written {
        version: VERSION,
        snapshots,
        pending,
    };
    serde_json::to_writer_pretty(&mut tmp, &written).map_err(|e| write_err(e.into()))?;
    tmp.write_all(b"\n").map_err(write_err)?;
    tmp.as_file().sync_all().map_err(write_err)?;
    tmp.persist(path).map_err(|e| write_err(e.error))?;
    sync_dir(path).map_err(write_err)
}

fn sync_dir(path: &Path) -> std::io::Result<()> {
    std::fs::File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}
