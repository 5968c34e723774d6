//! anklume-proxy: the admin domain's only door to Incus. Parse arguments →
//! `serve` (anklume-daemon: signals, configuration, confinement, runtime →
//! the filtered API) or `attach` (a host command).

mod attach;
mod audit;
use anklume_proxy::cli;
mod forward;
mod gpu;
mod pool;
mod serve;
mod upstream;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let result = match cli.command {
        cli::Command::Serve(args) => serve::serve(args).map_err(|e| e.to_string()),
        cli::Command::Attach(args) => attach::attach(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("anklume-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}
