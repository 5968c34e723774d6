//! The table an infra asks for, and its identity: the sha256 of its nft
//! text, stored in the kernel as the table's comment, so "is the table in
//! force the one we want?" is one comparison of comments.

use std::fmt::Write as _;
use std::path::Path;

use anklume_hostnet::HostLinks;
use anklume_infra::{Infra, NestingContext, load};
use anklume_netpolicy::{Mode, Ruleset, table};
use anklume_nft::ir::Table;
use anklume_nft::text::render;
use sha2::{Digest as _, Sha256};

/// The table to apply, with its comment set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub table: Table,
    /// sha256 (hex) of the table's nft text without the comment.
    pub hash: String,
    pub domains: u32,
    pub policies: u32,
}

impl Planned {
    /// The comment the table carries in the kernel.
    pub fn comment(&self) -> &str {
        self.table.comment.as_deref().unwrap_or_default()
    }

    /// What `nft list table inet anklume` shows once applied.
    pub fn text(&self) -> String {
        render(&self.table)
    }
}

/// Why there is no table to apply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PlanError {
    /// The infra cannot be read or parsed.
    Source(String),
    /// The infra is read but invalid: every validation message.
    Invalid { path: String, errors: Vec<String> },
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlanError::Source(e) => f.write_str(e),
            PlanError::Invalid { path, errors } => {
                write!(f, "{path} is invalid: {}", errors.join("; "))
            }
        }
    }
}

impl PlanError {
    /// The message as `preview` and `apply` print it on stderr.
    pub fn print(&self) {
        match self {
            PlanError::Source(e) => eprintln!("ERROR: {e}"),
            PlanError::Invalid { errors, .. } => {
                eprintln!("Validation errors:");
                errors.iter().for_each(|e| eprintln!("  - {e}"));
            }
        }
    }
}

/// The comment of a table whose ruleset hashes to `hash`.
pub fn comment_for(hash: &str) -> String {
    format!("anklume ruleset {hash}")
}

/// Reads and validates the infra and the host's interfaces, and builds
/// the table.
pub fn plan(infra_path: &Path, firewall_vm: bool) -> Result<Planned, PlanError> {
    let infra = load_infra(infra_path)?;
    let host = host_links(firewall_vm)?;
    Ok(build(&infra, firewall_vm, &host))
}

/// Reads and validates the infra.
pub fn load_infra(infra_path: &Path) -> Result<Infra, PlanError> {
    let loaded = load(infra_path, &NestingContext::from_env())
        .map_err(|e| PlanError::Source(e.to_string()))?;
    loaded.infra.ok_or_else(|| PlanError::Invalid {
        path: infra_path.display().to_string(),
        errors: loaded
            .report
            .errors
            .iter()
            .map(ToString::to_string)
            .collect(),
    })
}

/// The host's interfaces and uplinks (not read in the firewall VM, whose
/// NICs are all domains').
pub fn host_links(firewall_vm: bool) -> Result<HostLinks, PlanError> {
    if firewall_vm {
        return Ok(HostLinks::default());
    }
    anklume_hostnet::read().map_err(|e| {
        PlanError::Source(format!("cannot read the host's interfaces and routes: {e}"))
    })
}

/// The table of `infra` on a host with `host`'s interfaces. The uplinks
/// are `global.uplinks` when the infra sets them, else the interfaces of
/// the host's default routes.
pub fn build(infra: &Infra, firewall_vm: bool, host: &HostLinks) -> Planned {
    let (ruleset, mode) = if firewall_vm {
        (Ruleset::for_firewall_vm(infra), Mode::FirewallVm)
    } else {
        let uplinks: Vec<String> = match &infra.global.uplinks {
            Some(declared) => declared.clone(),
            None => host.uplinks.iter().cloned().collect(),
        };
        (
            Ruleset::from_infra(infra).with_host(&uplinks, &host.names),
            Mode::Host,
        )
    };
    let mut table = table(&ruleset, mode);
    table.comment = None;
    let hash = Sha256::digest(render(&table).as_bytes()).iter().fold(
        String::with_capacity(64),
        |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        },
    );
    table.comment = Some(comment_for(&hash));
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Planned {
        table,
        hash,
        domains: count(infra.domains.len()),
        policies: count(infra.network_policies.as_ref().map_or(0, Vec::len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_comment_names_the_hash_of_the_text_without_it() {
        let dir = tempfile::tempdir().unwrap();
        let infra = dir.path().join("infra.yml");
        std::fs::write(
            &infra,
            "project_name: t\nglobal: {base_subnet: '10.9'}\ndomains:\n  a: {subnet_id: 1}\n  b: {subnet_id: 2}\nnetwork_policies:\n  - {from: a, to: b, ports: [22]}\n",
        )
        .unwrap();
        let planned = plan(&infra, false).unwrap();
        assert_eq!((planned.domains, planned.policies), (2, 1));
        let text = planned.text();
        let comment_line = format!("\tcomment \"anklume ruleset {}\"\n", planned.hash);
        assert!(text.contains(&comment_line), "{text}");
        let mut bare = planned.table.clone();
        bare.comment = None;
        assert_eq!(render(&bare), text.replace(&comment_line, ""));
        let expected = Sha256::digest(render(&bare).as_bytes());
        assert_eq!(planned.hash.len(), 64);
        assert!(
            expected
                .iter()
                .zip(planned.hash.as_bytes().chunks(2))
                .all(|(b, hex)| format!("{b:02x}").as_bytes() == hex)
        );
        // Same infra, same hash; firewall-VM mode, another table.
        assert_eq!(plan(&infra, false).unwrap().hash, planned.hash);
        assert_ne!(plan(&infra, true).unwrap().hash, planned.hash);
    }

    #[test]
    fn an_invalid_infra_gives_every_message() {
        let dir = tempfile::tempdir().unwrap();
        let infra = dir.path().join("infra.yml");
        std::fs::write(
            &infra,
            "project_name: t\nglobal: {}\ndomains:\n  a: {subnet_id: 300}\n  b: {subnet_id: 999}\n",
        )
        .unwrap();
        let err = plan(&infra, false).unwrap_err();
        let PlanError::Invalid { errors, .. } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            err.to_string()
                .starts_with(&format!("{} is invalid: ", infra.display()))
        );
        let PlanError::Source(_) = plan(&dir.path().join("missing.yml"), false).unwrap_err() else {
            panic!("a missing file is a source error");
        };
    }
}
