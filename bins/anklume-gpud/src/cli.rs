//! Command-line arguments of anklume-gpud.

use std::path::PathBuf;

use anklume_daemon::CommonArgs;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "anklume-gpud",
    version,
    about = "anklume's GPU claims service (D-Bus org.anklume.Gpu1)",
    after_help = "\
Examples:
  anklume-gpud serve
  anklume-gpud list                     # the cards, as the running daemon sees them
  anklume-gpud claims                   # which instance holds which card
  anklume-gpud processes                # who uses the cards, by instance
  busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Claim ss ai-ollama ''
  busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1 Release s ai-ollama

The system bus is used; DBUS_SYSTEM_BUS_ADDRESS points elsewhere (tests,
scripts/gpu-check.sh). See docs/gpu.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Serve(ServeArgs),
    /// List the GPUs (index, UUID, name, memory) through the running daemon.
    List,
    /// List the claims (instance, GPU UUID) through the running daemon.
    Claims,
    /// List the processes using a GPU, with their instance.
    Processes,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// `--config` and `--infra` (the infra that says which instances may
    /// claim, and the policy), as in every anklume daemon.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The NVML library to load [default: the driver's libnvidia-ml.so.1].
    /// Without it the daemon still starts; GPU calls answer NoDevice.
    #[arg(long, value_name = "PATH", env = "ANKLUME_NVML_LIBRARY")]
    pub nvml_library: Option<PathBuf>,
    /// The Incus API socket.
    #[arg(long, value_name = "PATH", default_value = anklume_incus::DEFAULT_SOCKET)]
    pub incus_socket: String,
    /// Keep claims without touching Incus (no device is added or removed,
    /// no reconciliation): for a GPU check on a host without Incus.
    #[arg(long)]
    pub no_incus: bool,
    /// Where the claims are kept (systemd's StateDirectory).
    #[arg(long, value_name = "DIR", env = "STATE_DIRECTORY", default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Seconds between two VRAM overcommit checks (measured use changes
    /// while instances run; claims are checked at once).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub check_interval: u64,
}

pub const DEFAULT_STATE_DIR: &str = "/var/lib/anklume-gpud";
