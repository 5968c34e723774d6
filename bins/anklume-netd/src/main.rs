//! anklume-netd: inter-domain isolation in nftables. `preview` prints the
//! ruleset the infra asks for, `apply` applies it once over netlink, and
//! `serve` keeps it applied as a D-Bus service (`org.anklume.Network1`) on
//! the anklume-daemon skeleton. The engine is `anklume-netengine`.

use anklume_netd::cli;
mod daemon;
mod oneshot;
mod service;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Preview(args) => match oneshot::plan(&args) {
            Ok(plan) => {
                print!("{}", plan.planned.text);
                ExitCode::SUCCESS
            }
            Err(e) => {
                oneshot::print(&e);
                ExitCode::FAILURE
            }
        },
        cli::Command::Apply(args) => oneshot::apply(&args),
        cli::Command::Serve(args) => match daemon::serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("anklume-netd: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
