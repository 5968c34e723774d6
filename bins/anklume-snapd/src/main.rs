//! anklume-snapd: snapshots of anklume's instances over D-Bus
//! (`org.anklume.Snapshot1`). Parse arguments → load the configuration →
//! connect → confine → serve.

mod cli;
mod daemon;
mod schedule;
mod service;

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => daemon::serve(args).await,
        cli::Command::Scheduled(args) => schedule::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("anklume-snapd: {message}");
            ExitCode::FAILURE
        }
    }
}
