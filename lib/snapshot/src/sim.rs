//! An Incus held in memory, for `anklume-snapd serve --sim` (desktop
//! tooling and D-Bus API tests without root or Incus) and for the engine's
//! own tests. It behaves like Incus for what [`SnapshotStore`] asks:
//! projects and instances exist or not (`not_found`), snapshot names are
//! unique per instance (a duplicate is refused), each snapshot carries its
//! creation time, a restore needs the snapshot and keeps every snapshot
//! (as Incus does on `dir` storage), a delete needs it.
//!
//! What it holds: the projects and instances it was told about —
//! [`SimIncus::declare`] gives every domain of an infra its project and
//! every declared machine its instance, as `make apply` would.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use anklume_infra::Infra;

use crate::engine::Clock;
use crate::store::{SnapshotStore, StoreError, StoredSnapshot};

/// Projects → instances → snapshots (oldest first), all in memory.
pub struct SimIncus {
    projects: Mutex<BTreeMap<String, BTreeMap<String, Vec<StoredSnapshot>>>>,
    restores: Mutex<Vec<String>>,
    clock: Clock,
}

impl Default for SimIncus {
    fn default() -> Self {
        Self::new()
    }
}

impl SimIncus {
    /// No project at all; snapshots are dated by the system clock.
    pub fn new() -> Self {
        Self {
            projects: Mutex::new(BTreeMap::new()),
            restores: Mutex::new(Vec::new()),
            clock: Box::new(|| time::OffsetDateTime::now_utc().unix_timestamp()),
        }
    }

    /// Every domain of `infra` with its project, every machine with its
    /// instance, no snapshot.
    pub fn from_infra(infra: &Infra) -> Self {
        let sim = Self::new();
        sim.declare(infra);
        sim
    }

    /// Snapshots are dated by `clock` (unix seconds) instead.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Creates what `infra` declares and is missing (a domain's project, a
    /// machine's instance); never removes anything, as Incus keeps an
    /// instance that leaves the infra until someone deletes it.
    pub fn declare(&self, infra: &Infra) {
        let mut projects = self.projects();
        for domain in &infra.domains {
            projects.entry(domain.name.clone()).or_default();
        }
        for machine in infra.machines() {
            projects
                .entry(machine.domain.clone())
                .or_default()
                .entry(machine.name.clone())
                .or_default();
        }
    }

    /// Creates an empty project (no-op if it exists).
    pub fn add_project(&self, project: &str) {
        self.projects().entry(project.to_owned()).or_default();
    }

    /// Creates an instance without snapshots, and its project if need be.
    pub fn add_instance(&self, project: &str, instance: &str) {
        self.projects()
            .entry(project.to_owned())
            .or_default()
            .entry(instance.to_owned())
            .or_default();
    }

    /// A snapshot made behind anklume's back (`incus snapshot create`),
    /// with the creation time given.
    pub fn add_snapshot(
        &self,
        project: &str,
        instance: &str,
        name: &str,
        created: i64,
    ) -> Result<(), StoreError> {
        let what = format!("snapshot {project}/{instance} as {name}");
        let mut projects = self.projects();
        let list = instance_mut(&mut projects, project, instance, &what)?;
        if name.is_empty() || name.contains('/') {
            return Err(refused(&what, "Invalid snapshot name"));
        }
        if list.iter().any(|s| s.name == name) {
            return Err(refused(
                &what,
                &format!("Snapshot \"{name}\" already exists"),
            ));
        }
        list.push(StoredSnapshot {
            name: name.to_owned(),
            created,
        });
        list.sort_by_key(|s| s.created);
        Ok(())
    }

    /// The snapshot names of an instance, oldest first; empty when the
    /// instance does not exist.
    pub fn snapshot_names(&self, project: &str, instance: &str) -> Vec<String> {
        self.projects()
            .get(project)
            .and_then(|p| p.get(instance))
            .map(|list| list.iter().map(|s| s.name.clone()).collect())
            .unwrap_or_default()
    }

    /// Every restore carried out, `project/instance/snapshot`, in order.
    pub fn restores(&self) -> Vec<String> {
        self.restores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn projects(&self) -> MutexGuard<'_, BTreeMap<String, BTreeMap<String, Vec<StoredSnapshot>>>> {
        self.projects.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Incus's 404, worded like the real client's errors.
fn not_found(what: &str, message: &str) -> StoreError {
    StoreError {
        not_found: true,
        message: format!("simulated Incus refused {what}: {message}"),
    }
}

fn refused(what: &str, message: &str) -> StoreError {
    StoreError {
        not_found: false,
        message: format!("simulated Incus refused {what}: {message}"),
    }
}

fn instance_mut<'a>(
    projects: &'a mut BTreeMap<String, BTreeMap<String, Vec<StoredSnapshot>>>,
    project: &str,
    instance: &str,
    what: &str,
) -> Result<&'a mut Vec<StoredSnapshot>, StoreError> {
    projects
        .get_mut(project)
        .ok_or_else(|| not_found(what, "Project not found"))?
        .get_mut(instance)
        .ok_or_else(|| not_found(what, "Instance not found"))
}

impl SnapshotStore for SimIncus {
    async fn instances(&self, project: &str) -> Result<Vec<String>, StoreError> {
        let what = format!("list the instances of project {project}");
        self.projects()
            .get(project)
            .map(|p| p.keys().cloned().collect())
            .ok_or_else(|| not_found(&what, "Project not found"))
    }

    async fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Vec<StoredSnapshot>, StoreError> {
        let what = format!("list the snapshots of {project}/{instance}");
        let mut projects = self.projects();
        instance_mut(&mut projects, project, instance, &what).map(|list| list.clone())
    }

    async fn create(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        let created = (self.clock)();
        self.add_snapshot(project, instance, name, created)
    }

    async fn restore(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        let what = format!("restore {project}/{instance} to {name}");
        let mut projects = self.projects();
        let list = instance_mut(&mut projects, project, instance, &what)?;
        if !list.iter().any(|s| s.name == name) {
            return Err(not_found(&what, "Snapshot not found"));
        }
        self.restores
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(format!("{project}/{instance}/{name}"));
        Ok(())
    }

    async fn delete(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        let what = format!("delete snapshot {project}/{instance}/{name}");
        let mut projects = self.projects();
        let list = instance_mut(&mut projects, project, instance, &what)?;
        let before = list.len();
        list.retain(|s| s.name != name);
        if list.len() == before {
            return Err(not_found(&what, "Snapshot not found"));
        }
        Ok(())
    }
}
