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
  busctl call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1 Create ss domain:pro before-upgrade
  busctl call org.anklume.Snapshot1 /org/anklume/Snapshot1 org.anklume.Snapshot1 List s all

The system bus is used; DBUS_SYSTEM_BUS_ADDRESS points elsewhere (tests)."
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
    #[arg(long, value_name = "PATH", default_value = anklume_incus::DEFAULT_SOCKET)]
    pub incus_socket: String,
    /// Where the daemon keeps the list of snapshots it made (systemd's
    /// StateDirectory).
    #[arg(
        long,
        value_name = "DIR",
        env = "STATE_DIRECTORY",
        default_value = "/var/lib/anklume-snapd"
    )]
    pub state_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ScheduledArgs {
    #[arg(long, value_name = "FILE", default_value = anklume_config::DEFAULT_CONFIG)]
    pub config: PathBuf,
}
