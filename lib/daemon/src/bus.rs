//! Serving on the system bus and telling systemd where the daemon is:
//! the object first, then the name, then READY; RELOADING … READY around a
//! reload; STOPPING on the way out. Signals are sent best effort.

use std::future::Future;

use sd_notify::NotifyState;
use zbus::Connection;
use zbus::object_server::{Interface, InterfaceRef};

use crate::{DaemonError, Event, Signals};

/// Serves `iface` at `path` (before the name is taken, so a client that
/// sees the name always finds the object).
pub async fn serve<I: Interface>(
    connection: &Connection,
    path: &str,
    iface: I,
) -> Result<InterfaceRef<I>, DaemonError> {
    let server = connection.object_server();
    server
        .at(path, iface)
        .await
        .map_err(|e| DaemonError::bus(format!("serve {path}"), e))?;
    server
        .interface::<_, I>(path)
        .await
        .map_err(|e| DaemonError::bus(format!("serve {path}"), e))
}

/// Takes the bus name, then tells systemd the daemon is ready.
pub async fn take_name(connection: &Connection, name: &str) -> Result<(), DaemonError> {
    connection
        .request_name(name)
        .await
        .map_err(|e| DaemonError::bus(format!("own {name}"), e))?;
    ready();
    Ok(())
}

/// Waits for signals until one says stop; each SIGHUP runs `reload`
/// between RELOADING and READY. Tells systemd STOPPING at the end.
pub async fn until_stopped<R, Fut>(signals: &mut Signals, mut reload: R)
where
    R: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    while signals.next().await == Event::Reload {
        reloading();
        reload().await;
        let _ = sd_notify::notify(&[NotifyState::Ready]);
    }
    stopping();
}

/// RELOADING=1 with the monotonic time systemd ≥ 253 expects.
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    states.extend(NotifyState::monotonic_usec_now().ok());
    let _ = sd_notify::notify(&states);
}

pub fn ready() {
    let _ = sd_notify::notify(&[NotifyState::Ready]);
}

pub fn stopping() {
    let _ = sd_notify::notify(&[NotifyState::Stopping]);
}

/// Sends a D-Bus signal without letting a bus hiccup fail the method
/// whose work is already done: a failure is logged, never returned.
pub async fn emit(daemon: &str, signal: &str, sent: impl Future<Output = zbus::Result<()>>) {
    if let Err(e) = sent.await {
        eprintln!("{daemon}: cannot emit {signal}: {e}");
    }
}

/// The system bus (`DBUS_SYSTEM_BUS_ADDRESS` honoured) and the authorizer
/// that mutating calls go through.
pub async fn connect() -> Result<(Connection, anklume_dbus::Authorizer), DaemonError> {
    let connection = Connection::system()
        .await
        .map_err(|e| DaemonError::bus("connect to the system bus", e))?;
    let auth = anklume_dbus::Authorizer::new(&connection)
        .await
        .map_err(|e| DaemonError::bus("reach the bus daemon", e))?;
    Ok((connection, auth))
}
