//! anklume-gpud: GPU inventory and claims over D-Bus (`org.anklume.Gpu1`).
//! `serve` runs the daemon on the anklume-daemon skeleton; `list`,
//! `claims` and `processes` ask the running daemon over the bus. The
//! logic is `anklume-gpu`.

use anklume_gpud::cli;
mod client;
mod daemon;
mod service;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => daemon::serve(args).map_err(|e| e.to_string()),
        cli::Command::List => client::run(client::Query::List),
        cli::Command::Claims => client::run(client::Query::Claims),
        cli::Command::Processes => client::run(client::Query::Processes),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("anklume-gpud: {message}");
            ExitCode::FAILURE
        }
    }
}
