//! anklume-snapd: snapshots of anklume's instances over D-Bus
//! (`org.anklume.Snapshot1`). Parse arguments → (anklume-daemon: signals,
//! configuration, confinement, runtime) → serve.

use anklume_snapd::cli;
mod daemon;
mod schedule;
mod service;
mod status;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => daemon::serve(args).map_err(|e| e.to_string()),
        cli::Command::Scheduled(args) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the runtime: {e}"))
            .and_then(|runtime| runtime.block_on(schedule::run(args))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("anklume-snapd: {message}");
            ExitCode::FAILURE
        }
    }
}
