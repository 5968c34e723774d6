//! File-system access of a sync that a hostile tree cannot turn against
//! the user: generated paths are read and replaced only when they are
//! plain files in plain directories. A symbolic link is never followed
//! (reading through one could copy a file the link's author cannot read
//! into a file they can), and a FIFO, socket or device is never opened for
//! reading (a FIFO would block forever, `/dev/zero` never ends).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Prefix and suffix of the temporary files a sync writes beside their
/// target; a leftover one (from a killed sync) matches [`is_own_temp_name`].
pub const TEMP_PREFIX: &str = ".anklume-gen-";
pub const TEMP_SUFFIX: &str = ".tmp";
/// Random characters between them (tempfile's default).
const TEMP_RANDOM_LEN: usize = 6;

/// Larger than any file anklume-gen writes, by far: a bigger one is not
/// read into memory.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Why a path of the tree is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "is a symbolic link; anklume-gen never reads or writes through links: remove it (or replace it with a regular file) and sync again"
    )]
    Symlink,
    #[error("is {0}, not a regular file; remove it and sync again")]
    Special(&'static str),
    #[error("is {0}, not a directory; remove it and sync again")]
    NotDirectory(&'static str),
    #[error("is larger than {} MiB; not a file anklume-gen wrote", MAX_FILE_SIZE >> 20)]
    TooLarge,
}

/// An error about one path: refused, or an I/O error.
#[derive(Debug, thiserror::Error)]
pub enum PathError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn kind_name(file_type: fs::FileType) -> &'static str {
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

/// A generated directory (`inventory/`, …) must be absent or a real
/// directory: a link would send every write elsewhere.
pub fn check_directory(path: &Path) -> Result<(), PathError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Err(Refusal::Symlink.into()),
        Ok(meta) if !meta.is_dir() => {
            Err(Refusal::NotDirectory(kind_name(meta.file_type())).into())
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The text and permission bits of an existing generated file; `Ok(None)`
/// when there is none. Links and special files are refused without being
/// opened for reading; the open itself refuses links (`O_NOFOLLOW`) and
/// never blocks (`O_NONBLOCK`), so a file swapped in after the check is
/// refused too.
pub fn read_regular(path: &Path) -> Result<Option<(String, u32)>, PathError> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => return Err(Refusal::Symlink.into()),
        Ok(meta) if !meta.is_file() => {
            return Err(Refusal::Special(kind_name(meta.file_type())).into());
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(Refusal::Symlink.into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(Refusal::Special(kind_name(meta.file_type())).into());
    }
    if meta.len() > MAX_FILE_SIZE {
        return Err(Refusal::TooLarge.into());
    }
    let mode = meta.permissions().mode() & 0o7777;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(Refusal::TooLarge.into());
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not UTF-8 text"))?;
    Ok(Some((text, mode)))
}

/// Writes a temporary file beside `path` and renames it over `path`: a
/// reader sees the old or the new file, never a partial one. The rename
/// replaces whatever is at `path` (a link included) and never writes
/// through it.
pub fn write_atomically(path: &Path, content: &str, mode: u32) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(TEMP_SUFFIX)
        .rand_bytes(TEMP_RANDOM_LEN)
        .permissions(fs::Permissions::from_mode(mode))
        .tempfile_in(dir)?;
    file.write_all(content.as_bytes())?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// Whether `name` is one of anklume-gen's own temporary file names.
pub fn is_own_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|random| {
            random.len() == TEMP_RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Removes the temporary files that a killed sync left in `dir` (only
/// anklume-gen's own names, and never a directory). Returns their paths.
pub fn remove_leftover_temps(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut removed = Vec::new();
    for entry in entries {
        let entry = entry?;
        let own = entry.file_name().to_str().is_some_and(is_own_temp_name);
        if own && !entry.file_type()?.is_dir() {
            fs::remove_file(entry.path())?;
            removed.push(entry.path());
        }
    }
    removed.sort();
    Ok(removed)
}

/// Opens `path` for reading only if it is a regular file (no link, no
/// FIFO); for callers that merely peek (the orphan report).
pub fn open_regular(path: &Path) -> Option<File> {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    let meta = file.metadata().ok()?;
    (meta.is_file() && meta.len() <= MAX_FILE_SIZE).then_some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_temp_names_only() {
        assert!(is_own_temp_name(".anklume-gen-a1B2c3.tmp"));
        assert!(!is_own_temp_name(".anklume-gen-a1B2c.tmp"));
        assert!(!is_own_temp_name(".anklume-gen-../x1.tmp"));
        assert!(!is_own_temp_name("anklume-gen-a1B2c3.tmp"));
        assert!(!is_own_temp_name(".anklume-gen-a1B2c3.tmp.yml"));
    }

    #[test]
    fn links_and_fifos_are_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, "secret").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(
            read_regular(&link),
            Err(PathError::Refused(Refusal::Symlink))
        ));
        let fifo = dir.path().join("fifo");
        nix_mkfifo(&fifo);
        assert!(matches!(
            read_regular(&fifo),
            Err(PathError::Refused(Refusal::Special(_)))
        ));
        assert!(open_regular(&fifo).is_none());
        assert_eq!(read_regular(&dir.path().join("none")).unwrap(), None);
        assert_eq!(read_regular(&target).unwrap().unwrap().0, "secret");
    }

    fn nix_mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
