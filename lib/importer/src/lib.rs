//! `anklume-gen import`: reads a running Incus through its REST API (the
//! unix socket, or anklume-proxy's) and writes an `infra.yml` that
//! validates: one domain per project that holds anklume-shaped resources
//! (a `net-<project>` bridge whose address is `<base>.<n>.254/24`), with
//! its profiles and machines. What infra.yml cannot express is listed as
//! comments at the top of the file, each with its reason.
//!
//! The logic ([`build`]) works on a plain [`IncusState`], so it is tested
//! without Incus; [`read_state`] fills one from the API.

mod build;
mod machine;
mod state;
mod write;

pub use build::{Imported, build};
pub use state::{IncusState, ProjectState, read_state};
pub use write::{WriteError, write_new};

/// Why an import cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Incus(#[from] anklume_incus::IncusError),
    #[error("project '{0}' does not exist")]
    NoSuchProject(String),
    #[error("project '{project}' cannot be imported: {reason}")]
    NotImportable { project: String, reason: String },
    #[error("the imported infra does not validate (please report it):\n{0}")]
    Invalid(String),
}

#[cfg(test)]
mod tests;
