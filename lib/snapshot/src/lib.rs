//! anklume's snapshot engine: what `anklume-snapd` does, independent of
//! D-Bus. Targets (`instance:<name>`, `domain:<name>`, `all`) resolve
//! through the host's infra; Incus sits behind [`SnapshotStore`], so the
//! logic is tested with an in-memory double and run against real Incus.

pub mod engine;
pub mod registry;
pub mod retention;
pub mod store;
pub mod target;

pub use engine::tagging::Reconciled;
pub use engine::{Done, Engine, EngineError, InstanceRef, Listed, Restored};
pub use registry::{Opened, Recovered, Registry, RegistryError};
pub use store::{SnapshotStore, StoreError, StoredSnapshot};
pub use target::Target;
