//! The `org.anklume.Network1` object: Apply and Withdraw (authorised per
//! call), Preview and the properties (open to everyone). Every apply,
//! whatever started it (D-Bus, SIGHUP, drift repair, the host's links), and
//! every withdrawal runs on a blocking thread with the engine lock and is
//! announced the same way: PropertiesChanged for what changed,
//! RulesetApplied when the table in force changed, RulesetWithdrawn when
//! Withdraw deleted it. Preview and the properties never take the engine lock:
//! Preview reads the planner's cache (one render per infra content), the
//! properties a copy of the status, so no reader makes Apply wait.

use std::sync::{Arc, PoisonError};

use anklume_daemon::bus;
use anklume_dbus::error::cut;
use anklume_dbus::network::{APPLY_ACTION, WITHDRAW_ACTION};
use anklume_dbus::{AnklumeError, Authorizer};
use anklume_netengine::{Engine, Failure, Install, PlanError, Planner, Status};
use tokio::sync::Mutex;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

pub const NAME: &str = "anklume-netd";

pub struct NetworkService {
    pub engine: Arc<Mutex<Engine>>,
    pub planner: Arc<Planner>,
    /// The engine's status after its last operation.
    pub status: Arc<std::sync::Mutex<Status>>,
    pub auth: Authorizer,
}

/// The one mapping of the engine's errors to `org.anklume.Error.*`.
pub fn dbus_error(failure: &Failure) -> AnklumeError {
    let message = cut(failure.to_string());
    match failure {
        Failure::Plan(PlanError::Infra(_)) => AnklumeError::InvalidInfra(message),
        Failure::Plan(PlanError::Links(_))
        | Failure::Kernel(_)
        | Failure::Refresh(_)
        | Failure::Restore(_)
        | Failure::Withdraw(_) => AnklumeError::Netlink(message),
    }
}

impl NetworkService {
    pub fn new(engine: Engine, auth: Authorizer) -> Self {
        Self {
            planner: Arc::clone(engine.planner()),
            status: Arc::new(std::sync::Mutex::new(engine.status().clone())),
            engine: Arc::new(Mutex::new(engine)),
            auth,
        }
    }

