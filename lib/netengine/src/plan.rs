//! The table an infra asks for, and its identity: the sha256 of its nft
//! text, stored in the kernel as the table's comment, so "is the table in
//! force the one we want?" is one comparison of comments.

use std::fmt::Write as _;
use std::sync::Arc;

use anklume_hostnet::HostLinks;
use anklume_infra::{Infra, InfraError};
use anklume_netpolicy::{Mode, Ruleset, table};
use anklume_nft::ir::Table;
use anklume_nft::text::render;
use sha2::{Digest as _, Sha256};

/// The table to apply, with its comment set, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    pub table: Table,
    /// sha256 (hex) of the table's nft text without the comment.
    pub hash: String,
    /// What `nft list table inet anklume` shows once applied.
    pub text: String,
    pub domains: u32,
    pub policies: u32,
}

impl Planned {
    /// The comment the table carries in the kernel.
    pub fn comment(&self) -> &str {
        self.table.comment.as_deref().unwrap_or_default()
    }
}

/// A valid infra, the host it was planned for, and its table.
#[derive(Debug)]
pub struct Plan {
    pub infra: Arc<Infra>,
    pub links: HostLinks,
    pub planned: Planned,
}

impl Plan {
    pub fn new(infra: Arc<Infra>, links: HostLinks, firewall_vm: bool) -> Self {
        let planned = build(&infra, firewall_vm, &links);
        Self {
            infra,
            links,
            planned,
        }
    }
}

/// Why there is no table to apply. Cheap to clone: one answer may serve
/// every caller that asked at the same time.
#[derive(Clone, Debug, thiserror::Error)]
pub enum PlanError {
    /// The infra cannot be read, or is invalid (every validation message).
    #[error(transparent)]
    Infra(Arc<InfraError>),
    #[error("cannot read the host's interfaces and routes: {0}")]
    Links(Arc<anklume_hostnet::Error>),
}

impl From<InfraError> for PlanError {
    fn from(e: InfraError) -> Self {
        Self::Infra(Arc::new(e))
    }
}

impl From<anklume_hostnet::Error> for PlanError {
    fn from(e: anklume_hostnet::Error) -> Self {
        Self::Links(Arc::new(e))
    }
}

/// The comment of a table whose ruleset hashes to `hash`.
pub fn comment_for(hash: &str) -> String {
    format!("anklume ruleset {hash}")
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
    let hash = hex(&Sha256::digest(render(&table).as_bytes()));
    table.comment = Some(comment_for(&hash));
    let text = render(&table);
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    Planned {
        table,
        hash,
        text,
        domains: count(infra.domains.len()),
        policies: count(infra.network_policies.as_ref().map_or(0, Vec::len)),
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anklume_infra::{NestingContext, load_str};

    #[test]
    fn the_comment_names_the_hash_of_the_text_without_it() {
        let text = "project_name: t\nglobal: {base_subnet: '10.9'}\ndomains:\n  a: {subnet_id: 1}\n  b: {subnet_id: 2}\nnetwork_policies:\n  - {from: a, to: b, ports: [22]}\n";
        let infra = load_str(text, "infra.yml", &NestingContext::default())
            .0
            .unwrap();
        let host = HostLinks::default();
        let planned = build(&infra, false, &host);
        assert_eq!((planned.domains, planned.policies), (2, 1));
        let comment_line = format!("\tcomment \"anklume ruleset {}\"\n", planned.hash);
        assert!(planned.text.contains(&comment_line), "{}", planned.text);
        assert_eq!(planned.text, render(&planned.table));
        let mut bare = planned.table.clone();
        bare.comment = None;
        assert_eq!(render(&bare), planned.text.replace(&comment_line, ""));
        assert_eq!(planned.hash, hex(&Sha256::digest(render(&bare).as_bytes())));
        assert_eq!(planned.hash.len(), 64);
        // Same infra, same hash; firewall-VM mode, another table.
        assert_eq!(build(&infra, false, &host).hash, planned.hash);
        assert_ne!(build(&infra, true, &host).hash, planned.hash);
    }
}
