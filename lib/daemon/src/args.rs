//! The options every daemon shares (`--config`, `--infra`) and the paths
//! they resolve to, absolute: Landlock rules are built from them, and a
//! relative path would become an empty rule.

use std::path::{Path, PathBuf};

use anklume_config::Config;
use clap::Args;

use crate::DaemonError;

#[derive(Clone, Debug, Args)]
pub struct CommonArgs {
    /// Host configuration; its `infra:` key names the infra.
    #[arg(long, value_name = "FILE", default_value = anklume_config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The host's infra (overrides the configuration's `infra:`).
    #[arg(long, value_name = "FILE")]
    pub infra: Option<PathBuf>,
}

/// The configuration file and the infra, absolute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    pub config: PathBuf,
    pub infra: PathBuf,
}

impl CommonArgs {
    /// Reads the configuration and settles both paths (relative ones name
    /// files in the working directory, as on the command line).
    pub fn load(&self) -> Result<(Config, Paths), DaemonError> {
        let config_path = absolute(&self.config)?;
        let config = Config::load(&config_path)?;
        let infra = absolute(self.infra.as_ref().unwrap_or(&config.infra))?;
        Ok((
            config,
            Paths {
                config: config_path,
                infra,
            },
        ))
    }
}

impl Paths {
    /// Re-reads the configuration (SIGHUP). The infra stays the one found
    /// at start: confinement was built for it.
    pub fn reload(&self) -> Result<Config, DaemonError> {
        Ok(Config::load(&self.config)?)
    }
}

pub fn absolute(path: &Path) -> Result<PathBuf, DaemonError> {
    std::path::absolute(path).map_err(|e| DaemonError::io("resolve a path", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_become_absolute_and_the_config_names_the_infra() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("c.yml"), "infra: sub/i.yml\n").unwrap();
        let args = CommonArgs {
            config: dir.path().join("c.yml"),
            infra: None,
        };
        let (_, paths) = args.load().unwrap();
        assert_eq!(paths.infra, dir.path().join("sub/i.yml"));

        let args = CommonArgs {
            config: PathBuf::from("missing.yml"),
            infra: Some(PathBuf::from("infra.yml")),
        };
        let (_, paths) = args.load().unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(paths.config, cwd.join("missing.yml"));
        assert_eq!(paths.infra, cwd.join("infra.yml"));
    }
}
