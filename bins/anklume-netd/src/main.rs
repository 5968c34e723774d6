//! anklume-netd: inter-domain isolation in nftables. `preview` prints the
//! ruleset the infra asks for, `apply` applies it once over netlink, and
//! `serve` keeps it applied as a D-Bus service (`org.anklume.Network1`).

mod cli;
mod daemon;
mod engine;
mod oneshot;
mod plan;
mod service;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    match cli::Cli::parse().command {
        cli::Command::Preview(args) => match plan::plan(&args.infra, args.firewall_vm) {
            Ok(planned) => {
                print!("{}", planned.text());
                ExitCode::SUCCESS
            }
            Err(e) => {
                e.print();
                ExitCode::FAILURE
            }
        },
        cli::Command::Apply(args) => oneshot::apply(&args),
        cli::Command::Serve(args) => match daemon::serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("anklume-netd: {message}");
                ExitCode::FAILURE
            }
        },
    }
}
