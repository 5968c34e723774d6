//! `anklume-gen import`: read the running Incus, print or write the infra.

use std::process::ExitCode;

use anklume_importer::{ImportError, build, read_state, write_new};
use anklume_incus::IncusClient;
use anklume_infra::NestingContext;

use crate::cli::ImportArgs;
use crate::output::safe;

pub fn run(args: &ImportArgs, context: &NestingContext) -> ExitCode {
    match import(args, context) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ERROR: {}", safe(&message));
            ExitCode::FAILURE
        }
    }
}

fn import(args: &ImportArgs, context: &NestingContext) -> Result<(), String> {
    // Refuse before reading Incus when the answer is already known.
    if let Some(path) = &args.output
        && !args.force
        && path.exists()
    {
        return Err(format!(
            "{}: already exists; nothing written (use --force to replace it)",
            path.display()
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the I/O runtime: {e}"))?;
    // An empty INCUS_SOCKET means the default, as for the incus client.
    let socket = match args.socket.as_str() {
        "" => anklume_incus::DEFAULT_SOCKET,
        s => s,
    };
    let client = IncusClient::new(socket).map_err(|e| e.to_string())?;
    let state = runtime
        .block_on(read_state(&client, &args.projects))
        .map_err(|e| match e {
            ImportError::Incus(e) => format!("{e} (is Incus running, and is {socket} its socket?)"),
            other => other.to_string(),
        })?;
    let imported = build(&state, &args.projects, context).map_err(|e| e.to_string())?;
    match &args.output {
        None => print!("{}", imported.text),
        Some(path) => {
            write_new(path, &imported.text, args.force).map_err(|e| e.to_string())?;
            println!(
                "Imported {} domain(s), {} machine(s) into {}",
                imported.domains.len(),
                imported.machines,
                path.display()
            );
        }
    }
    for note in &imported.notes {
        eprintln!("NOTE: not imported: {note}");
    }
    Ok(())
}
