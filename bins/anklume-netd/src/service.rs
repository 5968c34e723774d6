//! The `org.anklume.Network1` object: Apply (authorised per call), Preview
//! and the properties (open to everyone). Every apply, whatever started it
//! (D-Bus, SIGHUP, drift repair), is announced the same way:
//! PropertiesChanged for what changed, RulesetApplied when the table in
//! force changed.

use std::sync::Arc;

use anklume_dbus::network::APPLY_ACTION;
use anklume_dbus::{AnklumeError, Authorizer};
use tokio::sync::Mutex;
use zbus::interface;
use zbus::message::Header;
use zbus::object_server::SignalEmitter;

use crate::engine::{Engine, Failure, Install, Status};
use crate::plan::plan;

pub struct NetworkService {
    pub engine: Arc<Mutex<Engine>>,
    pub auth: Authorizer,
}

impl From<Failure> for AnklumeError {
    fn from(failure: Failure) -> Self {
        match failure {
            Failure::InvalidInfra(m) => AnklumeError::InvalidInfra(m),
            Failure::Netlink(m) => AnklumeError::Netlink(m),
        }
    }
}

impl NetworkService {
    /// Re-reads the infra, applies it, announces the outcome.
    pub async fn apply_and_announce(
        &self,
        emitter: &SignalEmitter<'_>,
    ) -> Result<Install, Failure> {
        let (before, result, after) = {
            let mut engine = self.engine.lock().await;
            let before = engine.status.clone();
            let result = engine.apply();
            (before, result, engine.status.clone())
        };
        let changed = matches!(result, Ok(Install::Replaced));
        self.announce(emitter, &before, &after, changed).await;
        result
    }

    /// Restores the table last applied if it is no longer in force.
    pub async fn repair_and_announce(&self, emitter: &SignalEmitter<'_>) {
        let (before, result, after) = {
            let mut engine = self.engine.lock().await;
            let before = engine.status.clone();
            let result = engine.repair();
            (before, result, engine.status.clone())
        };
        match &result {
            Ok(Some(hash)) => eprintln!(
                "anklume-netd: table inet {} was changed or removed by someone else; \
                 restored ruleset {hash}",
                anklume_netpolicy::TABLE
            ),
            Ok(None) => {}
            Err(e) => eprintln!("anklume-netd: {e}"),
        }
        self.announce(emitter, &before, &after, matches!(result, Ok(Some(_))))
            .await;
    }

    /// Re-applies the last infra's table when the host's interfaces or
    /// uplinks changed it.
    pub async fn refresh_host_and_announce(&self, emitter: &SignalEmitter<'_>) {
        let (before, result, after) = {
            let mut engine = self.engine.lock().await;
            let before = engine.status.clone();
            let result = engine.refresh_host();
            (before, result, engine.status.clone())
        };
        match &result {
            Ok(Some(hash)) => eprintln!(
                "anklume-netd: the host's interfaces or uplinks changed; applied ruleset {hash}"
            ),
            Ok(None) => {}
            Err(e) => eprintln!("anklume-netd: {e}"),
        }
        self.announce(emitter, &before, &after, matches!(result, Ok(Some(_))))
            .await;
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
            let _ = self.applied_changed(emitter).await;
        }
        if before.hash != after.hash {
            let _ = self.ruleset_hash_changed(emitter).await;
        }
        if before.domains != after.domains {
            let _ = self.domain_count_changed(emitter).await;
        }
        if before.policies != after.policies {
            let _ = self.policy_count_changed(emitter).await;
        }
        if before.last_applied != after.last_applied {
            let _ = self.last_applied_changed(emitter).await;
        }
        if before.last_error != after.last_error {
            let _ = self.last_error_changed(emitter).await;
        }
        if table_changed {
            let _ = Self::ruleset_applied(emitter, &after.hash).await;
        }
    }

    async fn status(&self) -> Status {
        self.engine.lock().await.status.clone()
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
        let install = self.apply_and_announce(&emitter).await?;
        Ok(install == Install::Replaced)
    }

    /// The ruleset of the current infra, as `nft list table inet anklume`
    /// shows it once applied. Open to every local user.
    async fn preview(&self) -> Result<String, AnklumeError> {
        let (infra, firewall_vm) = {
            let engine = self.engine.lock().await;
            (engine.infra.clone(), engine.firewall_vm)
        };
        plan(&infra, firewall_vm)
            .map(|planned| planned.text())
            .map_err(|e| AnklumeError::InvalidInfra(e.to_string()))
    }

    #[zbus(property)]
    async fn applied(&self) -> bool {
        self.status().await.applied
    }

    #[zbus(property)]
    async fn ruleset_hash(&self) -> String {
        self.status().await.hash
    }

    #[zbus(property)]
    async fn domain_count(&self) -> u32 {
        self.status().await.domains
    }

    #[zbus(property)]
    async fn policy_count(&self) -> u32 {
        self.status().await.policies
    }

    #[zbus(property)]
    async fn last_applied(&self) -> u64 {
        self.status().await.last_applied
    }

    #[zbus(property)]
    async fn last_error(&self) -> String {
        self.status().await.last_error
    }

    #[zbus(signal)]
    async fn ruleset_applied(emitter: &SignalEmitter<'_>, hash: &str) -> zbus::Result<()>;
}
