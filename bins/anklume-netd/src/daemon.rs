//! `anklume-netd serve`: open the netlink sockets, serve on the system
//! bus, confine the process, apply, tell systemd we are ready, then apply
//! on SIGHUP and repair the table whenever it drifts, until stopped. The
//! table stays in force when the daemon exits.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anklume_config::Config;
use anklume_confine::{FileAccess, drop_capabilities, restrict_files};
use anklume_dbus::network::{BUS_NAME, OBJECT_PATH};
use anklume_infra::NestingContext;
use anklume_netpolicy::TABLE;
use anklume_nft::{Ownership, Watcher};
use tokio::io::unix::AsyncFd;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::Mutex;

use crate::cli::ServeArgs;
use crate::engine::{Engine, Install};
use crate::service::NetworkService;

/// One thread: capabilities and Landlock apply per thread, so confining
/// the only thread confines the whole daemon (threads started later
/// inherit it).
pub fn serve(args: ServeArgs) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?
        .block_on(run(args))
}

async fn run(args: ServeArgs) -> Result<(), String> {
    // First, so that a SIGHUP during start-up does not kill the daemon.
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let config = Config::load(&args.config).map_err(|e| e.to_string())?;
    let infra_path = args.infra.clone().unwrap_or_else(|| config.infra.clone());
    let ownership = if args.no_table_owner {
        Ownership::Shared
    } else {
        Ownership::Owned
    };
    let engine = Engine::new(infra_path.clone(), args.firewall_vm, ownership);
    let mut watcher = match Watcher::open()
        .map_err(|e| e.to_string())
        .and_then(|w| watch(w).map_err(|e| e.to_string()))
    {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            eprintln!(
                "anklume-netd: cannot watch nftables events ({e}); checking every {}s only",
                args.check_interval
            );
            None
        }
    };
    let engine = Arc::new(Mutex::new(engine));
    // Uplinks and leftover bridges are followed live (firewall VM: no).
    let mut links = if args.firewall_vm {
        None
    } else {
        match anklume_hostnet::Watcher::open()
            .map_err(|e| e.to_string())
            .and_then(|w| watch_links(w).map_err(|e| e.to_string()))
        {
            Ok(links) => Some(links),
            Err(e) => {
                eprintln!(
                    "anklume-netd: cannot watch links and routes ({e}); checking every {}s only",
                    args.check_interval
                );
                None
            }
        }
    };

    let (connection, auth) = anklume_dbus::connect_system().await?;
    let service = NetworkService {
        engine: Arc::clone(&engine),
        auth,
    };
    connection
        .object_server()
        .at(OBJECT_PATH, service)
        .await
        .map_err(|e| e.to_string())?;
    let iface = connection
        .object_server()
        .interface::<_, NetworkService>(OBJECT_PATH)
        .await
        .map_err(|e| e.to_string())?;

    confine(&args, &infra_path)?;

    // Fail closed: an unreadable or invalid infra leaves the table in
    // force (if any) untouched; the error is in LastError.
    let outcome = iface
        .get()
        .await
        .apply_and_announce(iface.signal_emitter())
        .await;
    log_apply("start", &outcome);
    // Take the name last: a client that sees it sees the state after the
    // start-up apply.
    connection
        .request_name(BUS_NAME)
        .await
        .map_err(|e| format!("cannot own {BUS_NAME}: {e}"))?;
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    eprintln!(
        "anklume-netd: serving {BUS_NAME} (infra {}, table {})",
        infra_path.display(),
        if args.no_table_owner {
            "shared"
        } else {
            "owned"
        }
    );

    let mut tick = tokio::time::interval(Duration::from_secs(args.check_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let outcome = iface.get().await.apply_and_announce(iface.signal_emitter()).await;
                log_apply("reload", &outcome);
            }
            _ = tick.tick() => {
                iface.get().await.refresh_host_and_announce(iface.signal_emitter()).await;
                iface.get().await.repair_and_announce(iface.signal_emitter()).await;
            }
            () = links_changed(&mut links) => {
                iface.get().await.refresh_host_and_announce(iface.signal_emitter()).await;
            }
            touched = changed_by_others(&mut watcher, &engine) => {
                if touched {
                    iface.get().await.repair_and_announce(iface.signal_emitter()).await;
                }
            }
        }
    }
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    eprintln!("anklume-netd: stopping; table inet {TABLE} stays in force");
    Ok(())
}

