//! Stop and reload signals. They are blocked first thing (a SIGHUP or
//! SIGTERM that arrives during start-up then waits, instead of killing the
//! daemon with the default action), and unblocked on the main thread once
//! the runtime listens for them.

use nix::sys::signal::{SigSet, Signal};
use tokio::signal::unix::{SignalKind, signal};

use crate::DaemonError;

/// What a signal asks of the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// SIGTERM or SIGINT.
    Stop,
    /// SIGHUP (`systemctl reload`): re-read the configuration.
    Reload,
}

fn set() -> SigSet {
    let mut set = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

/// Blocks the three signals in this thread (and in every thread it starts).
pub fn block() -> Result<(), DaemonError> {
    set()
        .thread_block()
        .map_err(|e| DaemonError::io("block signals", e.into()))
}

pub struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Listens (inside the runtime), then unblocks the signals on this
    /// thread: one that arrived meanwhile is delivered now.
    pub fn listen() -> Result<Self, DaemonError> {
        let listen = |kind| signal(kind).map_err(|e| DaemonError::io("listen for signals", e));
        let signals = Self {
            term: listen(SignalKind::terminate())?,
            int: listen(SignalKind::interrupt())?,
            hup: listen(SignalKind::hangup())?,
        };
        set()
            .thread_unblock()
            .map_err(|e| DaemonError::io("unblock signals", e.into()))?;
        Ok(signals)
    }

    pub async fn next(&mut self) -> Event {
        tokio::select! {
            _ = self.term.recv() => Event::Stop,
            _ = self.int.recv() => Event::Stop,
            _ = self.hup.recv() => Event::Reload,
        }
    }
}
