//! The claims kept across restarts: one JSON file in the daemon's state
//! directory, replaced atomically (temporary file, fsync, rename, fsync of
//! the directory), so a crash leaves the old or the new list, never half
//! of one. Never read or written through a symlink.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::claims::Claim;

pub const FILE_NAME: &str = "claims.json";
/// A claims file larger than this is not read (it holds a few lines per
/// instance).
const MAX_BYTES: u64 = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is not a valid claims file ({message}); nothing was changed: move it aside to start without claims"
    )]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct OnDisk {
    version: u32,
    claims: Vec<Claim>,
}

/// The claims file in `dir` (or none: in memory only).
#[derive(Clone, Debug)]
pub struct ClaimsFile {
    path: Option<PathBuf>,
}

impl ClaimsFile {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            path: Some(dir.join(FILE_NAME)),
        }
    }

    pub fn in_memory() -> Self {
        Self { path: None }
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The claims saved last; none when there is no file yet.
    pub fn load(&self) -> Result<Vec<Claim>, StoreError> {
        let Some(path) = &self.path else {
            return Ok(Vec::new());
        };
        let io = |what| {
            move |source| StoreError::Io {
                what,
                path: path.clone(),
                source,
            }
        };
        let file = match OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io("open")(e)),
        };
        if !file.metadata().map_err(io("inspect"))?.is_file() {
            return Err(StoreError::Invalid {
                path: path.clone(),
                message: "not a regular file".into(),
            });
        }
        let mut text = String::new();
        file.take(MAX_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(io("read"))?;
        if text.len() as u64 > MAX_BYTES {
            return Err(StoreError::Invalid {
                path: path.clone(),
                message: format!("larger than {MAX_BYTES} bytes"),
            });
        }
        let on_disk: OnDisk = serde_json::from_str(&text).map_err(|e| StoreError::Invalid {
            path: path.clone(),
            message: e.to_string(),
        })?;
        Ok(on_disk.claims)
    }

    /// Replaces the saved claims with `claims`, durably.
    pub fn save(&self, claims: &[Claim]) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let dir = path.parent().unwrap_or(Path::new("."));
        let io = |what, at: &Path| {
            let at = at.to_path_buf();
            move |source| StoreError::Io {
                what,
                path: at,
                source,
            }
        };
        let text = serde_json::to_string_pretty(&OnDisk {
            version: 1,
            claims: claims.to_vec(),
        })
        .expect("claims serialise");
        let tmp = dir.join(format!(".{FILE_NAME}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp)
            .map_err(io("create", &tmp))?;
        let written = file
            .write_all(text.as_bytes())
            .and_then(|()| file.write_all(b"\n"))
            .and_then(|()| file.sync_all());
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io("write", &tmp)(e));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io("replace", path)(e)
        })?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io("sync", dir))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(instance: &str) -> Claim {
        Claim {
            instance: instance.into(),
            project: "ai".into(),
            gpu: "GPU-1".into(),
            pci: "0000:01:00.0".into(),
            vm: false,
        }
    }

    #[test]
    fn claims_survive_a_reopen_and_a_missing_file_is_no_claims() {
        let dir = tempfile::tempdir().unwrap();
        let file = ClaimsFile::in_dir(dir.path());
        assert_eq!(file.load().unwrap(), vec![]);
        file.save(&[claim("a"), claim("b")]).unwrap();
        let again = ClaimsFile::in_dir(dir.path());
        assert_eq!(again.load().unwrap(), vec![claim("a"), claim("b")]);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![FILE_NAME], "no temporary file left");
    }

    #[test]
    fn a_broken_file_is_refused_and_kept_and_a_symlink_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "{not json").unwrap();
        let e = ClaimsFile::in_dir(dir.path()).load().unwrap_err();
        assert!(e.to_string().contains("move it aside"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{not json");

        std::fs::remove_file(&path).unwrap();
        let target = dir.path().join("elsewhere.json");
        std::fs::write(&target, r#"{"version":1,"claims":[]}"#).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(ClaimsFile::in_dir(dir.path()).load().is_err());
    }
}
