//! The `org.anklume.Snapshot1` object: each method authorises mutating
//! calls, runs the engine, and emits a signal per snapshot acted on (best
//! effort: the work is done whether or not the signal goes out).

use std::sync::Arc;

use anklume_daemon::LastValid;
use anklume_daemon::bus::emit;
use anklume_dbus::error::cut;
use anklume_dbus::snapshot::{ListedSnapshot, MANAGE_ACTION};
use anklume_dbus::{AnklumeError, Authorizer};
use anklume_infra::Infra;
use anklume_snapshot::{Done, Engine, EngineError, SnapshotStore};
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use crate::status::Status;

/// The host's infra: the last valid one (`None` before any, e.g. on a fresh
/// install) and why the last read was refused.
pub type HostInfra = LastValid<Option<Arc<Infra>>>;

/// The service over any snapshot store: Incus, or `SimIncus` (`--sim`).
pub struct SnapshotService<S> {
    pub engine: Arc<Engine<S>>,
    pub auth: Authorizer,
    pub status: Arc<Status>,
    pub infra: Arc<HostInfra>,
}

impl<S: SnapshotStore> SnapshotService<S> {
    /// What `LastError` says now.
    pub fn current_error(&self) -> String {
        self.status.last_error(self.infra.error())
    }

    /// Emits PropertiesChanged for `LastError` when it is no longer
    /// `before` (each call re-reads the infra; so does a reload).
    pub async fn announce_error(&self, before: String, emitter: &SignalEmitter<'_>) {
        if self.current_error() != before {
            emit(NAME, "LastError", self.last_error_changed(emitter)).await;
        }
    }
}

/// The engine's errors as `org.anklume.Error.*`, messages bounded.
fn dbus_error(e: EngineError) -> AnklumeError {
    match e {
        EngineError::NotFound(m) => AnklumeError::NotFound(cut(m)),
        EngineError::InvalidArgument(m) => AnklumeError::InvalidArgument(cut(m)),
        EngineError::InvalidInfra(m) => AnklumeError::InvalidInfra(cut(m)),
        EngineError::Incus(m) => AnklumeError::Incus(cut(m)),
        EngineError::State(m) => AnklumeError::State(cut(m)),
    }
}

fn names(done: &[Done]) -> Vec<String> {
    done.iter().map(ToString::to_string).collect()
}

/// Signals name the instance they concern as a target, `instance:<name>`.
fn signal_target(done: &Done) -> String {
    format!("instance:{}", done.instance.instance)
}

const NAME: &str = "anklume-snapd";

async fn created<S: SnapshotStore>(emitter: &SignalEmitter<'_>, done: &[Done]) {
    for d in done {
        let target = signal_target(d);
        let sent = SnapshotService::<S>::snapshot_created(emitter, &target, &d.snapshot);
        emit(NAME, "SnapshotCreated", sent).await;
    }
}

async fn deleted<S: SnapshotStore>(emitter: &SignalEmitter<'_>, done: &[Done]) {
    for d in done {
        let target = signal_target(d);
        let sent = SnapshotService::<S>::snapshot_deleted(emitter, &target, &d.snapshot);
        emit(NAME, "SnapshotDeleted", sent).await;
    }
}

// Methods take `&self`: zbus runs each call in its own task, so calls on
// different instances proceed concurrently (the engine serialises calls
// on one instance).
#[interface(name = "org.anklume.Snapshot1")]
impl<S: SnapshotStore> SnapshotService<S> {
    /// Snapshot `target` as `name` (empty: timestamped, subject to Prune).
    async fn create(
        &self,
        target: &str,
        name: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<String>, AnklumeError> {
        self.auth.check(&header, MANAGE_ACTION).await?;
        let before = self.current_error();
        let done = self.engine.create(target, name).await;
        self.announce_error(before, &emitter).await;
        let done = done.map_err(dbus_error)?;
        created::<S>(&emitter, &done).await;
        Ok(names(&done))
    }

    /// Roll `target` back to `name`; a safety snapshot of each instance is
    /// taken first. If any instance lacks `name`, nothing is changed.
    async fn restore(
        &self,
        target: &str,
        name: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<String>, AnklumeError> {
        self.auth.check(&header, MANAGE_ACTION).await?;
        let before = self.current_error();
        let restored = self.engine.restore(target, name).await;
        self.announce_error(before, &emitter).await;
        let restored = restored.map_err(dbus_error)?;
        created::<S>(&emitter, &restored.safety).await;
        for d in &restored.restored {
            let target = signal_target(d);
            let sent = Self::snapshot_restored(&emitter, &target, &d.snapshot);
            emit(NAME, "SnapshotRestored", sent).await;
        }
        Ok(names(&restored.restored))
    }

    async fn delete(
        &self,
        target: &str,
        name: &str,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<String>, AnklumeError> {
        self.auth.check(&header, MANAGE_ACTION).await?;
        let before = self.current_error();
        let done = self.engine.delete(target, name).await;
        self.announce_error(before, &emitter).await;
        let done = done.map_err(dbus_error)?;
        deleted::<S>(&emitter, &done).await;
        Ok(names(&done))
    }

    /// Every snapshot of `target`: domain, instance, snapshot, creation
    /// time (unix seconds). Open to every local user.
    async fn list(
        &self,
        target: &str,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<ListedSnapshot>, AnklumeError> {
        let before = self.current_error();
        let listed = self.engine.list(target).await;
        self.announce_error(before, &emitter).await;
        let listed = listed.map_err(dbus_error)?;
        Ok(listed
            .into_iter()
            .map(|l| (l.domain, l.instance, l.snapshot, l.created))
            .collect())
    }

    /// Apply the retention policy to the snapshots this daemon made.
    async fn prune(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<Vec<String>, AnklumeError> {
        self.auth.check(&header, MANAGE_ACTION).await?;
        let done = self.engine.prune().await.map_err(dbus_error)?;
        deleted::<S>(&emitter, &done).await;
        Ok(names(&done))
    }

    /// The problems the daemon works around now (a registry moved aside,
    /// a configuration not reloaded, an invalid infra); empty when none.
    #[zbus(property)]
    async fn last_error(&self) -> String {
        self.current_error()
    }

    #[zbus(signal)]
    async fn snapshot_created(
        emitter: &SignalEmitter<'_>,
        target: &str,
        name: &str,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    async fn snapshot_restored(
        emitter: &SignalEmitter<'_>,
        target: &str,
        name: &str,
    ) -> zbus::Result<()>;
    #[zbus(signal)]
    async fn snapshot_deleted(
        emitter: &SignalEmitter<'_>,
        target: &str,
        name: &str,
    ) -> zbus::Result<()>;
}
