//! anklume-netd: inter-domain isolation in nftables. This first version
//! computes and previews the ruleset; applying it over netlink, the
//! daemon and its D-Bus interface come next (see docs/network-isolation.md).

use std::path::PathBuf;
use std::process::ExitCode;

use anklume_infra::{NestingContext, load};
use anklume_netpolicy::{Mode, Ruleset, render};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "anklume-netd",
    version,
    about = "anklume's inter-domain isolation in nftables"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the ruleset (table inet anklume) in nft syntax; touches nothing.
    Preview(PreviewArgs),
}

#[derive(Debug, Args)]
struct PreviewArgs {
    /// The infra (file or infra/ directory).
    #[arg(long, value_name = "FILE")]
    infra: PathBuf,
    /// Render the ruleset for inside the sys-firewall VM (one NIC per
    /// domain: eth0 = admin, then sorted domains; drop policy, logged drops).
    #[arg(long)]
    firewall_vm: bool,
}

fn main() -> ExitCode {
    let Command::Preview(args) = Cli::parse().command;
    let loaded = match load(&args.infra, &NestingContext::from_env()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("ERROR: {e}");
            return ExitCode::FAILURE;
        }
    };
    let Some(infra) = loaded.infra else {
        eprintln!("Validation errors:");
        loaded
            .report
            .errors
            .iter()
            .for_each(|e| eprintln!("  - {e}"));
        return ExitCode::FAILURE;
    };
    let (ruleset, mode) = if args.firewall_vm {
        (Ruleset::for_firewall_vm(&infra), Mode::FirewallVm)
    } else {
        (Ruleset::from_infra(&infra), Mode::Host)
    };
    print!("{}", render(&ruleset, mode));
    ExitCode::SUCCESS
}
