//! From an [`IncusState`] to infra.yml text: which projects are domains,
//! their addressing, profiles and machines, and the notes on what is left
//! out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anklume_incus::read::{Config, Devices, Network, Profile};
use anklume_infra::{BRIDGE_PREFIX, NestingContext, Value};

use crate::ImportError;
use crate::machine::{PROTECTION_KEY, machine};
use crate::state::{IncusState, ProjectState};

/// The import: the infra.yml text (comments included) and what it holds.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    pub text: String,
    pub domains: Vec<String>,
    pub machines: usize,
    /// What could not be expressed, each with its reason (also in `text`).
    pub notes: Vec<String>,
}

/// A project that looks like an anklume domain.
pub(crate) struct Candidate<'a> {
    pub(crate) state: &'a ProjectState,
    pub(crate) base: String,
    pub(crate) subnet_id: u8,
    pub(crate) nat: bool,
}

/// Builds the infra for `state`. `only`: projects the user named (each
/// must be importable); empty: every importable project, the others noted.
/// The result is validated with lib/infra before it is returned.
pub fn build(
    state: &IncusState,
    only: &[String],
    context: &NestingContext,
) -> Result<Imported, ImportError> {
    let mut notes = Vec::new();
    let mut candidates = Vec::new();
    for project in &state.projects {
        let name = &project.project.name;
        match candidate(project, &state.networks) {
            Ok(c) => candidates.push(c),
            Err(reason) if only.contains(name) => {
                return Err(ImportError::NotImportable {
                    project: name.clone(),
                    reason,
                });
            }
            Err(reason) => {
                if name == "default" {
                    for i in &project.instances {
                        notes.push(format!(
                            "instance '{}' of project 'default': anklume puts machines only in a domain's own project",
                            i.name
                        ));
                    }
                } else {
                    notes.push(format!("project '{name}': {reason}"));
                }
            }
        }
    }
    let base = most_common_base(&candidates);
    let mut domains: Vec<(Value, Value)> = Vec::new();
    let mut names = Vec::new();
    let mut machines_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut subnets_seen: BTreeMap<u8, String> = BTreeMap::new();
    let mut machine_count = 0;
    for c in &candidates {
        let name = &c.state.project.name;
        if Some(&c.base) != base.as_ref() {
            let reason = format!(
                "its bridge is in {}.x.x, another base_subnet than {} (one base_subnet per infra)",
                c.base,
                base.as_deref().unwrap_or("?")
            );
            if only.contains(name) {
                return Err(ImportError::NotImportable {
                    project: name.clone(),
                    reason,
                });
            }
            notes.push(format!("project '{name}': {reason}"));
            continue;
        }
        if let Some(first) = subnets_seen.get(&c.subnet_id) {
            notes.push(format!(
                "project '{name}': subnet_id {} is already the one of '{first}'",
                c.subnet_id
            ));
            continue;
        }
        subnets_seen.insert(c.subnet_id, name.clone());
        let (domain, count) = domain(c, &mut machines_seen, &mut notes);
        machine_count += count;
        names.push(name.clone());
        domains.push((Value::str(name.as_str()), domain));
    }
    if machines_seen.contains_key(anklume_infra::FIREWALL_VM) {
        notes.push(format!(
            "global.firewall_mode: a machine '{}' exists; if it routes between domains, set firewall_mode: vm",
            anklume_infra::FIREWALL_VM
        ));
    }
    if !candidates.is_empty() || !state.projects.is_empty() {
        notes.push(
            "network_policies: anklume-netd keeps them in nftables, not in Incus; copy them from the infra that built this host"
                .into(),
        );
        notes.push(
            "roles: Incus does not record which Ansible roles provisioned a machine; add each machine's roles: by hand"
                .into(),
        );
    }
    let global = vec![(
        Value::str("base_subnet"),
        Value::str(base.unwrap_or_else(|| "10.100".into())),
    )];
    let root = Value::Map(vec![
        (Value::str("project_name"), Value::str("imported")),
        (Value::str("global"), Value::Map(global)),
        (Value::str("domains"), Value::Map(domains)),
    ]);
    let text = render(&root, &notes);
    let (infra, report) = anklume_infra::load_str(&text, "imported infra.yml", context);
    if infra.is_none() {
        let errors: Vec<String> = report.errors.iter().map(|e| format!("  - {e}")).collect();
        return Err(ImportError::Invalid(errors.join("\n")));
    }
    Ok(Imported {
        text,
        domains: names,
        machines: machine_count,
        notes,
    })
}

/// The header comments, then the YAML.
fn render(root: &Value, notes: &[String]) -> String {
    let mut out = format!(
        "# Imported from a running Incus by `anklume-gen import` (anklume {}).\n\
         # Review it, then: anklume-gen validate FILE; make sync; make apply.\n",
        anklume_generator::managed::VERSION
    );
    if !notes.is_empty() {
        out.push_str("#\n# Not imported (infra.yml cannot express it here):\n");
        for note in notes {
            out.push_str(&format!("#   - {}\n", note.replace('\n', " ")));
        }
    }
    out.push_str("---\n");
    out.push_str(&anklume_generator::to_yaml(root));
    out
}

