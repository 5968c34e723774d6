//! `anklume-snapd serve` on the anklume-daemon skeleton: confined before
//! any thread, then the engine (registry, Incus, infra), start-up
//! reconciliation of interrupted snapshots, the object, the name, READY;
//! SIGHUP re-reads the configuration.

use std::path::PathBuf;
use std::sync::Arc;

use anklume_daemon::{Confinement, Daemon, DaemonError, LastValid, Paths, Started, Workers, bus};
use anklume_dbus::snapshot::{BUS_NAME, OBJECT_PATH};
use anklume_incus::IncusClient;
use anklume_infra::{Infra, NestingContext, load_valid};
use anklume_snapshot::engine::InfraSource;
use anklume_snapshot::{Engine, Opened, Reconciled, Registry};

use crate::cli::ServeArgs;
use crate::service::SnapshotService;
use crate::status::Status;

const NAME: &str = "anklume-snapd";

pub fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let state_dir = anklume_daemon::args::absolute(&args.state_dir)?;
    let socket = args.incus_socket.clone();
    let common = args.common.clone();
    let daemon = Daemon {
        name: NAME,
        workers: Workers::PerCpu,
    };
    daemon.run(
        &common,
        |_, paths| confinement(paths, &socket, &state_dir),
        |started| run(args, state_dir.clone(), started),
    )
}

/// No capabilities; files: read the configuration, the infra, the context
/// and the time zone; write the state directory. The Incus and D-Bus
/// sockets are reached by connect(), which Landlock does not restrict.
fn confinement(
    paths: &Paths,
    socket: &str,
    state_dir: &PathBuf,
) -> Result<Confinement, DaemonError> {
    std::fs::create_dir_all(state_dir)
        .map_err(|e| DaemonError::io("create the state directory", e))?;
    Ok(Confinement::for_paths(paths)
        .read(socket)
        .read("/etc/localtime")
        .write(state_dir))
}

async fn run(args: ServeArgs, state_dir: PathBuf, started: Started) -> Result<(), DaemonError> {
    let Started {
        config,
        paths,
        mut signals,
        ..
    } = started;
    let status = Arc::new(Status::default());
    let context = NestingContext::from_env();
    let infra = Arc::new(LastValid::new(
        load_valid(&paths.infra, &context).map_err(DaemonError::start)?,
    ));
    let Opened {
        registry,
        recovered,
    } = Registry::open(&state_dir).map_err(DaemonError::start)?;
    if let Some(recovered) = recovered {
        eprintln!("{NAME}: {recovered}");
        status.registry_recovered(recovered.to_string());
    }
    let incus = IncusClient::new(args.incus_socket.clone()).map_err(DaemonError::start)?;
    let engine = Arc::new(Engine::new(
        incus,
        infra_source(&paths, &infra, context),
        registry,
        config.snapshots.retention.clone(),
        config.snapshots.max_parallel,
    ));
    match engine.reconcile().await {
        Ok(reconciled) => log_reconciled(&reconciled),
        Err(e) => eprintln!("{NAME}: cannot settle interrupted snapshots: {e}"),
    }

    let (connection, auth) = bus::connect().await?;
    let service = SnapshotService {
        engine: Arc::clone(&engine),
        auth,
        status: Arc::clone(&status),
        infra: Arc::clone(&infra),
    };
    bus::serve(&connection, OBJECT_PATH, service).await?;
    bus::take_name(&connection, BUS_NAME).await?;
    eprintln!(
        "{NAME}: serving {BUS_NAME} (infra {})",
        paths.infra.display()
    );

    let overridden = args.common.infra.is_some();
    bus::until_stopped(&mut signals, || async {
        reload(&paths, overridden, &engine, &status);
    })
    .await;
    Ok(())
}

/// The infra, re-read at each call so edits apply without a restart; when
/// the file turns invalid, the last valid version stays in force.
fn infra_source(
    paths: &Paths,
    infra: &Arc<LastValid<Infra>>,
    context: NestingContext,
) -> InfraSource {
    let (path, infra) = (paths.infra.clone(), Arc::clone(infra));
    Box::new(move || {
        let (current, error) = infra.update(load_valid(&path, &context));
        if let Some(e) = error {
            eprintln!("{NAME}: {e}; keeping the last valid infra");
        }
        Ok(current)
    })
}

/// SIGHUP: the retention applies to the next Prune. The infra path and
/// `max_parallel` stay as at start (confinement and the engine were built
/// for them).
fn reload(paths: &Paths, overridden: bool, engine: &Engine<IncusClient>, status: &Status) {
    match paths.reload() {
        Ok(config) => {
            engine.set_retention(config.snapshots.retention);
            status.config(None);
            if !overridden && config.infra != paths.infra {
                eprintln!(
                    "{NAME}: the configuration now names the infra {}; restart {NAME} to use it",
                    config.infra.display()
                );
            }
            eprintln!("{NAME}: configuration reloaded");
        }
        Err(e) => {
            let message = format!("configuration not reloaded, the previous one stays: {e}");
            eprintln!("{NAME}: {message}");
            status.config(Some(message));
        }
    }
}

fn log_reconciled(reconciled: &Reconciled) {
    for done in &reconciled.tagged {
        eprintln!("{NAME}: interrupted snapshot {done} exists; tagged for retention");
    }
    for done in &reconciled.dropped {
        eprintln!("{NAME}: interrupted snapshot {done} was never made; forgotten");
    }
    for problem in &reconciled.unsettled {
        eprintln!("{NAME}: interrupted snapshot not settled yet ({problem}); next prune retries");
    }
}
