//! What each generated file says: the model turned into the variables of
//! `group_vars/all.yml`, `inventory/<d>.yml`, `group_vars/<d>.yml` and
//! `host_vars/<m>.yml` (contract §9), in the contract's order.

use std::path::PathBuf;

use anklume_infra::{Domain, Infra, Machine, MappingBuilder, Value};

use crate::yaml_writer::to_yaml;

/// One file of the tree: its path under the base directory and the YAML
/// of its managed section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub managed_yaml: String,
}

/// One file to generate, before its content is rendered: cheap to list,
/// so the (parallel) sync renders each file where it is planned.
#[derive(Clone, Copy, Debug)]
pub enum FileSpec<'a> {
    AllVars,
    Inventory(&'a Domain),
    DomainVars(&'a Domain),
    HostVars(&'a Machine),
}

impl FileSpec<'_> {
    /// Path relative to the base directory.
    pub fn path(&self) -> PathBuf {
        match self {
            FileSpec::AllVars => PathBuf::from("group_vars/all.yml"),
            FileSpec::Inventory(d) => PathBuf::from(format!("inventory/{}.yml", d.name)),
            FileSpec::DomainVars(d) => PathBuf::from(format!("group_vars/{}.yml", d.name)),
            FileSpec::HostVars(m) => PathBuf::from(format!("host_vars/{}.yml", m.name)),
        }
    }

    /// The YAML of the file's managed section.
    pub fn render(&self, infra: &Infra) -> String {
        to_yaml(&match self {
            FileSpec::AllVars => all_vars(infra),
            FileSpec::Inventory(d) => inventory(d),
            FileSpec::DomainVars(d) => domain_vars(infra, d),
            FileSpec::HostVars(m) => host_vars_wired(infra, m),
        })
    }
}

/// Every file, in the order they are written: `group_vars/all.yml`, then
/// per domain its inventory, its group_vars and its machines' host_vars.
pub fn file_specs(infra: &Infra) -> Vec<FileSpec<'_>> {
    let machine_count: usize = infra.domains.iter().map(|d| d.machines.len()).sum();
    let mut files = Vec::with_capacity(1 + 2 * infra.domains.len() + machine_count);
    files.push(FileSpec::AllVars);
    for domain in &infra.domains {
        files.push(FileSpec::Inventory(domain));
        files.push(FileSpec::DomainVars(domain));
        files.extend(domain.machines.iter().map(FileSpec::HostVars));
    }
    files
}

/// Every file with its content, in write order.
pub fn render(infra: &Infra) -> Vec<RenderedFile> {
    file_specs(infra)
        .into_iter()
        .map(|spec| RenderedFile {
            path: spec.path(),
            managed_yaml: spec.render(infra),
        })
        .collect()
}

pub fn all_vars(infra: &Infra) -> Value {
    let images: Vec<Value> = infra.all_images().into_iter().map(Value::from).collect();
    let policies = infra
        .network_policies
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(|p| Value::Seq(p.iter().map(|p| p.raw.clone()).collect()));
    let global = &infra.global;
    MappingBuilder::new()
        .optional("project_name", infra.project_name.clone())
        .entry("base_subnet", global.base_subnet.to_string())
        .optional("default_os_image", global.default_os_image.clone())
        .optional("psot_default_connection", global.default_connection.clone())
        .optional("psot_default_user", global.default_user.clone())
        .optional(
            "incus_all_images",
            (!images.is_empty()).then_some(Value::Seq(images)),
        )
        .optional("network_policies", policies)
        // anklume's addition: the domains of THIS infra, so the plays
        // leave alone the domains a previous infra left in the tree.
        .entry(
            "anklume_domains",
            Value::Seq(
                infra
                    .domains
                    .iter()
                    .map(|d| Value::from(d.name.as_str()))
                    .collect(),
            ),
        )
        .build()
}