/// Whether a project is an anklume domain: a valid domain name, not the
/// default project, with a managed bridge `net-<project>` at
/// `<base>.<n>.254/24`.
fn candidate<'a>(state: &'a ProjectState, networks: &[Network]) -> Result<Candidate<'a>, String> {
    let name = &state.project.name;
    if name == "default" {
        return Err("the default project is never a domain".into());
    }
    let valid_name = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name != "all";
    if !valid_name {
        return Err("not a valid domain name (lowercase alphanumeric + hyphen)".into());
    }
    let bridge = format!("{BRIDGE_PREFIX}{name}");
    let Some(network) = networks
        .iter()
        .find(|n| n.name == bridge && n.managed && n.network_type == "bridge")
    else {
        return Err(format!("no managed bridge {bridge} (not anklume-shaped)"));
    };
    let address = network
        .config
        .get("ipv4.address")
        .map(String::as_str)
        .unwrap_or("");
    let Some((base, subnet_id)) = parse_gateway(address) else {
        return Err(format!(
            "bridge {bridge} has ipv4.address '{address}', not <a>.<b>.<n>.254/24 as anklume makes them"
        ));
    };
    Ok(Candidate {
        state,
        base,
        subnet_id,
        nat: network.config.get("ipv4.nat").map(String::as_str) == Some("true"),
    })
}

/// `10.100.3.254/24` → (`10.100`, 3).
fn parse_gateway(address: &str) -> Option<(String, u8)> {
    let (ip, prefix) = address.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let [a, b, n, host] = ip.octets();
    (prefix == "24" && host == 254 && n <= 254).then(|| (format!("{a}.{b}"), n))
}

fn most_common_base(candidates: &[Candidate<'_>]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in candidates {
        *counts.entry(c.base.as_str()).or_default() += 1;
    }
    // Most domains first; on a tie the lowest base, so the result is stable.
    let best = counts.values().copied().max()?;
    counts
        .into_iter()
        .find(|(_, n)| *n == best)
        .map(|(b, _)| b.to_owned())
}

/// One domain's mapping, and how many machines it holds.
fn domain(
    c: &Candidate<'_>,
    machines_seen: &mut BTreeMap<String, String>,
    notes: &mut Vec<String>,
) -> (Value, usize) {
    let project = &c.state.project;
    let mut machines = Vec::new();
    let mut ephemerals = Vec::new();
    for instance in &c.state.instances {
        if let Some(first) = machines_seen.get(&instance.name) {
            notes.push(format!(
                "instance '{}' of project '{}': machine names are unique across domains and '{first}' already has one",
                instance.name, project.name
            ));
            continue;
        }
        machines_seen.insert(instance.name.clone(), project.name.clone());
        let ephemeral = instance.config.get(PROTECTION_KEY).map(String::as_str) != Some("true");
        ephemerals.push(ephemeral);
        machines.push((instance, ephemeral));
    }
    // A domain is ephemeral when every machine is; an empty one is kept
    // protected.
    let domain_ephemeral = !ephemerals.is_empty() && ephemerals.iter().all(|e| *e);
    let mut body = Vec::new();
    if !project.description.is_empty() {
        body.push(entry(
            "description",
            Value::str(project.description.as_str()),
        ));
    }
    body.push(entry("subnet_id", Value::Int(i64::from(c.subnet_id))));
    body.push(entry("ephemeral", Value::Bool(domain_ephemeral)));
    body.push(entry("nat", Value::Bool(c.nat)));
    let profiles: Vec<(Value, Value)> = c
        .state
        .profiles
        .iter()
        .filter(|p| p.name != "default")
        .map(|p| (Value::str(p.name.as_str()), profile(p)))
        .collect();
    if !profiles.is_empty() {
        body.push(entry("profiles", Value::Map(profiles)));
    }
    let count = machines.len();
    if !machines.is_empty() {
        let machines = machines
            .into_iter()
            .map(|(i, ephemeral)| {
                let m = machine(c, i, ephemeral != domain_ephemeral, ephemeral, notes);
                (Value::str(i.name.as_str()), m)
            })
            .collect();
        body.push(entry("machines", Value::Map(machines)));
    }
    (Value::Map(body), count)
}

pub(crate) fn entry(key: &str, value: Value) -> (Value, Value) {
    (Value::str(key), value)
}

pub(crate) fn config_value(config: &Config) -> Value {
    Value::Map(
        config
            .iter()
            .map(|(k, v)| (Value::str(k.as_str()), Value::str(v.as_str())))
            .collect(),
    )
}

pub(crate) fn devices_value(devices: &Devices) -> Value {
    Value::Map(
        devices
            .iter()
            .map(|(k, v)| (Value::str(k.as_str()), config_value(v)))
            .collect(),
    )
}

fn profile(p: &Profile) -> Value {
    let mut body = Vec::new();
    if !p.description.is_empty() {
        body.push(entry("description", Value::str(p.description.as_str())));
    }
    if !p.config.is_empty() {
        body.push(entry("config", config_value(&p.config)));
    }
    if !p.devices.is_empty() {
        body.push(entry("devices", devices_value(&p.devices)));
    }
    Value::Map(body)
}
