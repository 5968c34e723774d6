//! Command-line arguments of anklume-snapd.

use std::path::PathBuf;

use anklume_daemon::CommonArgs;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "anklume-snapd",
    version,
    about = "anklume's snapshot service (D-Bus org.anklume.Snapshot1)",
    after_help = "\
Examples:
  anklume-snapd serve
  anklume-snapd serve --sim --infra infra.yml     # no Incus, no root: an Incus in memory
  busctl call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1 Create ss domain:pro before-upgrade
  busctl call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1 List s all

The system bus is used; DBUS_SYSTEM_BUS_ADDRESS points elsewhere (tests,
--sim on a private bus). See docs/snapshots.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// Take the scheduled snapshots if one is due, then prune (run by
    /// anklume-snapshot.timer; talks to the running daemon).
    Scheduled(ScheduledArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// `--config` and `--infra` (the infra that domains and instances
    /// resolve through), as in every anklume daemon.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The Incus API socket.
    #[arg(
        long,
        value_name = "PATH",
        default_value = anklume_incus::DEFAULT_SOCKET,
        conflicts_with = "sim"
    )]
    pub incus_socket: String,
    /// Where the daemon keeps the list of snapshots it made (systemd's
    /// StateDirectory) [default: /var/lib/anklume-snapd; with --sim: in
    /// memory].
    #[arg(long, value_name = "DIR", env = "STATE_DIRECTORY")]
    pub state_dir: Option<PathBuf>,
    /// Simulate Incus in memory: every machine of the infra exists in its
    /// domain's project, snapshots live as long as the daemon. No Incus
    /// socket and no root needed; the D-Bus API, its authorisation and the
    /// confinement are the real ones (desktop tooling, API tests).
    #[arg(long)]
    pub sim: bool,
}

/// The registry's directory when none is given (and not --sim).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/anklume-snapd";

impl ServeArgs {
    /// Where the registry lives: the directory given, else the default
    /// one, else (--sim) nowhere: in memory.
    pub fn state_dir(&self) -> Option<PathBuf> {
        match (&self.state_dir, self.sim) {
            (Some(dir), _) => Some(dir.clone()),
            (None, false) => Some(PathBuf::from(DEFAULT_STATE_DIR)),
            (None, true) => None,
        }
    }
}

#[derive(Debug, Args)]
pub struct ScheduledArgs {
    #[arg(long, value_name = "FILE", default_value = anklume_config::DEFAULT_CONFIG)]
    pub config: PathBuf,
}
