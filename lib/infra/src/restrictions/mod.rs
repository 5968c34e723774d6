//! The second wall: each domain's Incus project restricted to what the
//! infra declares, so that Incus itself refuses the rest — even to root on
//! the host socket. One derivation, shared by the generator (which writes
//! the keys into the domain's group_vars), anklume-proxy (which refuses any
//! change to a project's [`is_restriction_key`] keys) and the tests.
//!
//! ```
//! # use anklume_infra::{load_str, NestingContext, restrictions};
//! let text = "project_name: p\nglobal: {}\ndomains:\n  pro:\n    subnet_id: 1\n";
//! let (infra, _) = load_str(text, "infra.yml", &NestingContext::default());
//! let infra = infra.unwrap();
//! let pro = restrictions::derive(&infra, &infra.domains[0]);
//! assert_eq!(pro.get("restricted.containers.privilege"), Some("unprivileged"));
//! assert_eq!(pro.get("restricted.networks.access"), Some("net-pro"));
//! ```

pub mod incus;
mod needs;

use crate::model::{Domain, Infra};

pub use needs::{Finding, FindingKind};

/// The key that turns the restrictions of a project on.
pub const RESTRICTED: &str = "restricted";

/// Whether `key` is one of a project's restrictions (`restricted` or
/// `restricted.*`): what anklume-proxy never lets the admin domain change,
/// and what the `incus_projects` role owns on a domain's project.
pub fn is_restriction_key(key: &str) -> bool {
    key == RESTRICTED || key.starts_with("restricted.")
}

/// Every key the derivation may write, in the order it writes them. The
/// optional ones (`disk.paths`, `idmap.*`) are left out when not needed.
pub const KEYS: &[&str] = &[
    RESTRICTED,
    "restricted.backups",
    "restricted.cluster.target",
    "restricted.containers.interception",
    "restricted.containers.lowlevel",
    "restricted.containers.nesting",
    "restricted.containers.privilege",
    "restricted.devices.disk",
    "restricted.devices.disk.paths",
    "restricted.devices.gpu",
    "restricted.devices.infiniband",
    "restricted.devices.nic",
    "restricted.devices.pci",
    "restricted.devices.proxy",
    "restricted.devices.unix-block",
    "restricted.devices.unix-char",
    "restricted.devices.unix-hotplug",
    "restricted.devices.usb",
    "restricted.idmap.gid",
    "restricted.idmap.uid",
    "restricted.networks.access",
    "restricted.snapshots",
    "restricted.virtual-machines.lowlevel",
];

/// The restrictions of one domain's project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRestrictions {
    /// The Incus project (the domain's name).
    pub project: String,
    /// Project config keys and values, in [`KEYS`] order.
    pub config: Vec<(&'static str, String)>,
    /// What the infra declares that the restrictions cannot express
    /// exactly: refused by Incus, or allowed by a key wider than asked.
    pub findings: Vec<Finding>,
}

impl ProjectRestrictions {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The restrictions of `domain`'s project: everything its machines and
/// profiles use (plus what anklume itself puts there: the default
/// profile's root disk and NIC on the domain's bridge, the GPU device of
/// `gpu: true`, snapshots for anklume-snapd), and nothing more.
pub fn derive(infra: &Infra, domain: &Domain) -> ProjectRestrictions {
    let bridge = infra.network(domain).bridge;
    let needs = needs::Needs::of_domain(domain, &bridge);
    let allow = |yes: bool| if yes { "allow" } else { "block" };
    let join = |items: &[String]| items.join(",");
    let mut config: Vec<(&'static str, String)> = Vec::with_capacity(KEYS.len());
    for &key in KEYS {
        let value = match key {
            RESTRICTED => Some("true".to_owned()),
            // Not used by anklume: exporting instances as backups, cluster
            // placement.
            "restricted.backups" | "restricted.cluster.target" => Some("block".to_owned()),
            "restricted.containers.interception" => Some(allow(needs.interception).to_owned()),
            "restricted.containers.lowlevel" => Some(allow(needs.container_lowlevel).to_owned()),
            "restricted.containers.nesting" => Some(allow(needs.nesting).to_owned()),
            "restricted.containers.privilege" => Some(
                if needs.privileged {
                    "allow"
                } else {
                    "unprivileged"
                }
                .to_owned(),
            ),
            "restricted.devices.disk" => Some(
                if needs.disk_paths.is_empty() {
                    "managed"
                } else {
                    "allow"
                }
                .to_owned(),
            ),
            "restricted.devices.disk.paths" => {
                (!needs.disk_paths.is_empty()).then(|| join(&needs.disk_paths))
            }
            "restricted.devices.nic" => Some(
                if needs.unmanaged_nic {
                    "allow"
                } else {
                    "managed"
                }
                .to_owned(),
            ),
            "restricted.idmap.uid" => (!needs.idmap_uid.is_empty()).then(|| join(&needs.idmap_uid)),
            "restricted.idmap.gid" => (!needs.idmap_gid.is_empty()).then(|| join(&needs.idmap_gid)),
            "restricted.networks.access" => Some(join(&needs.networks)),
            // anklume-snapd snapshots every domain's instances.
            "restricted.snapshots" => Some("allow".to_owned()),
            "restricted.virtual-machines.lowlevel" => Some(allow(needs.vm_lowlevel).to_owned()),
            device => {
                let kind = device.trim_start_matches("restricted.devices.");
                Some(allow(needs.device_types.contains(kind)).to_owned())
            }
        };
        if let Some(value) = value {
            config.push((key, value));
        }
    }
    ProjectRestrictions {
        project: domain.name.clone(),
        config,
        findings: needs.findings,
    }
}

/// The restrictions of every domain, in input order.
pub fn derive_all(infra: &Infra) -> Vec<ProjectRestrictions> {
    infra.domains.iter().map(|d| derive(infra, d)).collect()
}

#[cfg(test)]
mod tests;
