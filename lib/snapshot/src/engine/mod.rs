//! The snapshot engine: Create, Restore, Delete, List and Prune over a
//! [`SnapshotStore`]. Calls on one instance are serialised (one lock per
//! instance); calls on different instances run concurrently, at most
//! `max_parallel` Incus operations at a time.

pub mod tagging;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use anklume_config::Retention;
use anklume_infra::{Infra, InfraError};
use futures_util::future::join_all;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, Semaphore};

use crate::registry::Registry;
use crate::retention::{self, Dated};
use crate::store::{SnapshotStore, StoreError};
use crate::target::{Target, check_snapshot_name};

/// Prefix of scheduled snapshots (`Create` with an empty name).
pub const AUTO_PREFIX: &str = "anklume";
/// Prefix of the snapshot taken before each restore.
pub const SAFETY_PREFIX: &str = "anklume-pre-restore";

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    InvalidInfra(String),
    #[error("{0}")]
    Incus(String),
    /// The daemon's own registry cannot be saved.
    #[error("{0}")]
    State(String),
}

/// An instance, in its project (= domain).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InstanceRef {
    pub project: String,
    pub instance: String,
}

impl fmt::Display for InstanceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.instance)
    }
}

/// One snapshot acted on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Done {
    pub instance: InstanceRef,
    pub snapshot: String,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.instance, self.snapshot)
    }
}

/// What `Restore` did: the instances rolled back, and the safety
/// snapshots taken first (restore to them to undo).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restored {
    pub restored: Vec<Done>,
    pub safety: Vec<Done>,
}

/// One line of `List`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Listed {
    pub domain: String,
    pub instance: String,
    pub snapshot: String,
    pub created: i64,
}

/// Where the engine gets the host's current infra.
pub type InfraSource = Box<dyn Fn() -> Result<Arc<Infra>, InfraError> + Send + Sync>;
/// The clock, in unix seconds (a parameter so tests control time).
pub type Clock = Box<dyn Fn() -> i64 + Send + Sync>;

pub struct Engine<S> {
    store: S,
    infra: InfraSource,
    locks: Mutex<HashMap<InstanceRef, Arc<AsyncMutex<()>>>>,
    permits: Semaphore,
    registry: AsyncMutex<Registry>,
    retention: RwLock<Retention>,
    clock: Clock,
}

impl<S: SnapshotStore> Engine<S> {
    pub fn new(
        store: S,
        infra: InfraSource,
        registry: Registry,
        retention: Retention,
        max_parallel: usize,
    ) -> Self {
        Self {
            store,
            infra,
            locks: Mutex::new(HashMap::new()),
            permits: Semaphore::new(max_parallel.max(1)),
            registry: AsyncMutex::new(registry),
            retention: RwLock::new(retention),
            clock: Box::new(|| time::OffsetDateTime::now_utc().unix_timestamp()),
        }
    }

    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    /// The retention `Prune` applies from now on (configuration reload).
    pub fn set_retention(&self, retention: Retention) {
        *self
            .retention
            .write()
            .unwrap_or_else(PoisonError::into_inner) = retention;
    }

