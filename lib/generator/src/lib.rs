//! anklume's generator: turns a validated [`anklume_infra::Infra`] into the
//! Ansible tree (`inventory/`, `group_vars/`, `host_vars/`), keeping user
//! content outside the managed sections, reporting orphans, and writing
//! atomically and only what changed.

pub mod ai_wiring;
pub mod lock;
pub mod managed;
pub mod orphans;
mod parallel;
pub mod render;
pub mod roles;
pub mod safe_fs;
pub mod sync;
pub mod yaml_writer;

pub use orphans::{Orphan, find_orphans};
pub use render::{RenderedFile, render};
pub use sync::{
    Cleanup, DEFAULT_LOCK_TIMEOUT, FileResult, FileStatus, SyncError, SyncFailure, SyncOptions,
    SyncSummary, sync,
};
pub use yaml_writer::to_yaml;
