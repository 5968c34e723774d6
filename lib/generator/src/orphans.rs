//! Orphans: generated-looking files whose domain or machine is no longer in
//! the infra. Files of non-ephemeral resources are protected: only a person
//! removes them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use std::io::Read as _;

use anklume_infra::{Infra, Value, parse_yaml};

use crate::safe_fs::{MAX_FILE_SIZE, open_regular};

/// The directories scanned, in report order.
pub const GENERATED_DIRS: [&str; 3] = ["inventory", "group_vars", "host_vars"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orphan {
    /// Relative to the base directory, e.g. `host_vars/old.yml`.
    pub path: PathBuf,
    pub protected: bool,
}

/// The orphans under `base_dir`, sorted by name within each directory.
pub fn find_orphans(infra: &Infra, base_dir: &Path) -> std::io::Result<Vec<Orphan>> {
    let domains: HashSet<&str> = infra.domains.iter().map(|d| d.name.as_str()).collect();
    let machines: HashSet<&str> = infra.machines().map(|m| m.name.as_str()).collect();
    let mut orphans = Vec::new();
    for dir in GENERATED_DIRS {
        for stem in yml_stems(&base_dir.join(dir))? {
            let known = match dir {
                "inventory" => domains.contains(stem.as_str()),
                "group_vars" => stem == "all" || domains.contains(stem.as_str()),
                _ => machines.contains(stem.as_str()),
            };
            if known {
                continue;
            }
            let protected = match dir {
                "inventory" => {
                    let group_vars = base_dir.join("group_vars").join(format!("{stem}.yml"));
                    group_vars.symlink_metadata().is_ok()
                        && is_protected(&group_vars, "domain_ephemeral")
                }
                "group_vars" => is_protected(
                    &base_dir.join(dir).join(format!("{stem}.yml")),
                    "domain_ephemeral",
                ),
                _ => is_protected(
                    &base_dir.join(dir).join(format!("{stem}.yml")),
                    "instance_ephemeral",
                ),
            };
            orphans.push(Orphan {
                path: Path::new(dir).join(format!("{stem}.yml")),
                protected,
            });
        }
    }
    Ok(orphans)
}

/// Sorted stems of the `*.yml` files directly in `dir`.
fn yml_stems(dir: &Path) -> std::io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut stems = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".yml")) else {
            continue;
        };
        if !stem.is_empty() && entry.file_type()?.is_file() {
            stems.push(stem.to_owned());
        }
    }
    stems.sort_unstable();
    Ok(stems)
}

/// Protected unless the file says `<flag>: true`. A file that cannot be
/// read or parsed, or that lacks the flag, is protected: deleting what we
/// cannot vouch for would lose the user's work. Only a regular file is
/// read: never through a link, never from a FIFO or a device.
fn is_protected(path: &Path, flag: &str) -> bool {
    let Some(file) = open_regular(path) else {
        return true;
    };
    let mut text = String::new();
    if file.take(MAX_FILE_SIZE).read_to_string(&mut text).is_err() {
        return true;
    }
    match parse_yaml(&text, &path.display().to_string()) {
        Ok(value) => value.get(flag) != Some(&Value::Bool(true)),
        Err(_) => true,
    }
}