/// Registers the watcher with the runtime. `AsyncFd::register` is the
/// non-deprecated way but is `unsafe` (the workspace forbids it); its one
/// requirement holds here: the Watcher owns its socket, which stays open
/// and unchanged until the Watcher is dropped.
#[allow(deprecated)]
fn watch(watcher: Watcher) -> std::io::Result<AsyncFd<Watcher>> {
    AsyncFd::with_interest(watcher, tokio::io::Interest::READABLE)
}

#[allow(deprecated)]
fn watch_links(
    watcher: anklume_hostnet::Watcher,
) -> std::io::Result<AsyncFd<anklume_hostnet::Watcher>> {
    AsyncFd::with_interest(watcher, tokio::io::Interest::READABLE)
}

/// Waits for link or route notifications, then a short quiet time (a
/// link coming up sends a burst). Without a watcher, never returns.
async fn links_changed(links: &mut Option<AsyncFd<anklume_hostnet::Watcher>>) {
    let Some(links) = links else {
        return std::future::pending().await;
    };
    loop {
        let Ok(mut guard) = links.readable_mut().await else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        };
        let any = guard.get_inner_mut().drain();
        guard.clear_ready();
        if any {
            break;
        }
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The burst's rest is covered by the refresh that follows.
    links.get_mut().drain();
}

fn log_apply(why: &str, outcome: &Result<Install, crate::engine::Failure>) {
    match outcome {
        Ok(Install::Replaced) => eprintln!("anklume-netd: {why}: ruleset applied"),
        Ok(Install::Adopted) => {
            eprintln!("anklume-netd: {why}: the ruleset in force is the infra's; now owned")
        }
        Ok(Install::Unchanged) => eprintln!("anklume-netd: {why}: ruleset unchanged"),
        Err(e) => eprintln!("anklume-netd: {why}: {e}; the ruleset in force (if any) stays"),
    }
}

/// Waits for nftables events; true when one touched our table and did not
/// come from us (or events were lost). Without a watcher, never returns.
async fn changed_by_others(watcher: &mut Option<AsyncFd<Watcher>>, engine: &Mutex<Engine>) -> bool {
    let Some(watcher) = watcher else {
        return std::future::pending().await;
    };
    let mut guard = match watcher.readable_mut().await {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("anklume-netd: nftables events: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return true;
        }
    };
    let port = engine.lock().await.port_id();
    let touched = match guard.get_inner_mut().drain(TABLE, port) {
        Ok(touched) => touched,
        Err(e) => {
            eprintln!("anklume-netd: nftables events: {e}");
            true
        }
    };
    guard.clear_ready();
    touched
}

/// Only CAP_NET_ADMIN (for the netlink socket already open); files: read
/// the configuration, the infra and the nesting context, nothing else.
/// The D-Bus socket is already connected, which Landlock does not restrict.
fn confine(args: &ServeArgs, infra: &Path) -> Result<(), String> {
    drop_capabilities(&[caps::Capability::CAP_NET_ADMIN]).map_err(|e| e.to_string())?;
    // Relative paths name files in the working directory.
    let parent = |p: &Path| {
        std::path::absolute(p)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default()
    };
    let access = FileAccess {
        read: vec![
            parent(&args.config),
            parent(infra),
            NestingContext::dir_from_env(),
        ],
        write: vec![],
    };
    let enforcement = restrict_files(&access).map_err(|e| e.to_string())?;
    eprintln!("anklume-netd: confined (capabilities: CAP_NET_ADMIN; Landlock: {enforcement:?})");
    Ok(())
}
