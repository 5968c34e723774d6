//! `sync`: bring the Ansible tree under a base directory in line with the
//! infra. Plans every file first (so a broken file stops the run before
//! anything is written), writes only files whose content changes, each one
//! atomically, under a lock so concurrent syncs cannot interleave.

use std::fs::{self, File};
use std::io::{self, Write as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use anklume_infra::Infra;

use crate::managed::{self, MarkerError};
use crate::orphans::{GENERATED_DIRS, Orphan, find_orphans};
use crate::render::render;

#[derive(Clone, Copy, Debug, Default)]
pub struct SyncOptions {
    /// Report what would change; write and delete nothing.
    pub dry_run: bool,
    /// Delete orphans that are not protected.
    pub clean_orphans: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileStatus {
    Written,
    /// Content already up to date: the file was not touched.
    Unchanged,
    /// Dry run: the file would be created or changed.
    WouldWrite,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileResult {
    /// Relative to the base directory.
    pub path: PathBuf,
    pub status: FileStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cleanup {
    Deleted,
    SkippedProtected,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    pub files: Vec<FileResult>,
    pub orphans: Vec<Orphan>,
    pub cleanup: Vec<(PathBuf, Cleanup)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{}: {source}", path.display())]
    Markers {
        path: PathBuf,
        #[source]
        source: MarkerError,
    },
}

impl SyncError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> SyncError + '_ {
        move |source| SyncError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// What must happen to one file.
struct Planned {
    path: PathBuf,
    /// New content, or `None` when the file is already up to date.
    content: Option<String>,
}

/// Syncs the tree for `infra` under `base_dir`. On error nothing has been
/// written, or (for a write failure) every file is either old or new.
pub fn sync(
    infra: &Infra,
    base_dir: &Path,
    options: SyncOptions,
) -> Result<SyncSummary, Vec<SyncError>> {
    // The lock lives as long as `_lock`; a dry run writes nothing and each
    // file is replaced atomically, so it needs none.
    let _lock = if options.dry_run {
        None
    } else {
        Some(lock(base_dir).map_err(|e| vec![e])?)
    };
    let plan = plan(infra, base_dir)?;
    let mut summary = SyncSummary::default();
    if !options.dry_run {
        write(&plan, base_dir).map_err(|e| vec![e])?;
    }
    summary.files = plan
        .into_iter()
        .map(|p| FileResult {
            status: match (&p.content, options.dry_run) {
                (None, _) => FileStatus::Unchanged,
                (Some(_), true) => FileStatus::WouldWrite,
                (Some(_), false) => FileStatus::Written,
            },
            path: p.path,
        })
        .collect();
    summary.orphans =
        find_orphans(infra, base_dir).map_err(|e| vec![SyncError::io(base_dir)(e)])?;
    if options.clean_orphans && !options.dry_run {
        for orphan in &summary.orphans {
            if orphan.protected {
                summary
                    .cleanup
                    .push((orphan.path.clone(), Cleanup::SkippedProtected));
            } else {
                let path = base_dir.join(&orphan.path);
                fs::remove_file(&path).map_err(|e| vec![SyncError::io(&path)(e)])?;
                summary
                    .cleanup
                    .push((orphan.path.clone(), Cleanup::Deleted));
            }
        }
    }
    Ok(summary)
}

/// Takes an exclusive lock on the base directory itself (creating it), so
/// no lock file appears in the user's tree. Blocks while another sync runs.
fn lock(base_dir: &Path) -> Result<File, SyncError> {
    fs::create_dir_all(base_dir).map_err(SyncError::io(base_dir))?;
    let dir = File::open(base_dir).map_err(SyncError::io(base_dir))?;
    dir.lock().map_err(SyncError::io(base_dir))?;
    Ok(dir)
}

fn plan(infra: &Infra, base_dir: &Path) -> Result<Vec<Planned>, Vec<SyncError>> {
    let mut errors = Vec::new();
    let mut planned = Vec::new();
    for file in render(infra) {
        let full = base_dir.join(&file.path);
        let content = match fs::read(&full) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(existing) => match managed::update(&existing, &file.managed_yaml) {
                    Ok(updated) => (updated != existing).then_some(updated),
                    Err(source) => {
                        errors.push(SyncError::Markers { path: full, source });
                        continue;
                    }
                },
                Err(_) => {
                    let source = io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text");
                    errors.push(SyncError::Io { path: full, source });
                    continue;
                }
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Some(managed::new_file(&file.managed_yaml))
            }
            Err(source) => {
                errors.push(SyncError::Io { path: full, source });
                continue;
            }
        };
        planned.push(Planned {
            path: file.path,
            content,
        });
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(errors)
    }
}

fn write(plan: &[Planned], base_dir: &Path) -> Result<(), SyncError> {
    for dir in GENERATED_DIRS {
        let dir = base_dir.join(dir);
        fs::create_dir_all(&dir).map_err(SyncError::io(&dir))?;
    }
    for planned in plan {
        if let Some(content) = &planned.content {
            write_atomically(&base_dir.join(&planned.path), content)?;
        }
    }
    Ok(())
}

/// Writes a temporary file beside `path` and renames it over `path`: a
/// reader sees the old or the new file, never a partial one. An existing
/// file keeps its permissions.
fn write_atomically(path: &Path, content: &str) -> Result<(), SyncError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mode = fs::metadata(path).map_or(0o644, |m| m.permissions().mode() & 0o7777);
    let mut file = tempfile::Builder::new()
        .prefix(".anklume-gen-")
        .suffix(".tmp")
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(SyncError::io(path))?;
    file.write_all(content.as_bytes())
        .map_err(SyncError::io(path))?;
    file.persist(path)
        .map_err(|e| SyncError::io(path)(e.error))?;
    Ok(())
}
