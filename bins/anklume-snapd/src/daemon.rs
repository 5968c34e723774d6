//! `anklume-snapd serve`: build the engine, serve it on the system bus,
//! confine the process, tell systemd we are ready, run until stopped.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anklume_config::Config;
use anklume_confine::{FileAccess, drop_capabilities, restrict_files};
use anklume_dbus::snapshot::{BUS_NAME, OBJECT_PATH};
use anklume_incus::IncusClient;
use anklume_infra::{Infra, NestingContext, load};
use anklume_snapshot::{Engine, Registry};
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::ServeArgs;
use crate::service::SnapshotService;

pub async fn serve(args: ServeArgs) -> Result<(), String> {
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let infra_path = args.infra.clone().unwrap_or_else(|| config.infra.clone());
    let infra = infra_source(infra_path.clone())?;
    let registry = Registry::open(Some(&args.state_dir)).map_err(|e| {
        format!(
            "cannot read the registry in {}: {e}",
            args.state_dir.display()
        )
    })?;
    let incus = IncusClient::new(args.incus_socket.clone()).map_err(|e| e.to_string())?;
    let engine = Engine::new(
        incus,
        infra,
        registry,
        config.snapshots.retention.clone(),
        config.snapshots.max_parallel,
    );

    let (connection, auth) = anklume_dbus::connect_system().await?;
    let service = SnapshotService {
        engine: Arc::new(engine),
        auth,
    };
    // Serve the object before taking the name: a client that sees the
    // name always finds the object.
    connection
        .object_server()
        .at(OBJECT_PATH, service)
        .await
        .map_err(|e| e.to_string())?;
    connection
        .request_name(BUS_NAME)
        .await
        .map_err(|e| format!("cannot own {BUS_NAME}: {e}"))?;

    confine(&args, &infra_path)?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    eprintln!(
        "anklume-snapd: serving {BUS_NAME} (infra {})",
        infra_path.display()
    );

    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    Ok(())
}

/// The infra, re-read at each call so edits apply without a restart; when
/// the file turns invalid, the last valid version stays in force.
fn infra_source(path: PathBuf) -> Result<anklume_snapshot::engine::InfraSource, String> {
    let context = NestingContext::from_env();
    let read = move |path: &PathBuf| -> Result<Arc<Infra>, String> {
        let loaded = load(path, &context).map_err(|e| e.to_string())?;
        loaded.infra.map(Arc::new).ok_or_else(|| {
            let errors: Vec<String> = loaded
                .report
                .errors
                .iter()
                .map(ToString::to_string)
                .collect();
            format!("{} is invalid: {}", path.display(), errors.join("; "))
        })
    };
    let first = read(&path)?;
    let last_good = Mutex::new(first);
    Ok(Box::new(move || match read(&path) {
        Ok(infra) => {
            *last_good.lock().expect("infra lock") = Arc::clone(&infra);
            Ok(infra)
        }
        Err(e) => {
            eprintln!("anklume-snapd: {e}; keeping the last valid infra");
            Ok(Arc::clone(&last_good.lock().expect("infra lock")))
        }
    }))
}

/// No capabilities at all; files: read the configuration and infra, write
/// the state directory. The Incus and D-Bus sockets are already open or
/// reached by connect(), which Landlock does not restrict.
fn confine(args: &ServeArgs, infra: &std::path::Path) -> Result<(), String> {
    drop_capabilities(&[]).map_err(|e| e.to_string())?;
    let parent = |p: &std::path::Path| {
        p.parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default()
    };
    let access = FileAccess {
        read: vec![
            parent(&args.config),
            parent(infra),
            NestingContext::dir_from_env(),
            PathBuf::from(&args.incus_socket),
            PathBuf::from("/etc/localtime"),
        ],
        write: vec![args.state_dir.clone()],
    };
    std::fs::create_dir_all(&args.state_dir)
        .map_err(|e| format!("cannot create {}: {e}", args.state_dir.display()))?;
    let enforcement = restrict_files(&access).map_err(|e| e.to_string())?;
    eprintln!("anklume-snapd: confined (capabilities: none; Landlock: {enforcement:?})");
    Ok(())
}