    pub fn retention(&self) -> Retention {
        self.retention
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Snapshots every instance of `target` as `name` (empty: a tagged,
    /// timestamped name that `Prune` may later delete).
    pub async fn create(&self, target: &str, name: &str) -> Result<Vec<Done>, EngineError> {
        let target = Target::parse(target)?;
        let auto = name.is_empty();
        if !auto {
            check_snapshot_name(name)?;
        }
        let base = if auto {
            self.timestamped(AUTO_PREFIX)
        } else {
            name.to_owned()
        };
        let instances = self.resolve(&target).await?;
        let results = join_all(instances.iter().map(|instance| async {
            let _lock = self.lock(instance).await;
            let _permit = self.permits.acquire().await.expect("semaphore open");
            let name = if auto {
                self.free_name(instance, &base).await?
            } else {
                base.clone()
            };
            self.snapshot(instance, &name, auto)
                .await
                .map_err(|e| (instance.clone(), e))
        }))
        .await;
        collect("snapshot", results)
    }

    /// Rolls every instance of `target` back to `name`, after a safety
    /// snapshot of each. If any instance lacks `name`, nothing is touched.
    pub async fn restore(&self, target: &str, name: &str) -> Result<Restored, EngineError> {
        let target = Target::parse(target)?;
        check_snapshot_name(name)?;
        let mut instances = self.resolve(&target).await?;
        instances.sort();
        // Hold every instance's lock from the check to the end, so no other
        // call can delete the snapshot in between.
        let mut guards = Vec::with_capacity(instances.len());
        for instance in &instances {
            guards.push(self.lock(instance).await);
        }
        let mut missing = Vec::new();
        for instance in &instances {
            let snapshots = self
                .store
                .snapshots(&instance.project, &instance.instance)
                .await
                .map_err(incus)?;
            if !snapshots.iter().any(|s| s.name == name) {
                let have: Vec<&str> = snapshots.iter().map(|s| s.name.as_str()).collect();
                let have = if have.is_empty() {
                    "none".to_owned()
                } else {
                    have.join(", ")
                };
                missing.push(format!("{instance} (has: {have})"));
            }
        }
        if !missing.is_empty() {
            return Err(EngineError::NotFound(format!(
                "snapshot '{name}' not found on {}; nothing was restored",
                missing.join("; ")
            )));
        }
        let safety_base = self.timestamped(SAFETY_PREFIX);
        let results = join_all(instances.iter().map(|instance| async {
            let _permit = self.permits.acquire().await.expect("semaphore open");
            let fail = |e| (instance.clone(), e);
            let safety_name = self.free_name(instance, &safety_base).await?;
            let safety = self
                .snapshot(instance, &safety_name, true)
                .await
                .map_err(fail)?;
            self.store
                .restore(&instance.project, &instance.instance, name)
                .await
                .map_err(|e| fail(incus(e)))?;
            Ok((
                Done {
                    instance: instance.clone(),
                    snapshot: name.to_owned(),
                },
                safety,
            ))
        }))
        .await;
        drop(guards);
        let pairs = collect("restore", results)?;
        let (restored, safety) = pairs.into_iter().unzip();
        Ok(Restored { restored, safety })
    }

    /// Deletes `name` from every instance of `target` that has it.
    pub async fn delete(&self, target: &str, name: &str) -> Result<Vec<Done>, EngineError> {
        let target = Target::parse(target)?;
        check_snapshot_name(name)?;
        let instances = self.resolve(&target).await?;
        let results = join_all(instances.iter().map(|instance| async {
            let _lock = self.lock(instance).await;
            let _permit = self.permits.acquire().await.expect("semaphore open");
            let fail = |e| (instance.clone(), e);
            let snapshots = self
                .store
                .snapshots(&instance.project, &instance.instance)
                .await
                .map_err(|e| fail(incus(e)))?;
            if !snapshots.iter().any(|s| s.name == name) {
                return Ok(None);
            }
            self.store
                .delete(&instance.project, &instance.instance, name)
                .await
                .map_err(|e| fail(incus(e)))?;
            self.untag(instance, name).await;
            Ok(Some(Done {
                instance: instance.clone(),
                snapshot: name.to_owned(),
            }))
        }))
        .await;
        let deleted: Vec<Done> = collect("delete", results)?.into_iter().flatten().collect();
        if deleted.is_empty() {
            return Err(EngineError::NotFound(format!(
                "no snapshot '{name}' on {target}"
            )));
        }
        Ok(deleted)
    }

    /// Every snapshot of every instance of `target`, sorted.
    pub async fn list(&self, target: &str) -> Result<Vec<Listed>, EngineError> {
        let target = Target::parse(target)?;
        let instances = self.resolve(&target).await?;
        let results = join_all(instances.iter().map(|instance| async {
            let snapshots = self
                .store
                .snapshots(&instance.project, &instance.instance)
                .await;
            snapshots
                .map_err(|e| (instance.clone(), incus(e)))
                .map(|list| {
                    list.into_iter()
                        .map(|s| Listed {
                            domain: instance.project.clone(),
                            instance: instance.instance.clone(),
                            snapshot: s.name,
                            created: s.created,
                        })
                        .collect::<Vec<_>>()
                })
        }))
        .await;
        let mut listed: Vec<Listed> = collect("list snapshots", results)?
            .into_iter()
            .flatten()
            .collect();
        listed.sort_by(|a, b| {
            (&a.domain, &a.instance, a.created).cmp(&(&b.domain, &b.instance, b.created))
        });
        Ok(listed)
    }

    /// Applies the retention policy to the snapshots this daemon tagged;
    /// returns what it deleted. Never touches an untagged snapshot.
    /// Pending intents of each instance are settled first.
    pub async fn prune(&self) -> Result<Vec<Done>, EngineError> {
        let instances = self.registry.lock().await.instances();
        let now = (self.clock)();
        let retention = self.retention();
        let results = join_all(instances.iter().map(|instance| async {
            let _lock = self.lock(instance).await;
            let _permit = self.permits.acquire().await.expect("semaphore open");
            let fail = |e| (instance.clone(), e);
            let existing = match self
                .store
                .snapshots(&instance.project, &instance.instance)
                .await
            {
                Ok(list) => list,
                Err(e) if e.not_found => Vec::new(), // instance gone: forget its tags
                Err(e) => return Err(fail(incus(e))),
            };
            let tagged = self.settle(instance, &existing).await.map_err(fail)?;
            let ours: Vec<Dated> = existing
                .iter()
                .filter(|s| {
                    tagged.iter().any(|t| {
                        t.matches(&instance.project, &instance.instance, &s.name, s.created)
                    })
                })
                .map(|s| Dated {
                    name: s.name.clone(),
                    created: s.created,
                })
                .collect();
            let mut deleted = Vec::new();
            for name in retention::to_delete(&ours, &retention, now) {
                self.store
                    .delete(&instance.project, &instance.instance, &name)
                    .await
                    .map_err(|e| fail(incus(e)))?;
                deleted.push(name);
            }
            let alive: Vec<String> = ours
                .into_iter()
                .map(|d| d.name)
                .filter(|n| !deleted.contains(n))
                .collect();
            Ok((instance.clone(), deleted, alive))
        }))
        .await;
        let mut failures = Vec::new();
        let mut done = Vec::new();
        let mut alive: HashMap<InstanceRef, Vec<String>> = HashMap::new();
        for result in results {
            match result {
                Ok((instance, deleted, still)) => {
                    done.extend(deleted.into_iter().map(|snapshot| Done {
                        instance: instance.clone(),
                        snapshot,
                    }));
                    alive.insert(instance, still);
                }
                Err((instance, e)) => {
                    failures.push(format!("{instance}: {e}"));
                }
            }
        }
        self.registry
            .lock()
            .await
            .retain(|t| {
                let key = InstanceRef {
                    project: t.project.clone(),
                    instance: t.instance.clone(),
                };
                // Keep what we could not look at, and what still exists.
                alive.get(&key).is_none_or(|names| names.contains(&t.name))
            })
            .map_err(state)?;
        if failures.is_empty() {
            Ok(done)
        } else {
            Err(EngineError::Incus(format!(
                "prune failed on {} (deleted so far: {})",
                failures.join("; "),
                list_or_none(&done)
            )))
        }
    }

    /// The instances a target covers, as they exist in Incus.
    async fn resolve(&self, target: &Target) -> Result<Vec<InstanceRef>, EngineError> {
        let infra = (self.infra)().map_err(|e| EngineError::InvalidInfra(e.to_string()))?;
        let mut instances = Vec::new();
        for (domain, only) in target.scope(&infra)? {
            let names = match self.store.instances(domain).await {
                Ok(names) => names,
                // A declared domain whose project was never created.
                Err(e) if e.not_found && *target == Target::All => continue,
                Err(e) if e.not_found => {
                    return Err(EngineError::NotFound(format!(
                        "domain '{domain}' has no Incus project yet (run make apply)"
                    )));
                }
                Err(e) => return Err(incus(e)),
            };
            match only {
                Some(name) if !names.iter().any(|n| n == name) => {
                    return Err(EngineError::NotFound(format!(
                        "instance '{name}' of domain '{domain}' does not exist in Incus"
                    )));
                }
                Some(name) => instances.push(InstanceRef {
                    project: domain.to_owned(),
                    instance: name.to_owned(),
                }),
                None => instances.extend(names.into_iter().map(|instance| InstanceRef {
                    project: domain.to_owned(),
                    instance,
                })),
            }
        }
        Ok(instances)
    }

    async fn lock(&self, instance: &InstanceRef) -> OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.locks.lock().expect("lock table");
            Arc::clone(locks.entry(instance.clone()).or_default())
        };
        lock.lock_owned().await
    }

