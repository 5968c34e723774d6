//! `anklume-netd serve` on the anklume-daemon skeleton: signals blocked,
//! confined (CAP_NET_ADMIN kept; read-only configuration, infra, context)
//! before any thread, then the runtime; inside it the kernel (netlink, or
//! in memory with `--sim`), the object, the start-up apply, the name,
//! READY. Then: SIGHUP re-reads the configuration and applies
//! (RELOADING … READY), the table is repaired whenever it drifts and
//! rebuilt when the host's links change, until SIGTERM (STOPPING). After
//! a D-Bus Withdraw neither puts it back: only the next Apply or SIGHUP
//! does. The table stays in force when the daemon exits.

use std::sync::Arc;
use std::time::Duration;

use anklume_daemon::{Confinement, Daemon, DaemonError, Event, Paths, Started, Workers, bus};
use anklume_dbus::network::{BUS_NAME, OBJECT_PATH};
use anklume_netengine::memory::{FixedLinks, MemoryNft};
use anklume_netengine::{
    Engine, Failure, Install, Kernel, Links, NetlinkKernel, Planner, SystemLinks,
};
use anklume_netpolicy::TABLE;
use anklume_nft::Ownership;
use zbus::object_server::InterfaceRef;

use crate::cli::ServeArgs;
use crate::service::{NAME, NetworkService};

mod watch;

pub fn serve(args: ServeArgs) -> Result<(), DaemonError> {
    let daemon = Daemon {
        name: NAME,
        workers: Workers::Current,
    };
    let common = args.common.clone();
    let sim = args.sim;
    daemon.run(
        &common,
        |_, paths| Ok(confinement(paths, sim)),
        |started| run(args, started),
    )
}

/// Only CAP_NET_ADMIN (none with `--sim`): the netlink sockets are opened
/// inside `run`, after confinement, and keep working with it. Files: read
/// the configuration, the infra and the nesting context, nothing else.
/// The D-Bus socket is reached by connect(), which Landlock does not
/// restrict.
fn confinement(paths: &Paths, sim: bool) -> Confinement {
    let confinement = Confinement::for_paths(paths);
    if sim {
        confinement
    } else {
        confinement.keep(caps::Capability::CAP_NET_ADMIN)
    }
}

async fn run(args: ServeArgs, started: Started) -> Result<(), DaemonError> {
    let Started {
        paths, mut signals, ..
    } = started;
    let ownership = if args.no_table_owner {
        Ownership::Shared
    } else {
        Ownership::Owned
    };
    let (kernel, links): (Box<dyn Kernel>, Arc<dyn Links>) = if args.sim {
        (
            Box::new(MemoryNft::new().socket()),
            Arc::new(FixedLinks::loopback()),
        )
    } else {
        let mut netlink = NetlinkKernel::default();
        if let Err(e) = netlink.open() {
            eprintln!("{NAME}: {e}");
        }
        (Box::new(netlink), Arc::new(SystemLinks))
    };
    let planner = Arc::new(Planner::new(paths.infra.clone(), args.firewall_vm, links));
    let engine = Engine::new(kernel, planner, ownership);
    // Real kernel only: nftables changes by others, links and routes
    // (uplinks and leftover bridges are followed live; firewall VM: no).
    let watch::Watchers {
        mut table,
        mut links,
    } = watch::Watchers::open(&args);

    let (connection, auth) = bus::connect().await?;
    let iface = bus::serve(&connection, OBJECT_PATH, NetworkService::new(engine, auth)).await?;
    // Fail closed: an unreadable or invalid infra leaves the table in
    // force (if any) untouched; the error is in LastError.
    let outcome = apply(&iface).await;
    log_apply("start", &outcome);
    if ownership == Ownership::Owned && outcome.is_ok() && !iface.get().await.owned().await {
        eprintln!(
            "{NAME}: this kernel cannot make the table owned (Linux >= 6.9); \
             the drift check restores it instead"
        );
    }
    // The name last: a client that sees it sees the state after the
    // start-up apply. Then READY.
    bus::take_name(&connection, BUS_NAME).await?;
    eprintln!(
        "{NAME}: serving {BUS_NAME} (infra {}, table {}{})",
        paths.infra.display(),
        if args.no_table_owner {
            "shared"
        } else {
            "owned"
        },
        if args.sim { ", simulated kernel" } else { "" }
    );

    let mut tick = tokio::time::interval(Duration::from_secs(args.check_interval));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            event = signals.next() => match event {
                Event::Stop => break,
                Event::Reload => {
                    bus::reloading();
                    reload(&paths, args.common.infra.is_some());
                    log_apply("reload", &apply(&iface).await);
                    bus::ready();
                }
            },
            _ = tick.tick() => {
                let service = iface.get().await;
                service.refresh_host_and_announce(iface.signal_emitter()).await;
                service.repair_and_announce(iface.signal_emitter()).await;
            }
            () = watch::links_changed(&mut links) => {
                iface.get().await.refresh_host_and_announce(iface.signal_emitter()).await;
            }
            touched = watch::table_changed_by_others(&mut table, &iface) => {
                if touched {
                    iface.get().await.repair_and_announce(iface.signal_emitter()).await;
                }
            }
        }
    }
    bus::stopping();
    eprintln!("{NAME}: stopping; table inet {TABLE} stays in force");
    Ok(())
}

async fn apply(iface: &InterfaceRef<NetworkService>) -> Result<Install, Failure> {
    iface
        .get()
        .await
        .apply_and_announce(iface.signal_emitter())
        .await
}

/// SIGHUP: the configuration is read again (a broken one is reported and
/// the daemon goes on); the infra path stays the one found at start
/// (confinement was built for it). The infra itself is read by the apply
/// that follows.
fn reload(paths: &Paths, overridden: bool) {
    match paths.reload() {
        Ok(config) if !overridden && config.infra != paths.infra => eprintln!(
            "{NAME}: the configuration now names the infra {}; restart {NAME} to use it",
            config.infra.display()
        ),
        Ok(_) => eprintln!("{NAME}: configuration reloaded"),
        Err(e) => eprintln!("{NAME}: configuration not reloaded, the previous one stays: {e}"),
    }
}

fn log_apply(why: &str, outcome: &Result<Install, Failure>) {
    match outcome {
        Ok(Install::Replaced) => eprintln!("{NAME}: {why}: ruleset applied"),
        Ok(Install::Adopted) => {
            eprintln!("{NAME}: {why}: the ruleset in force is the infra's; now owned");
        }
        Ok(Install::Unchanged) => eprintln!("{NAME}: {why}: ruleset unchanged"),
        Err(e) => eprintln!("{NAME}: {why}: {e}; the ruleset in force (if any) stays"),
    }
}
