//! Command-line arguments of anklume-netd.

use std::path::PathBuf;

use anklume_daemon::CommonArgs;
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "anklume-netd",
    version,
    about = "anklume's inter-domain isolation in nftables (D-Bus org.anklume.Network1)",
    after_help = "\
Examples:
  anklume-netd preview --infra /etc/anklume/infra.yml
  anklume-netd apply --infra /etc/anklume/infra.yml
  anklume-netd apply --check --infra /etc/anklume/infra.yml
  anklume-netd serve
  anklume-netd serve --sim --infra infra.yml   (no root: in-memory kernel)
  busctl call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Apply
  busctl get-property org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 RulesetHash
  busctl call org.anklume.Network1 /org/anklume/Network1 org.anklume.Network1 Withdraw
    (deletes the table; serve keeps none until the next Apply or reload)

serve uses the system bus; DBUS_SYSTEM_BUS_ADDRESS points elsewhere (tests)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the ruleset (table inet anklume) in nft syntax, as
    /// `nft list table inet anklume` shows it once applied; touches nothing.
    Preview(InfraArgs),
    /// Apply the ruleset once and exit (0: applied or already equal; 1:
    /// error, the previous ruleset stays in force).
    Apply(ApplyArgs),
    /// Run the daemon: apply at start, on Apply over D-Bus and on SIGHUP,
    /// and restore the table when someone else changes or deletes it
    /// (until a D-Bus Withdraw, which deletes it and keeps none until the
    /// next Apply or SIGHUP).
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
pub struct InfraArgs {
    /// The infra (file or infra/ directory).
    #[arg(long, value_name = "FILE")]
    pub infra: PathBuf,
    /// Render the ruleset for inside the sys-firewall VM (one NIC per
    /// domain: eth0 = admin, then sorted domains; drop policy, logged drops).
    #[arg(long)]
    pub firewall_vm: bool,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub infra: InfraArgs,
    /// Change nothing: say whether the table in force is the infra's
    /// ("unchanged (ruleset H)") or what would be applied ("would apply
    /// ruleset H (in force: H2|none)").
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// `--config` (its `infra:` key names the infra) and `--infra` (overrides
    /// it), as in every anklume daemon.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Apply the firewall-VM ruleset (inside sys-firewall).
    #[arg(long)]
    pub firewall_vm: bool,
    /// Do not take ownership of the table (flags owner + persist): anyone
    /// with CAP_NET_ADMIN may change it, and the daemon restores it.
    #[arg(long)]
    pub no_table_owner: bool,
    /// Seconds between two checks that the table in force is the one
    /// applied (changes are also noticed at once through netlink events).
    #[arg(long, value_name = "SECS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub check_interval: u64,
    /// Simulate the kernel: an in-memory nftables table and a host with a
    /// loopback interface only. No root, no netlink; the D-Bus API works
    /// the same (desktop tooling, API tests).
    #[arg(long)]
    pub sim: bool,
}
