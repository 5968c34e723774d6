//! Tagging the snapshots the engine makes, write-ahead: the intent is
//! saved before Incus is asked, completed after; intents left by a killed
//! daemon are settled against Incus (at start-up and before each prune).

use super::{Done, Engine, EngineError, InstanceRef, incus, state};
use crate::registry::{Intent, Tagged};
use crate::store::{SnapshotStore, StoredSnapshot};

/// What start-up reconciliation did with the intents it found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Snapshots that Incus made: now tagged, so retention handles them.
    pub tagged: Vec<Done>,
    /// Intents Incus never carried out: dropped.
    pub dropped: Vec<Done>,
    /// Instances Incus could not be asked about: their intents stay.
    pub unsettled: Vec<String>,
}

impl<S: SnapshotStore> Engine<S> {
    /// Creates one snapshot; a tagged one is recorded in the registry
    /// before Incus is asked for it. The caller holds the instance's lock.
    pub(super) async fn snapshot(
        &self,
        instance: &InstanceRef,
        name: &str,
        tag: bool,
    ) -> Result<Done, EngineError> {
        let done = Done {
            instance: instance.clone(),
            snapshot: name.to_owned(),
        };
        if !tag {
            self.store
                .create(&instance.project, &instance.instance, name)
                .await
                .map_err(incus)?;
            return Ok(done);
        }
        let intent = Intent {
            project: instance.project.clone(),
            instance: instance.instance.clone(),
            name: name.to_owned(),
            since: (self.clock)(),
        };
        self.registry
            .lock()
            .await
            .intend(intent.clone())
            .map_err(|e| EngineError::State(format!("{e}; no snapshot {name} was made")))?;
        let created = self
            .store
            .create(&instance.project, &instance.instance, name)
            .await;
        // Made or not (a failed call may still have made it), Incus says.
        let existing = self
            .store
            .snapshots(&instance.project, &instance.instance)
            .await
            .map_err(incus)?;
        self.settle(instance, &existing).await?;
        created.map_err(incus)?;
        Ok(done)
    }

    pub(super) async fn untag(&self, instance: &InstanceRef, name: &str) {
        let mut registry = self.registry.lock().await;
        let _ = registry.retain(|t| {
            !(t.project == instance.project && t.instance == instance.instance && t.name == name)
        });
    }

    /// Settles the intents on `instance` against what Incus has (the
    /// caller holds the instance's lock, so none is in flight): made ones
    /// become tags, the others are dropped. Returns the instance's tags.
    pub(super) async fn settle(
        &self,
        instance: &InstanceRef,
        existing: &[StoredSnapshot],
    ) -> Result<Vec<Tagged>, EngineError> {
        let mut registry = self.registry.lock().await;
        let intents: Vec<Intent> = registry
            .pending()
            .filter(|i| i.is_on(&instance.project, &instance.instance))
            .cloned()
            .collect();
        for intent in intents {
            match existing.iter().find(|s| intent.made(&s.name, s.created)) {
                Some(made) => registry.complete(&intent, made.created),
                None => registry.abandon(&intent),
            }
            .map_err(state)?;
        }
        Ok(registry
            .entries()
            .filter(|t| t.project == instance.project && t.instance == instance.instance)
            .cloned()
            .collect())
    }

    /// Settles every intent a killed daemon left: run at start-up, before
    /// serving. An instance that no longer exists drops its intents.
    pub async fn reconcile(&self) -> Result<Reconciled, EngineError> {
        let instances: Vec<InstanceRef> = {
            let registry = self.registry.lock().await;
            let mut on: Vec<InstanceRef> = registry
                .pending()
                .map(|i| InstanceRef {
                    project: i.project.clone(),
                    instance: i.instance.clone(),
                })
                .collect();
            on.dedup();
            on
        };
        let mut reconciled = Reconciled::default();
        for instance in instances {
            let _lock = self.lock(&instance).await;
            let before: Vec<Intent> = self
                .registry
                .lock()
                .await
                .pending()
                .filter(|i| i.is_on(&instance.project, &instance.instance))
                .cloned()
                .collect();
            let existing = match self
                .store
                .snapshots(&instance.project, &instance.instance)
                .await
            {
                Ok(list) => list,
                Err(e) if e.not_found => Vec::new(),
                Err(e) => {
                    reconciled.unsettled.push(format!("{instance}: {e}"));
                    continue;
                }
            };
            self.settle(&instance, &existing).await?;
            for intent in before {
                let done = Done {
                    instance: instance.clone(),
                    snapshot: intent.name.clone(),
                };
                if existing.iter().any(|s| intent.made(&s.name, s.created)) {
                    reconciled.tagged.push(done);
                } else {
                    reconciled.dropped.push(done);
                }
            }
        }
        Ok(reconciled)
    }
}
