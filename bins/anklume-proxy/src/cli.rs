//! `anklume-proxy serve` (the daemon) and `anklume-proxy attach` (a host
//! command giving an admin instance its socket).

use std::path::PathBuf;

use anklume_daemon::CommonArgs;
use clap::{Parser, Subcommand};

/// Where incusd listens on a Debian host.
pub const INCUS_SOCKET: &str = "/var/lib/incus/unix.socket";
/// Where the socket of the proxy for admin instance `I` is:
/// `/run/anklume/proxy/I.socket` (units/anklume-proxy@.socket).
pub const SOCKET_DIR: &str = "/run/anklume/proxy";

#[derive(Debug, Parser)]
#[command(
    name = "anklume-proxy",
    version,
    about = "The admin domain's only door to Incus: it forwards to incusd what the host's infra \
             declares and refuses, with HTTP 403, everything else (see docs/admin-proxy.md)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the filtered Incus API (socket-activated by
    /// anklume-proxy@INSTANCE.socket, or on --listen by hand).
    Serve(ServeArgs),
    /// Give admin instance INSTANCE its proxy socket at
    /// /var/run/incus/unix.socket inside it, in a way that survives
    /// restarts (idempotent; run on the host).
    Attach(AttachArgs),
}

#[derive(Clone, Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Listen on this unix socket (ignored when systemd passes one with
    /// LISTEN_FDS).
    #[arg(long, value_name = "PATH")]
    pub listen: Option<PathBuf>,
    /// incusd's socket.
    #[arg(long, value_name = "PATH", default_value = INCUS_SOCKET)]
    pub incus_socket: PathBuf,
}

#[derive(Clone, Debug, clap::Args)]
pub struct AttachArgs {
    /// The admin instance.
    pub instance: String,
    /// Its project (default: its domain in the host's infra).
    #[arg(long)]
    pub project: Option<String>,
    /// The proxy socket on the host (default /run/anklume/proxy/INSTANCE.socket).
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// incusd's socket.
    #[arg(long, value_name = "PATH", default_value = INCUS_SOCKET)]
    pub incus_socket: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
}
