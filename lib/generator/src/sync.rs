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
use crate::render::{FileSpec, file_specs};

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
        write(&plan, infra, base_dir).map_err(|e| vec![e])?;
    }
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

/// Renders every file and merges it with what is on disk, in parallel;
/// results keep the write order.
fn plan<'a>(infra: &'a Infra, base_dir: &Path) -> Result<Vec<Planned<'a>>, Vec<SyncError>> {
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
    let (existing, mode) = match read_existing(&full) {
        Ok(found) => found,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let (spec, action, mode) = (*spec, Action::Create, NEW_FILE_MODE);
            return Ok(Planned {
                spec,
                path,
                action,
                mode,
            });
        }
        Err(source) => return Err(SyncError::Io { path: full, source }),
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

/// The file's text and permission bits, from one open.
fn read_existing(path: &Path) -> io::Result<(String, u32)> {
    let mut file = File::open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    let mut text = String::new();
    io::Read::read_to_string(&mut file, &mut text)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))?;
    Ok((text, mode))
}

fn write(plan: &[Planned<'_>], infra: &Infra, base_dir: &Path) -> Result<(), SyncError> {
    for dir in GENERATED_DIRS {
        let dir = base_dir.join(dir);
        fs::create_dir_all(&dir).map_err(SyncError::io(&dir))?;
    }
    let changed: Vec<&Planned> = plan
        .iter()
        .filter(|p| !matches!(p.action, Action::Unchanged))
        .collect();
    parallel_map(&changed, |planned| {
        let full = base_dir.join(&planned.path);
        match &planned.action {
            Action::Update(content) => write_atomically(&full, content, planned.mode),
            _ => {
                let content = managed::new_file(&planned.spec.render(infra));
                write_atomically(&full, &content, planned.mode)
            }
        }
    })
    .into_iter()
    .collect()
}

/// `f` over `items` on the machine's cores (file I/O is mostly waiting on
/// the kernel); results in input order. Small jobs stay on one thread.
fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    const MIN_PER_THREAD: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8)
        .min(items.len() / MIN_PER_THREAD)
        .max(1);
    if threads == 1 {
        return items.iter().map(&f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(|| part.iter().map(&f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("sync worker panicked"))
            .collect()
    })
}

/// Writes a temporary file beside `path` and renames it over `path`: a
/// reader sees the old or the new file, never a partial one.
fn write_atomically(path: &Path, content: &str, mode: u32) -> Result<(), SyncError> {
    let dir = path.parent().unwrap_or(Path::new("."));
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
