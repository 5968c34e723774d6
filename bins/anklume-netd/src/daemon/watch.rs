//! The real kernel's change notifications: nftables (someone else changed
//! our table: repair) and rtnetlink (links and routes: rebuild for the
//! host's new uplinks or leftover bridges). Without them (`--sim`, or
//! when a socket cannot be opened) the periodic check does the work.

use std::time::Duration;

use anklume_netpolicy::TABLE;
use anklume_nft::Watcher;
use tokio::io::unix::AsyncFd;
use zbus::object_server::InterfaceRef;

use crate::cli::ServeArgs;
use crate::service::{NAME, NetworkService};

pub struct Watchers {
    pub table: Option<AsyncFd<Watcher>>,
    pub links: Option<AsyncFd<anklume_hostnet::Watcher>>,
}

impl Watchers {
    pub fn open(args: &ServeArgs) -> Self {
        if args.sim {
            return Self {
                table: None,
                links: None,
            };
        }
        let interval = args.check_interval;
        let table = match Watcher::open()
            .map_err(|e| e.to_string())
            .and_then(|w| register(w).map_err(|e| e.to_string()))
        {
            Ok(watcher) => Some(watcher),
            Err(e) => {
                eprintln!(
                    "{NAME}: cannot watch nftables events ({e}); checking every {interval}s only"
                );
                None
            }
        };
        let links = if args.firewall_vm {
            None
        } else {
            match anklume_hostnet::Watcher::open()
                .map_err(|e| e.to_string())
                .and_then(|w| register(w).map_err(|e| e.to_string()))
            {
                Ok(links) => Some(links),
                Err(e) => {
                    eprintln!(
                        "{NAME}: cannot watch links and routes ({e}); checking every {interval}s only"
                    );
                    None
                }
            }
        };
        Self { table, links }
    }
}

/// Waits for link or route notifications, then a short quiet time (a
/// link coming up sends a burst). Without a watcher, never returns.
pub async fn links_changed(links: &mut Option<AsyncFd<anklume_hostnet::Watcher>>) {
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

/// Waits for nftables events; true when one touched our table and did
/// not come from us (or events were lost). Without a watcher, never
/// returns.
pub async fn table_changed_by_others(
    table: &mut Option<AsyncFd<Watcher>>,
    iface: &InterfaceRef<NetworkService>,
) -> bool {
    let Some(watcher) = table else {
        return std::future::pending().await;
    };
    let mut guard = match watcher.readable_mut().await {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("{NAME}: nftables events: {e}");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return true;
        }
    };
    let port = iface.get().await.port_id().await;
    let touched = match guard.get_inner_mut().drain(TABLE, port) {
        Ok(touched) => touched,
        Err(e) => {
            eprintln!("{NAME}: nftables events: {e}");
            true
        }
    };
    guard.clear_ready();
    touched
}

/// Registers a watcher with the runtime. `AsyncFd::register` is the
/// non-deprecated way but is `unsafe` (the workspace forbids it); its one
/// requirement holds here: the watcher owns its socket, which stays open
/// and unchanged until the watcher is dropped.
#[allow(deprecated)]
fn register<T: std::os::fd::AsRawFd>(watcher: T) -> std::io::Result<AsyncFd<T>> {
    AsyncFd::with_interest(watcher, tokio::io::Interest::READABLE)
}