    /// `base`, or `base-2`, `base-3`… if the instance already has it.
    async fn free_name(
        &self,
        instance: &InstanceRef,
        base: &str,
    ) -> Result<String, (InstanceRef, EngineError)> {
        let existing = self
            .store
            .snapshots(&instance.project, &instance.instance)
            .await
            .map_err(|e| (instance.clone(), incus(e)))?;
        let taken = |n: &str| existing.iter().any(|s| s.name == n);
        let mut name = base.to_owned();
        let mut n = 2;
        while taken(&name) {
            name = format!("{base}-{n}");
            n += 1;
        }
        Ok(name)
    }

    fn timestamped(&self, prefix: &str) -> String {
        let now = time::OffsetDateTime::from_unix_timestamp((self.clock)())
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!(
            "{prefix}-{:04}{:02}{:02}-{:02}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        )
    }
}

fn incus(e: StoreError) -> EngineError {
    if e.not_found {
        EngineError::NotFound(e.message)
    } else {
        EngineError::Incus(e.message)
    }
}

fn state(e: crate::registry::RegistryError) -> EngineError {
    EngineError::State(e.to_string())
}

fn list_or_none(done: &[Done]) -> String {
    if done.is_empty() {
        "none".into()
    } else {
        done.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// All results, or one error naming every failure and what did succeed.
fn collect<T: Describe>(
    action: &str,
    results: Vec<Result<T, (InstanceRef, EngineError)>>,
) -> Result<Vec<T>, EngineError> {
    let mut ok = Vec::new();
    let mut failed = Vec::new();
    let mut not_found = true;
    for result in results {
        match result {
            Ok(v) => ok.push(v),
            Err((instance, e)) => {
                not_found &= matches!(e, EngineError::NotFound(_));
                failed.push(format!("{instance}: {e}"));
            }
        }
    }
    if failed.is_empty() {
        return Ok(ok);
    }
    let succeeded: Vec<String> = ok.iter().filter_map(Describe::describe).collect();
    let message = format!(
        "{action} failed on {} (succeeded: {})",
        failed.join("; "),
        if succeeded.is_empty() {
            "none".into()
        } else {
            succeeded.join(", ")
        }
    );
    Err(if not_found {
        EngineError::NotFound(message)
    } else {
        EngineError::Incus(message)
    })
}

/// How a successful result is named in an error message.
trait Describe {
    fn describe(&self) -> Option<String>;
}

impl Describe for Done {
    fn describe(&self) -> Option<String> {
        Some(self.to_string())
    }
}

impl Describe for Option<Done> {
    fn describe(&self) -> Option<String> {
        self.as_ref().map(ToString::to_string)
    }
}

impl Describe for (Done, Done) {
    fn describe(&self) -> Option<String> {
        Some(format!("{} (safety snapshot {})", self.0, self.1.snapshot))
    }
}

impl Describe for Vec<Listed> {
    fn describe(&self) -> Option<String> {
        None
    }
}
