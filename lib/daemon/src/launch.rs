//! The start of every daemon, in the one safe order: signals blocked,
//! configuration read, confinement applied while there is one thread,
//! then the runtime, then the daemon's own `main` on it.

use std::future::Future;

use anklume_config::Config;
use anklume_confine::Enforcement;

use crate::{CommonArgs, Confinement, DaemonError, Paths, Signals, signals};

/// The runtime's threads, all started after confinement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workers {
    /// Everything on the main thread (netd: one netlink socket, short work).
    Current,
    /// One worker per CPU (snapd: calls wait on Incus concurrently).
    PerCpu,
}

pub struct Daemon {
    /// The program name, at the start of every log line.
    pub name: &'static str,
    pub workers: Workers,
}

/// What a daemon's `main` starts with.
pub struct Started {
    pub config: Config,
    pub paths: Paths,
    pub signals: Signals,
    pub enforcement: Enforcement,
}

impl Daemon {
    /// Runs `main` once the process is confined. `confinement` says, from
    /// the configuration and the absolute paths, what the daemon keeps.
    pub fn run<F, Fut>(
        &self,
        args: &CommonArgs,
        confinement: impl FnOnce(&Config, &Paths) -> Result<Confinement, DaemonError>,
        main: F,
    ) -> Result<(), DaemonError>
    where
        F: FnOnce(Started) -> Fut,
        Fut: Future<Output = Result<(), DaemonError>>,
    {
        signals::block()?;
        let (config, paths) = args.load()?;
        let workers = match self.workers {
            Workers::Current => None,
            // Counted before confinement: it may read cgroup files.
            Workers::PerCpu => Some(std::thread::available_parallelism().map_or(2, usize::from)),
        };
        let enforcement = confinement(&config, &paths)?.apply()?;
        eprintln!("{}: confined (Landlock: {enforcement:?})", self.name);
        let runtime = match workers {
            None => tokio::runtime::Builder::new_current_thread(),
            Some(n) => {
                let mut builder = tokio::runtime::Builder::new_multi_thread();
                builder.worker_threads(n);
                builder
            }
        }
        .enable_all()
        .build()
        .map_err(|e| DaemonError::io("start the runtime", e))?;
        runtime.block_on(async move {
            let signals = Signals::listen()?;
            main(Started {
                config,
                paths,
                signals,
                enforcement,
            })
            .await
        })
    }
}
