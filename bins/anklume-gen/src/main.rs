//! anklume-gen: turn `infra.yml` into the Ansible tree. Parse arguments,
//! load and validate the infra, then sync or report.

use anklume_gen::cli;
mod import;
mod output;

use std::process::ExitCode;

use anklume_generator::{SyncOptions, sync};
use anklume_infra::{Loaded, NestingContext, load};
use clap::Parser as _;

use cli::{Cli, Command, Format};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let context = NestingContext::from_env();
    match cli.command {
        Command::Sync(args) => {
            let Some(loaded) = load_or_report(&args.infra, &context) else {
                return ExitCode::FAILURE;
            };
            let Some(infra) = output::print_findings(&loaded) else {
                return ExitCode::FAILURE;
            };
            output::warn_unknown_roles(&loaded, infra);
            output::warn_ai_wiring(infra);
            let options = SyncOptions {
                dry_run: args.dry_run,
                clean_orphans: args.clean_orphans,
                lock_timeout: args.lock_timeout,
                on_lock_wait: Some(output::print_lock_wait),
            };
            if infra.domains.is_empty() {
                println!("No domains defined. Nothing to generate.");
                return ExitCode::SUCCESS;
            }
            output::print_start(infra, options);
            match sync(infra, &args.base_dir, options) {
                Ok(summary) => {
                    output::print_summary(&summary, &args.base_dir, options);
                    ExitCode::SUCCESS
                }
                Err(failure) => {
                    output::print_failure(&failure, &args.base_dir);
                    ExitCode::FAILURE
                }
            }
        }
        Command::Import(args) => import::run(&args, &context),
        Command::Validate(args) => match args.format {
            Format::Text => {
                let Some(loaded) = load_or_report(&args.infra, &context) else {
                    return ExitCode::FAILURE;
                };
                match output::print_findings(&loaded) {
                    Some(infra) => {
                        output::warn_unknown_roles(&loaded, infra);
                        output::warn_ai_wiring(infra);
                        output::print_valid(&loaded, infra);
                        ExitCode::SUCCESS
                    }
                    None => ExitCode::FAILURE,
                }
            }
            Format::Json => {
                let result = load(&args.infra, &context);
                let valid = output::print_json(&args.infra, &result);
                if valid {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                }
            }
        },
    }
}

fn load_or_report(path: &std::path::Path, context: &NestingContext) -> Option<Loaded> {
    load(path, context)
        .map_err(|e| eprintln!("ERROR: {}", output::safe(&e)))
        .ok()
}
