//! Why a daemon could not start or keep running.

use anklume_config::ConfigError;
use anklume_confine::ConfineError;

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Confine(#[from] ConfineError),
    #[error("cannot {what}: {source}")]
    Io {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot {what}: {source}")]
    Bus {
        what: String,
        #[source]
        source: zbus::Error,
    },
    /// A daemon's own start-up failure (its engine, its state…).
    #[error(transparent)]
    Start(Box<dyn std::error::Error + Send + Sync>),
}

impl DaemonError {
    pub fn io(what: &'static str, source: std::io::Error) -> Self {
        Self::Io { what, source }
    }

    pub fn bus(what: impl Into<String>, source: zbus::Error) -> Self {
        Self::Bus {
            what: what.into(),
            source,
        }
    }

    pub fn start(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Start(Box::new(e))
    }
}
