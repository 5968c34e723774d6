//! `sync`: bring the Ansible tree under a base directory in line with the
//! infra. Plans every file first (so a broken file, a link or a FIFO stops
//! the run before anything is written), writes only files whose content
//! changes, each one atomically, under a lock so concurrent syncs cannot
//! interleave.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anklume_infra::Infra;

use crate::lock::{LockError, lock};
use crate::managed::{self, MarkerError};
use crate::orphans::{GENERATED_DIRS, Orphan, find_orphans};
use crate::parallel::parallel_map;
use crate::render::{FileSpec, file_specs};
use crate::safe_fs::{self, PathError, Refusal};

/// How long a sync waits for another one to finish, by default.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug)]
pub struct SyncOptions {
    /// Report what would change; write and delete nothing.
    pub dry_run: bool,
    /// Delete orphans that are not protected.
    pub clean_orphans: bool,
    /// How long to wait for the base directory's lock.
    pub lock_timeout: Duration,
    /// Called once, with the base directory, when another sync holds the
    /// lock and this one starts waiting.
    pub on_lock_wait: Option<fn(&Path)>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            clean_orphans: false,
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            on_lock_wait: None,
        }
    }
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
    /// Temporary files of an interrupted sync, removed (relative paths).
    pub removed_temps: Vec<PathBuf>,
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
    #[error("{}: {source}", path.display())]
    Refused {
        path: PathBuf,
        #[source]
        source: Refusal,
    },
    #[error("{}: {source}", path.display())]
    Lock {
        path: PathBuf,
        #[source]
        source: LockError,
    },
}

impl SyncError {
    fn io(path: &Path) -> impl FnOnce(io::Error) -> SyncError + '_ {
        move |source| SyncError::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    fn at(path: &Path) -> impl FnOnce(PathError) -> SyncError + '_ {
        move |e| match e {
            PathError::Refused(source) => SyncError::Refused {
                path: path.to_path_buf(),
                source,
            },
            PathError::Io(source) => SyncError::Io {
                path: path.to_path_buf(),
                source,
            },
        }
    }
}

/// A sync that stopped: why, and exactly which files it had written (each
/// file is atomic, the tree is not). Paths relative to the base directory.
#[derive(Debug, Default)]
pub struct SyncFailure {
    pub errors: Vec<SyncError>,
    /// Files fully written before or despite the failure.
    pub written: Vec<PathBuf>,
    /// Files that needed writing and were left as they were.
    pub not_written: Vec<PathBuf>,
}

impl SyncFailure {
    fn before_writing(errors: Vec<SyncError>) -> Self {
        Self {
            errors,
            ..Self::default()
        }
    }
}

/// What must happen to one file.
struct Planned<'a> {
    spec: FileSpec<'a>,
    path: PathBuf,
    action: Action,
    /// Permissions to keep (those of the existing file), or the default.
    mode: u32,
}

enum Action {
    Unchanged,
    /// A new file. Its content is rendered again when written rather than
    /// kept: a first sync of 10,000 machines would otherwise hold every
    /// file in memory at once.
    Create,
    /// An existing file's new content.
    Update(String),
}

/// Mode of files anklume-gen creates.
const NEW_FILE_MODE: u32 = 0o644;

/// Syncs the tree for `infra` under `base_dir`. On error nothing has been
/// written, or (for a write failure) every file is either old or new and
/// the failure says which.
pub fn sync(
    infra: &Infra,
    base_dir: &Path,
    options: SyncOptions,
) -> Result<SyncSummary, SyncFailure> {
    // The lock lives as long as `_lock`; a dry run writes nothing and each
    // file is replaced atomically, so it needs none.
    let _lock = if options.dry_run {
        None
    } else {
        let on_wait = || {
            if let Some(notify) = options.on_lock_wait {
                notify(base_dir);
            }
        };
        let file = lock(base_dir, options.lock_timeout, &on_wait).map_err(|source| {
            SyncFailure::before_writing(vec![SyncError::Lock {
                path: base_dir.to_path_buf(),
                source,
            }])
        })?;
        Some(file)
    };
    let plan = plan(infra, base_dir).map_err(SyncFailure::before_writing)?;
    let mut summary = SyncSummary::default();
    if !options.dry_run {
        summary.removed_temps =
            remove_leftover_temps(base_dir).map_err(|e| SyncFailure::before_writing(vec![e]))?;
        write(&plan, infra, base_dir)?;
    }
    let changed: Vec<PathBuf> = plan
        .iter()
        .filter(|p| !matches!(p.action, Action::Unchanged))
        .map(|p| p.path.clone())
        .collect();
    summary.files = plan
        .into_iter()
        .map(|p| FileResult {
            status: match (&p.action, options.dry_run) {
                (Action::Unchanged, _) => FileStatus::Unchanged,
                (_, true) => FileStatus::WouldWrite,
                (_, false) => FileStatus::Written,
            },
            path: p.path,
        })
        .collect();
    // From here on, every changed file has been written.
    let after_writing = |e: SyncError| SyncFailure {
        errors: vec![e],
        written: if options.dry_run {
            Vec::new()
        } else {
            changed.clone()
        },
        not_written: Vec::new(),
    };
    summary.orphans =
        find_orphans(infra, base_dir).map_err(|e| after_writing(SyncError::io(base_dir)(e)))?;
    if options.clean_orphans && !options.dry_run {
        for orphan in &summary.orphans {
            if orphan.protected {
                summary
                    .cleanup
                    .push((orphan.path.clone(), Cleanup::SkippedProtected));
            } else {
                let path = base_dir.join(&orphan.path);
                fs::remove_file(&path).map_err(|e| after_writing(SyncError::io(&path)(e)))?;
                summary
                    .cleanup
                    .push((orphan.path.clone(), Cleanup::Deleted));
            }
        }
    }
    Ok(summary)
}

