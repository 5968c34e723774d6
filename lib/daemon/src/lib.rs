//! The one shape of every anklume daemon (netd, snapd, and the ones to
//! come), written once:
//!
//! 1. the stop and reload signals are blocked before anything else, so a
//!    SIGHUP or SIGTERM during start-up waits instead of killing the daemon
//!    ([`signals`]);
//! 2. the configuration is read and the paths made absolute ([`args`]);
//! 3. the process confines itself — capabilities, `NoNewPrivs`, Landlock —
//!    while it has exactly one thread ([`confinement`]);
//! 4. only then the async runtime starts, so every thread it starts
//!    inherits the confinement ([`launch`]);
//! 5. the daemon serves its object, then takes its bus name, then tells
//!    systemd READY ([`bus`]); SIGHUP re-reads the configuration
//!    (RELOADING … READY), SIGTERM stops (STOPPING);
//! 6. an invalid infra keeps the last valid one ([`last_valid`]); signals
//!    are emitted best effort ([`bus::emit`]).
//!
//! `docs/architecture.md` shows how a daemon adopts it.

pub mod args;
pub mod bus;
pub mod confinement;
pub mod error;
pub mod last_valid;
pub mod launch;
pub mod signals;

pub use args::{CommonArgs, Paths};
pub use confinement::Confinement;
pub use error::DaemonError;
pub use last_valid::LastValid;
pub use launch::{Daemon, Started, Workers};
pub use signals::{Event, Signals};
