//! `anklume-snapd serve` on the anklume-daemon skeleton: confined before
//! any thread, then the engine (registry, Incus — or with `--sim` an Incus
//! in memory —, infra), start-up reconciliation of interrupted snapshots,
//! the object, the name, READY; SIGHUP re-reads the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anklume_daemon::{Confinement, Daemon, DaemonError, LastValid, Paths, Started, Workers, bus};
use anklume_dbus::snapshot::{BUS_NAME, OBJECT_PATH};
use anklume_incus::IncusClient;
use anklume_infra::{NestingContext, load_valid};
use anklume_snapshot::engine::InfraSource;
use anklume_snapshot::{Engine, Opened, Reconciled, Registry, SimIncus, SnapshotStore};

use crate::cli::ServeArgs;
use crate::service::{HostInfra, SnapshotService};
use crate::status::Status;

const NAME: &str = "anklume-snapd";

pub fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let state_dir = args
        .state_dir()
        .map(|dir| anklume_daemon::args::absolute(&dir))
        .transpose()?;
    let socket = (!args.sim).then(|| args.incus_socket.clone());
    let common = args.common.clone();
    let daemon = Daemon {
        name: NAME,
        workers: Workers::PerCpu,
    };
    daemon.run(
        &common,
        |_, paths| confinement(paths, socket.as_deref(), state_dir.as_deref()),
        |started| run(args, state_dir.clone(), started),
    )
}

/// No capabilities; files: read the configuration, the infra, the context
/// and the time zone (and the Incus socket, unless simulated); write the
/// state directory (none when the registry is in memory). The Incus and
/// D-Bus sockets are reached by connect(), which Landlock does not
/// restrict.
fn confinement(
    paths: &Paths,
    socket: Option<&str>,
    state_dir: Option<&Path>,
) -> Result<Confinement, DaemonError> {
    let mut confinement = Confinement::for_paths(paths).read("/etc/localtime");
    if let Some(socket) = socket {
        confinement = confinement.read(socket);
    }
    if let Some(state_dir) = state_dir {
        std::fs::create_dir_all(state_dir)
            .map_err(|e| DaemonError::io("create the state directory", e))?;
        confinement = confinement.write(state_dir);
    }
    Ok(confinement)
}

/// What serving needs besides the engine.
struct Serving {
    config: anklume_config::Config,
    paths: Paths,
    signals: anklume_daemon::Signals,
    status: Arc<Status>,
    infra: Arc<HostInfra>,
    /// Re-reads the infra (on SIGHUP).
    reread: InfraSource,
    /// `--infra` given: the configuration's `infra:` is not used.
    overridden: bool,
    /// `--sim`: callers running as the daemon's own user are allowed too.
    sim: bool,
}

async fn run(
    args: ServeArgs,
    state_dir: Option<PathBuf>,
    started: Started,
) -> Result<(), DaemonError> {
    let Started {
        config,
        paths,
        signals,
        ..
    } = started;
    let status = Arc::new(Status::default());
    let context = NestingContext::from_env();
    // No infra yet (a fresh install), or an invalid one: the daemon
    // serves anyway, says why in the log and LastError, and takes the
    // infra at the next call or reload once it is valid.
    let infra: Arc<HostInfra> = Arc::new(LastValid::new(None));
    if let Err(e) = infra_source(&paths, &infra, context.clone())() {
        eprintln!("{NAME}: {e}; serving without an infra until a valid one is there");
    }
    let Opened {
        registry,
        recovered,
    } = match &state_dir {
        Some(dir) => Registry::open(dir).map_err(DaemonError::start)?,
        None => Opened {
            registry: Registry::in_memory(),
            recovered: None,
        },
    };
    if let Some(recovered) = recovered {
        eprintln!("{NAME}: {recovered}");
        status.registry_recovered(recovered.to_string());
    }
    let source = infra_source(&paths, &infra, context.clone());
    let reread = infra_source(&paths, &infra, context);
    let serving = Serving {
        config,
        paths,
        signals,
        status,
        infra,
        reread,
        overridden: args.common.infra.is_some(),
        sim: args.sim,
    };
    if args.sim {
        let registry_at = state_dir.map_or_else(
            || "in memory".to_owned(),
            |dir| format!("in {}", dir.display()),
        );
        eprintln!(
            "{NAME}: --sim: Incus simulated in memory (no instance is touched), registry {registry_at}"
        );
        let sim = Arc::new(match serving.infra.get().as_deref() {
            Some(infra) => SimIncus::from_infra(infra),
            None => SimIncus::new(),
        });
        serve_engine(Arc::clone(&sim), sim_source(source, sim), registry, serving).await
    } else {
        let incus = IncusClient::new(args.incus_socket.clone()).map_err(DaemonError::start)?;
        serve_engine(incus, source, registry, serving).await
    }
}