    /// Runs `op` on the engine, on a blocking thread (a render or a netlink
    /// batch never holds up the bus), and announces what changed.
    async fn run<T: Send + 'static>(
        &self,
        emitter: &SignalEmitter<'_>,
        op: impl FnOnce(&mut Engine) -> (T, bool) + Send + 'static,
    ) -> T {
        let mut engine = Arc::clone(&self.engine).lock_owned().await;
        let status = Arc::clone(&self.status);
        let (before, (result, changed), after) = tokio::task::spawn_blocking(move || {
            let before = engine.status().clone();
            let result = op(&mut engine);
            let after = engine.status().clone();
            // Still under the engine lock: copies never go back in time.
            *status.lock().unwrap_or_else(PoisonError::into_inner) = after.clone();
            (before, result, after)
        })
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        self.announce(emitter, &before, &after, changed).await;
        result
    }

    /// Re-reads the infra, applies it, announces the outcome.
    pub async fn apply_and_announce(
        &self,
        emitter: &SignalEmitter<'_>,
    ) -> Result<Install, Failure> {
        self.run(emitter, |engine| {
            let result = engine.apply();
            let changed = matches!(result, Ok(Install::Replaced));
            (result, changed)
        })
        .await
    }

    /// Deletes the table in force and keeps none until the next apply;
    /// announces it. True when a table was deleted.
    pub async fn withdraw_and_announce(
        &self,
        emitter: &SignalEmitter<'_>,
    ) -> Result<bool, Failure> {
        let result = self
            .run(emitter, |engine| {
                let hash = engine.status().hash.clone();
                (engine.withdraw().map(|deleted| (deleted, hash)), false)
            })
            .await;
        let table = anklume_netpolicy::TABLE;
        match &result {
            Ok((true, hash)) => {
                eprintln!(
                    "{NAME}: table inet {table} withdrawn on request (ruleset {hash}); \
                     none is kept until the next Apply or reload"
                );
                bus::emit(
                    NAME,
                    "RulesetWithdrawn",
                    Self::ruleset_withdrawn(emitter, hash),
                )
                .await;
            }
            Ok((false, _)) => eprintln!(
                "{NAME}: withdraw: no table inet {table} was in force; \
                 none is kept until the next Apply or reload"
            ),
            Err(e) => eprintln!("{NAME}: {e}"),
        }
        result.map(|(deleted, _)| deleted)
    }

    /// Restores the table last applied if it is no longer in force.
    pub async fn repair_and_announce(&self, emitter: &SignalEmitter<'_>) {
        let result = self
            .run(emitter, |engine| {
                let result = engine.repair();
                let changed = matches!(result, Ok(Some(_)));
                (result, changed)
            })
            .await;
        match result {
            Ok(Some(hash)) => eprintln!(
                "{NAME}: table inet {} was changed or removed by someone else; \
                 restored ruleset {hash}",
                anklume_netpolicy::TABLE
            ),
            Ok(None) => {}
            Err(e) => eprintln!("{NAME}: {e}"),
        }
    }

    /// Re-applies the last infra's table when the host's interfaces or
    /// uplinks changed it.
    pub async fn refresh_host_and_announce(&self, emitter: &SignalEmitter<'_>) {
        let result = self
            .run(emitter, |engine| {
                let result = engine.refresh_host();
                let changed = matches!(result, Ok(Some(_)));
                (result, changed)
            })
            .await;
        match result {
            Ok(Some(hash)) => {
                eprintln!(
                    "{NAME}: the host's interfaces or uplinks changed; applied ruleset {hash}"
                );
            }
            Ok(None) => {}
            Err(e) => eprintln!("{NAME}: {e}"),
        }
    }

    /// The netlink port of the engine's own changes.
    pub async fn port_id(&self) -> u32 {
        self.engine.lock().await.port_id()
    }

    /// Whether the engine owns the table.
    pub async fn owned(&self) -> bool {
        self.engine.lock().await.owned()
    }

    /// Signals are best effort: a bus hiccup must not fail an apply that
    /// happened.
    async fn announce(
        &self,
        emitter: &SignalEmitter<'_>,
        before: &Status,
        after: &Status,
        table_changed: bool,
    ) {
        if before.applied != after.applied {
            bus::emit(NAME, "Applied", self.applied_changed(emitter)).await;
        }
        if before.hash != after.hash {
            bus::emit(NAME, "RulesetHash", self.ruleset_hash_changed(emitter)).await;
        }
        if before.domains != after.domains {
            bus::emit(NAME, "DomainCount", self.domain_count_changed(emitter)).await;
        }
        if before.policies != after.policies {
            bus::emit(NAME, "PolicyCount", self.policy_count_changed(emitter)).await;
        }
        if before.last_applied != after.last_applied {
            bus::emit(NAME, "LastApplied", self.last_applied_changed(emitter)).await;
        }
        if before.last_error != after.last_error {
            bus::emit(NAME, "LastError", self.last_error_changed(emitter)).await;
        }
        if before.withdrawn != after.withdrawn {
            bus::emit(NAME, "Withdrawn", self.withdrawn_changed(emitter)).await;
        }
        if table_changed {
            bus::emit(
                NAME,
                "RulesetApplied",
                Self::ruleset_applied(emitter, &after.hash),
            )
            .await;
        }
    }

    fn status(&self) -> Status {
        self.status
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

#[interface(name = "org.anklume.Network1")]
impl NetworkService {
    /// Re-reads the infra and applies its ruleset in one netlink batch;
    /// true when the table in force changed. On error the previous
    /// ruleset stays in force.
    async fn apply(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<bool, AnklumeError> {
        self.auth.check(&header, APPLY_ACTION).await?;
        let install = self
            .apply_and_announce(&emitter)
            .await
            .map_err(|e| dbus_error(&e))?;
        Ok(install == Install::Replaced)
    }

    /// The ruleset of the current infra, as `nft list table inet anklume`
    /// shows it once applied. Open to every local user: from the cache
    /// when this infra content was rendered before, never behind Apply.
    async fn preview(&self) -> Result<String, AnklumeError> {
        let planner = Arc::clone(&self.planner);
        tokio::task::spawn_blocking(move || planner.plan())
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            .map(|plan| plan.planned.text.clone())
            .map_err(|e| dbus_error(&Failure::Plan(e)))
    }

    /// Deletes the table in force and keeps none: no drift repair, no
    /// rebuild for the host's links, until the next Apply or reload. True
    /// when a table was deleted, false when there was none (withdrawn all
    /// the same). On error the table stays in force and is still kept.
    async fn withdraw(
        &self,
        #[zbus(header)] header: Header<'_>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Result<bool, AnklumeError> {
        self.auth.check(&header, WITHDRAW_ACTION).await?;
        self.withdraw_and_announce(&emitter)
            .await
            .map_err(|e| dbus_error(&e))
    }

    #[zbus(property)]
    async fn applied(&self) -> bool {
        self.status().applied
    }

    #[zbus(property)]
    async fn ruleset_hash(&self) -> String {
        self.status().hash
    }

    #[zbus(property)]
    async fn domain_count(&self) -> u32 {
        self.status().domains
    }

    #[zbus(property)]
    async fn policy_count(&self) -> u32 {
        self.status().policies
    }

    #[zbus(property)]
    async fn last_applied(&self) -> u64 {
        self.status().last_applied
    }

    #[zbus(property)]
    async fn last_error(&self) -> String {
        self.status().last_error
    }

    #[zbus(property)]
    async fn withdrawn(&self) -> bool {
        self.status().withdrawn
    }

    #[zbus(signal)]
    async fn ruleset_withdrawn(emitter: &SignalEmitter<'_>, hash: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    async fn ruleset_applied(emitter: &SignalEmitter<'_>, hash: &str) -> zbus::Result<()>;
}
