//! From an [`IncusState`] to infra.yml text: which projects are domains,
//! their addressing, profiles and machines, and the notes on what is left
//! out.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use anklume_incus::read::{Config, Devices, Image, InstanceDetail, Network, Profile};
use anklume_infra::{BRIDGE_PREFIX, NestingContext, Value};

use crate::ImportError;
use crate::state::{IncusState, ProjectState};

/// Instance config keys anklume itself derives (never written back).
const PROTECTION_KEY: &str = "security.protection.delete";
/// Where anklume's instances module remembers the config keys it set.
const MANAGED_KEYS: &str = "user.anklume.managed-keys";

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
struct Candidate<'a> {
    state: &'a ProjectState,
    base: String,
    subnet_id: u8,
    nat: bool,
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

fn entry(key: &str, value: Value) -> (Value, Value) {
    (Value::str(key), value)
}

fn config_value(config: &Config) -> Value {
    Value::Map(
        config
            .iter()
            .map(|(k, v)| (Value::str(k.as_str()), Value::str(v.as_str())))
            .collect(),
    )
}

fn devices_value(devices: &Devices) -> Value {
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

fn machine(
    c: &Candidate<'_>,
    i: &InstanceDetail,
    write_ephemeral: bool,
    ephemeral: bool,
    notes: &mut Vec<String>,
) -> Value {
    let where_ = format!("machine '{}'", i.name);
    let mut body = Vec::new();
    if !i.description.is_empty() {
        body.push(entry("description", Value::str(i.description.as_str())));
    }
    let kind = match i.instance_type.as_str() {
        "virtual-machine" => "vm",
        _ => "lxc",
    };
    body.push(entry("type", Value::str(kind)));
    let mut devices = i.devices.clone();
    if let Some(ip) = static_ip(c, &mut devices, &where_, notes) {
        body.push(entry("ip", Value::str(ip.to_string())));
    }
    if write_ephemeral {
        body.push(entry("ephemeral", Value::Bool(ephemeral)));
    }
    let known = |p: &String| p == "default" || c.state.profiles.iter().any(|q| &q.name == p);
    for unknown in i.profiles.iter().filter(|p| !known(p)) {
        notes.push(format!(
            "{where_}: profile '{unknown}' is not a profile of project '{}'; left out",
            c.state.project.name
        ));
    }
    let profiles: Vec<&String> = i.profiles.iter().filter(|p| known(p)).collect();
    if profiles != ["default"] {
        if !profiles.iter().any(|p| *p == "default") {
            notes.push(format!(
                "{where_}: it does not use the profile 'default'; anklume always gives it (root disk and eth0)"
            ));
        }
        body.push(entry(
            "profiles",
            Value::Seq(profiles.iter().map(|p| Value::str(p.as_str())).collect()),
        ));
    }
    let config = config(i, &where_, notes);
    if !config.is_empty() {
        body.push(entry("config", config_value(&config)));
    }
    if !devices.is_empty() {
        body.push(entry("devices", devices_value(&devices)));
    }
    match image(i, &c.state.images) {
        Ok(image) => body.push(entry("os_image", Value::str(image))),
        Err(reason) => notes.push(format!("{where_}: os_image: {reason}")),
    }
    Value::Map(body)
}

/// The static address anklume gave the machine: `ipv4.address` of its
/// `eth0` NIC on the domain's bridge. The key is taken out of the devices
/// (anklume puts it back from `ip:`), and so is an `eth0` that holds only
/// what anklume would write itself.
fn static_ip(
    c: &Candidate<'_>,
    devices: &mut Devices,
    where_: &str,
    notes: &mut Vec<String>,
) -> Option<Ipv4Addr> {
    let bridge = format!("{BRIDGE_PREFIX}{}", c.state.project.name);
    let eth0 = devices.get_mut("eth0")?;
    let ip: Ipv4Addr = eth0.get("ipv4.address")?.parse().ok()?;
    let [a, b, n, _] = ip.octets();
    if format!("{a}.{b}") != c.base || n != c.subnet_id {
        notes.push(format!(
            "{where_}: ipv4.address {ip} lies outside its domain's subnet; kept in devices.eth0, not as ip:"
        ));
        return None;
    }
    eth0.remove("ipv4.address");
    let plain: Config = [
        ("type", "nic"),
        ("name", "eth0"),
        ("network", bridge.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    if *eth0 == plain {
        devices.remove("eth0");
    }
    Some(ip)
}

/// The config keys to write: those anklume set (its managed-keys list)
/// when it made the instance, else every key that is not Incus's own.
fn config(i: &InstanceDetail, where_: &str, notes: &mut Vec<String>) -> Config {
    let managed: Option<Vec<&str>> = i
        .config
        .get(MANAGED_KEYS)
        .map(|keys| keys.split(',').filter(|k| !k.is_empty()).collect());
    let own = |k: &str| k.starts_with("volatile.") || k.starts_with("image.");
    let mut out = Config::new();
    for (key, value) in &i.config {
        if own(key) || key == PROTECTION_KEY || key == MANAGED_KEYS {
            continue;
        }
        match &managed {
            Some(list) if !list.contains(&key.as_str()) => notes.push(format!(
                "{where_}: config key '{key}' was set outside anklume; add it to config: to have anklume manage it"
            )),
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    out
}

/// The image the instance was made from: a local alias of its base image
/// (what anklume itself uses), else `images:<os>/<release>` from the
/// image's properties.
fn image(i: &InstanceDetail, images: &[Image]) -> Result<String, String> {
    let fingerprint = i.config.get("volatile.base_image");
    if let Some(fp) = fingerprint {
        let mut aliases: Vec<&str> = images
            .iter()
            .filter(|im| &im.fingerprint == fp)
            .flat_map(|im| im.aliases.iter().map(|a| a.name.as_str()))
            .collect();
        aliases.sort_unstable();
        if let Some(alias) = aliases.first() {
            return Ok((*alias).to_owned());
        }
    }
    let os = i.config.get("image.os").map(|s| s.to_lowercase());
    let release = i.config.get("image.release");
    match (os, release) {
        (Some(os), Some(release)) if !os.is_empty() && !release.is_empty() => {
            Ok(format!("images:{os}/{release}"))
        }
        _ => Err(match fingerprint {
            Some(fp) => format!(
                "image {fp} has no local alias and no image.os/image.release; set os_image by hand"
            ),
            None => "the instance records no base image; set os_image by hand".into(),
        }),
    }
}
