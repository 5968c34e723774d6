//! What a daemon keeps once confined: its capabilities and the files it
//! may read or write. Applied while the process has one thread (threads
//! started later inherit it; threads started earlier would not).

use std::path::{Path, PathBuf};

use anklume_confine::{Enforcement, FileAccess, drop_capabilities, restrict_files};
use anklume_infra::NestingContext;
use caps::Capability;

use crate::{DaemonError, Paths};

#[derive(Clone, Debug, Default)]
pub struct Confinement {
    pub capabilities: Vec<Capability>,
    pub read: Vec<PathBuf>,
    pub write: Vec<PathBuf>,
}

impl Confinement {
    /// Reads the directories of the configuration and of the infra (they
    /// are re-read on reload and at each call) and the nesting context;
    /// no capability; add what the daemon needs.
    pub fn for_paths(paths: &Paths) -> Self {
        let parent = |p: &Path| {
            p.parent()
                .map_or_else(|| p.to_path_buf(), Path::to_path_buf)
        };
        Self {
            capabilities: Vec::new(),
            read: vec![
                parent(&paths.config),
                parent(&paths.infra),
                NestingContext::dir_from_env(),
            ],
            write: Vec::new(),
        }
    }

    pub fn keep(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    pub fn read(mut self, path: impl Into<PathBuf>) -> Self {
        self.read.push(path.into());
        self
    }

    pub fn write(mut self, path: impl Into<PathBuf>) -> Self {
        self.write.push(path.into());
        self
    }

    /// Drops every other capability, sets `NoNewPrivs` and the Landlock
    /// rules. Relative paths are made absolute first.
    pub fn apply(&self) -> Result<Enforcement, DaemonError> {
        let absolute = |paths: &[PathBuf]| -> Result<Vec<PathBuf>, DaemonError> {
            paths.iter().map(|p| crate::args::absolute(p)).collect()
        };
        let access = FileAccess {
            read: absolute(&self.read)?,
            write: absolute(&self.write)?,
        };
        drop_capabilities(&self.capabilities)?;
        Ok(restrict_files(&access)?)
    }
}
