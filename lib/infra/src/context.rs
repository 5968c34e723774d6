//! The nesting context (roadmap ADR-020): files in `/etc/anklume` that say
//! whether this host runs inside a VM and whether YOLO mode is on. They
//! decide whether privileged LXC containers are allowed.

use std::path::{Path, PathBuf};

/// Environment variable that moves the context directory (tests use it so
/// they never read the real `/etc/anklume`).
pub const CONTEXT_DIR_ENV: &str = "ANKLUME_CONTEXT_DIR";
pub const DEFAULT_CONTEXT_DIR: &str = "/etc/anklume";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NestingContext {
    /// Content of `vm_nested`: `Some(true)` when a VM sits in the parent
    /// chain; `None` when the file is absent (privileged LXC allowed).
    pub vm_nested: Option<bool>,
    /// Content of `yolo`: privileged LXC only warns.
    pub yolo: bool,
}

impl NestingContext {
    /// Reads `vm_nested` and `yolo` from `dir`. A missing or unreadable
    /// file counts as absent.
    pub fn read(dir: &Path) -> Self {
        let flag = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .ok()
                .map(|text| text.trim().eq_ignore_ascii_case("true"))
        };
        Self {
            vm_nested: flag("vm_nested"),
            yolo: flag("yolo").unwrap_or(false),
        }
    }

    /// The directory named by `ANKLUME_CONTEXT_DIR`, else `/etc/anklume`.
    pub fn dir_from_env() -> PathBuf {
        std::env::var_os(CONTEXT_DIR_ENV)
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_CONTEXT_DIR), PathBuf::from)
    }

    pub fn from_env() -> Self {
        Self::read(&Self::dir_from_env())
    }
}
