//! anklume's D-Bus interfaces, shared by the daemons and their clients
//! (CLIs, desktop tools, tests): bus names and paths, the typed
//! `org.anklume.Error.*` errors, proxies, and the per-call authorisation
//! (root, or polkit for the caller taken from the message header).

pub mod auth;
pub mod error;
pub mod gpu;
pub mod network;
pub mod snapshot;

pub use auth::Authorizer;
pub use error::AnklumeError;