pub fn inventory(domain: &Domain) -> Value {
    let hosts = if domain.machines.is_empty() {
        Value::Null
    } else {
        Value::Map(
            domain
                .machines
                .iter()
                .map(|m| {
                    let vars = m.ip.map_or(Value::Null, |ip| {
                        MappingBuilder::new()
                            .entry("ansible_host", ip.to_string())
                            .build()
                    });
                    (Value::from(m.name.as_str()), vars)
                })
                .collect(),
        )
    };
    let group = MappingBuilder::new().entry("hosts", hosts).build();
    let children = Value::Map(vec![(Value::from(domain.name.as_str()), group)]);
    MappingBuilder::new()
        .entry(
            "all",
            MappingBuilder::new().entry("children", children).build(),
        )
        .build()
}

pub fn domain_vars(infra: &Infra, domain: &Domain) -> Value {
    let network = infra.network(domain);
    let profiles = (!domain.profiles.is_empty()).then(|| {
        Value::Map(
            domain
                .profiles
                .iter()
                .map(|p| (Value::from(p.name.as_str()), p.body.clone()))
                .collect(),
        )
    });
    MappingBuilder::new()
        .entry("domain_name", domain.name.as_str())
        .entry("domain_description", domain.description.as_str())
        .entry("domain_ephemeral", domain.ephemeral)
        .entry("incus_project", domain.name.as_str())
        .entry(
            "incus_network",
            MappingBuilder::new()
                .entry("name", network.bridge.as_str())
                .entry("subnet", network.subnet())
                .entry("gateway", network.gateway().to_string())
                .build(),
        )
        .entry("subnet_id", i64::from(domain.subnet_id))
        // anklume's addition, only when the infra says (nat: / global.nat).
        .optional("domain_nat", domain.nat)
        .optional("incus_profiles", profiles)
        // anklume's addition: the project's restrictions (the second wall,
        // docs/defense-in-depth.md), applied by the incus_projects role.
        .entry("incus_project_restrictions", restrictions(infra, domain))
        .build()
}

/// The derived restriction keys of the domain's project, as Incus strings.
fn restrictions(infra: &Infra, domain: &Domain) -> Value {
    Value::Map(
        anklume_infra::restrictions::derive(infra, domain)
            .config
            .into_iter()
            .map(|(key, value)| (Value::from(key), Value::from(value)))
            .collect(),
    )
}

/// [`host_vars`] plus the AI services' URLs derived from the infra
/// (anklume's addition, only for machines with a UI role).
pub fn host_vars_wired(infra: &Infra, machine: &Machine) -> Value {
    let mut vars = host_vars(machine);
    if let Value::Map(entries) = &mut vars {
        for (key, url) in crate::ai_wiring::host_vars_entries(infra, machine) {
            entries.push((Value::from(key), Value::from(url)));
        }
    }
    vars
}

pub fn host_vars(machine: &Machine) -> Value {
    let strings = |list: &Option<Vec<String>>| {
        list.as_ref()
            .map(|l| Value::Seq(l.iter().map(|s| Value::from(s.as_str())).collect()))
    };
    MappingBuilder::new()
        .entry("instance_name", machine.name.as_str())
        .entry("instance_type", machine.instance_type.as_str())
        .entry("instance_description", machine.description.as_str())
        .entry("instance_domain", machine.domain.as_str())
        .entry("instance_ephemeral", machine.ephemeral)
        .optional("instance_os_image", machine.os_image.clone())
        .optional(
            "instance_ip",
            machine
                .ip
                .map(|ip| ip.to_string())
                .or_else(|| machine.ip_written_empty.then(String::new)),
        )
        .optional("instance_gpu", machine.gpu)
        .optional("instance_profiles", strings(&machine.profiles))
        .optional("instance_config", machine.config.clone())
        .optional("instance_devices", machine.devices.clone())
        .optional("instance_storage_volumes", machine.storage_volumes.clone())
        .optional("instance_roles", strings(&machine.roles))
        .build()
}