/// The generated directories must be absent or real directories.
fn check_directories(base_dir: &Path) -> Vec<SyncError> {
    GENERATED_DIRS
        .iter()
        .map(|dir| base_dir.join(dir))
        .filter_map(|dir| {
            safe_fs::check_directory(&dir)
                .err()
                .map(|e| SyncError::at(&dir)(e))
        })
        .collect()
}

/// Renders every file and merges it with what is on disk, in parallel;
/// results keep the write order.
fn plan<'a>(infra: &'a Infra, base_dir: &Path) -> Result<Vec<Planned<'a>>, Vec<SyncError>> {
    let errors = check_directories(base_dir);
    if !errors.is_empty() {
        return Err(errors);
    }
    let specs = file_specs(infra);
    let results = parallel_map(&specs, |spec| plan_file(infra, spec, base_dir));
    let mut errors = Vec::new();
    let mut planned = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(p) => planned.push(p),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(planned)
    } else {
        Err(errors)
    }
}

fn plan_file<'a>(
    infra: &Infra,
    spec: &FileSpec<'a>,
    base_dir: &Path,
) -> Result<Planned<'a>, SyncError> {
    let path = spec.path();
    let full = base_dir.join(&path);
    let Some((existing, mode)) = safe_fs::read_regular(&full).map_err(SyncError::at(&full))? else {
        return Ok(Planned {
            spec: *spec,
            path,
            action: Action::Create,
            mode: NEW_FILE_MODE,
        });
    };
    let updated = managed::update(&existing, &spec.render(infra))
        .map_err(|source| SyncError::Markers { path: full, source })?;
    let action = if updated == existing {
        Action::Unchanged
    } else {
        Action::Update(updated)
    };
    Ok(Planned {
        spec: *spec,
        path,
        action,
        mode,
    })
}

/// Removes what a killed sync left behind: anklume-gen's own temporary
/// files in the generated directories. Returns them relative to `base_dir`.
fn remove_leftover_temps(base_dir: &Path) -> Result<Vec<PathBuf>, SyncError> {
    let mut removed = Vec::new();
    for dir in GENERATED_DIRS {
        let full = base_dir.join(dir);
        for path in safe_fs::remove_leftover_temps(&full).map_err(SyncError::io(&full))? {
            let name = path.file_name().map(PathBuf::from).unwrap_or_default();
            removed.push(Path::new(dir).join(name));
        }
    }
    Ok(removed)
}

fn write(plan: &[Planned<'_>], infra: &Infra, base_dir: &Path) -> Result<(), SyncFailure> {
    let changed: Vec<&Planned> = plan
        .iter()
        .filter(|p| !matches!(p.action, Action::Unchanged))
        .collect();
    let none_written = |errors| SyncFailure {
        errors,
        written: Vec::new(),
        not_written: changed.iter().map(|p| p.path.clone()).collect(),
    };
    for dir in GENERATED_DIRS {
        let dir = base_dir.join(dir);
        fs::create_dir_all(&dir).map_err(|e| none_written(vec![SyncError::io(&dir)(e)]))?;
    }
    // Checked again now that they exist: a directory swapped for a link
    // since the plan is refused rather than written through.
    let errors = check_directories(base_dir);
    if !errors.is_empty() {
        return Err(none_written(errors));
    }
    let results = parallel_map(&changed, |planned| {
        let full = base_dir.join(&planned.path);
        let written = match &planned.action {
            Action::Update(content) => safe_fs::write_atomically(&full, content, planned.mode),
            _ => {
                let content = managed::new_file(&planned.spec.render(infra));
                safe_fs::write_atomically(&full, &content, planned.mode)
            }
        };
        written.map_err(SyncError::io(&full))
    });
    let mut failure = SyncFailure::default();
    for (planned, result) in changed.iter().zip(results) {
        match result {
            Ok(()) => failure.written.push(planned.path.clone()),
            Err(e) => {
                failure.errors.push(e);
                failure.not_written.push(planned.path.clone());
            }
        }
    }
    if failure.errors.is_empty() {
        Ok(())
    } else {
        Err(failure)
    }
}
