//! anklume's snapshot engine: what `anklume-snapd` does, independent of
//! D-Bus. Targets (`instance:<name>`, `domain:<name>`, `all`) resolve
//! through the host's infra; Incus sits behind [`SnapshotStore`], so the
//! logic runs against real Incus or against [`SimIncus`], an Incus held in
//! memory (the engine's tests, `anklume-snapd serve --sim`).

pub mod engine;
pub mod registry;
pub mod retention;
pub mod sim;
pub mod store;
pub mod target;

pub use engine::tagging::Reconciled;
pub use engine::{Done, Engine, EngineError, InstanceRef, Listed, Restored};
pub use registry::{Opened, Recovered, Registry, RegistryError};
pub use sim::SimIncus;
pub use store::{SnapshotStore, StoreError, StoredSnapshot};
pub use target::Target;
