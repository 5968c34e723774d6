//! Where snapshots live: a small trait over Incus, so the engine's logic
//! runs against the real daemon or the in-memory [`crate::SimIncus`].

use std::future::Future;

use anklume_incus::{IncusClient, IncusError};

/// One snapshot of one instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredSnapshot {
    pub name: String,
    /// Creation time, unix seconds.
    pub created: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct StoreError {
    /// The instance, project or snapshot does not exist.
    pub not_found: bool,
    pub message: String,
}

/// The snapshot operations anklume needs from Incus.
pub trait SnapshotStore: Send + Sync + 'static {
    /// Names of the instances of `project`; a missing project is `not_found`.
    fn instances(
        &self,
        project: &str,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
    fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> impl Future<Output = Result<Vec<StoredSnapshot>, StoreError>> + Send;
    fn create(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn restore(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn delete(
        &self,
        project: &str,
        instance: &str,
        name: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store (the simulator and tests share one).
impl<S: SnapshotStore> SnapshotStore for std::sync::Arc<S> {
    async fn instances(&self, project: &str) -> Result<Vec<String>, StoreError> {
        S::instances(self, project).await
    }

    async fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Vec<StoredSnapshot>, StoreError> {
        S::snapshots(self, project, instance).await
    }

    async fn create(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        S::create(self, project, instance, name).await
    }

    async fn restore(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        S::restore(self, project, instance, name).await
    }

    async fn delete(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        S::delete(self, project, instance, name).await
    }
}

impl From<IncusError> for StoreError {
    fn from(e: IncusError) -> Self {
        Self {
            not_found: e.is_not_found(),
            message: e.to_string(),
        }
    }
}

impl SnapshotStore for IncusClient {
    async fn instances(&self, project: &str) -> Result<Vec<String>, StoreError> {
        Ok(IncusClient::instances(self, project)
            .await?
            .into_iter()
            .map(|i| i.name)
            .collect())
    }

    async fn snapshots(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<Vec<StoredSnapshot>, StoreError> {
        Ok(IncusClient::snapshots(self, project, instance)
            .await?
            .into_iter()
            .map(|s| StoredSnapshot {
                created: s.created_unix(),
                name: s.name,
            })
            .collect())
    }

    async fn create(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        Ok(self.create_snapshot(project, instance, name).await?)
    }

    async fn restore(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        Ok(self.restore_snapshot(project, instance, name).await?)
    }

    async fn delete(&self, project: &str, instance: &str, name: &str) -> Result<(), StoreError> {
        Ok(self.delete_snapshot(project, instance, name).await?)
    }
}