/// The engine over `store`, start-up reconciliation, the object, the name,
/// then signals until stopped.
async fn serve_engine<S: SnapshotStore>(
    store: S,
    source: InfraSource,
    registry: Registry,
    serving: Serving,
) -> Result<(), DaemonError> {
    let Serving {
        config,
        paths,
        mut signals,
        status,
        infra,
        reread,
        overridden,
        sim,
    } = serving;
    let engine = Arc::new(Engine::new(
        store,
        source,
        registry,
        config.snapshots.retention.clone(),
        config.snapshots.max_parallel,
    ));
    match engine.reconcile().await {
        Ok(reconciled) => log_reconciled(&reconciled),
        Err(e) => eprintln!("{NAME}: cannot settle interrupted snapshots: {e}"),
    }

    let (connection, mut auth) = bus::connect().await?;
    if sim {
        auth = auth
            .allowing_own_user(&connection)
            .await
            .map_err(|e| DaemonError::bus("ask the bus for the daemon's own uid", e))?;
    }
    let service = SnapshotService {
        engine: Arc::clone(&engine),
        auth,
        status: Arc::clone(&status),
        infra,
    };
    let iface = bus::serve(&connection, OBJECT_PATH, service).await?;
    bus::take_name(&connection, BUS_NAME).await?;
    eprintln!(
        "{NAME}: serving {BUS_NAME} (infra {})",
        paths.infra.display()
    );

    bus::until_stopped(&mut signals, || async {
        let service = iface.get().await;
        let before = service.current_error();
        reload(&paths, overridden, &engine, &status);
        if let Err(e) = reread() {
            eprintln!("{NAME}: {e}");
        }
        service.announce_error(before, iface.signal_emitter()).await;
    })
    .await;
    Ok(())
}

/// With --sim, each infra read also creates, in the simulated Incus, the
/// machines it declares (as `make apply` would after an edit).
fn sim_source(source: InfraSource, sim: Arc<SimIncus>) -> InfraSource {
    Box::new(move || {
        let infra = source()?;
        sim.declare(&infra);
        Ok(infra)
    })
}

/// The infra, re-read at each call so edits apply without a restart; when
/// the file turns invalid, the last valid version stays in force. Before
/// any valid one (a fresh install), the call fails with the reason ("no
/// infra yet at PATH").
fn infra_source(paths: &Paths, infra: &Arc<HostInfra>, context: NestingContext) -> InfraSource {
    let (path, infra) = (paths.infra.clone(), Arc::clone(infra));
    Box::new(move || match load_valid(&path, &context) {
        Ok(read) => {
            let fresh = Arc::new(read);
            infra.update::<String>(Ok(Some(Arc::clone(&fresh))));
            Ok(fresh)
        }
        Err(e) => match infra.update(Err(&e)).0.as_ref() {
            Some(last) => {
                eprintln!("{NAME}: {e}; keeping the last valid infra");
                Ok(Arc::clone(last))
            }
            None => Err(e),
        },
    })
}

/// SIGHUP: the retention applies to the next Prune. The infra path and
/// `max_parallel` stay as at start (confinement and the engine were built
/// for them).
fn reload<S: SnapshotStore>(paths: &Paths, overridden: bool, engine: &Engine<S>, status: &Status) {
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
