//! The Incus state the host's infra declares, as the `incus_*` roles and
//! the `anklume.incus` collection build it: one project per domain (the
//! `incus_projects` config and the domain's derived restrictions), the bridge `net-<d>` in the default project,
//! each domain's `default` profile (root disk, `eth0` on its bridge) and
//! its own profiles, and each machine's instance (type, image, config,
//! devices, profiles).

use std::collections::BTreeMap;

use anklume_infra::{Domain, Infra, InstanceType, Machine, Value};

/// A config mapping as Incus stores it: every value a string.
pub type Strings = BTreeMap<String, String>;
/// Devices by name.
pub type Devices = BTreeMap<String, Strings>;

/// The storage pool of each domain's root disk (`incus_profiles_storage_pool`).
pub const DEFAULT_POOL: &str = "default";

/// The project config `incus_projects` sets (`incus_projects_config`).
const PROJECT_CONFIG: [(&str, &str); 4] = [
    ("features.images", "false"),
    ("features.profiles", "true"),
    ("features.storage.volumes", "true"),
    ("features.networks", "false"),
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Declared {
    /// By project name (= domain name).
    pub projects: BTreeMap<String, DeclaredProject>,
    /// Bridges, by name; they live in the default project.
    pub networks: BTreeMap<String, DeclaredNetwork>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclaredProject {
    pub config: Strings,
    pub bridge: String,
    pub profiles: BTreeMap<String, DeclaredProfile>,
    pub instances: BTreeMap<String, DeclaredInstance>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclaredNetwork {
    pub config: Strings,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclaredProfile {
    pub config: Strings,
    pub devices: Devices,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeclaredInstance {
    /// `container` or `virtual-machine`.
    pub kind: String,
    /// The local image alias (`images:debian/13` → `debian/13`).
    pub image: Option<String>,
    pub config: Strings,
    pub devices: Devices,
    pub profiles: Vec<String>,
}

impl Declared {
    pub fn from_infra(infra: &Infra) -> Self {
        let mut declared = Declared::default();
        for domain in &infra.domains {
            let net = infra.network(domain);
            let nat = domain.nat.unwrap_or(true);
            let network = DeclaredNetwork {
                config: strings([
                    ("ipv4.address", format!("{}/24", net.gateway())),
                    ("ipv4.nat", nat.to_string()),
                    ("ipv4.dhcp", "true".into()),
                    ("ipv6.address", "none".into()),
                    ("ipv6.nat", "false".into()),
                ]),
            };
            declared.networks.insert(net.bridge.clone(), network);
            declared
                .projects
                .insert(domain.name.clone(), project(infra, domain, &net.bridge));
        }
        declared
    }

    pub fn instance(&self, project: &str, name: &str) -> Option<&DeclaredInstance> {
        self.projects.get(project)?.instances.get(name)
    }
}

fn project(infra: &Infra, domain: &Domain, bridge: &str) -> DeclaredProject {
    let mut profiles = BTreeMap::new();
    let default_devices = Devices::from([
        (
            "root".to_string(),
            strings([
                ("type", "disk".into()),
                ("path", "/".into()),
                ("pool", DEFAULT_POOL.into()),
            ]),
        ),
        (
            "eth0".to_string(),
            strings([
                ("type", "nic".into()),
                ("name", "eth0".into()),
                ("network", bridge.into()),
            ]),
        ),
    ]);
    profiles.insert(
        "default".to_string(),
        DeclaredProfile {
            config: Strings::new(),
            devices: default_devices,
        },
    );
    for p in &domain.profiles {
        profiles.insert(
            p.name.clone(),
            DeclaredProfile {
                config: str_map(p.body.get("config")),
                devices: str_devices(p.body.get("devices")),
            },
        );
    }
    let instances = domain
        .machines
        .iter()
        .map(|m| (m.name.clone(), instance(m, bridge)))
        .collect();
    // The project's restrictions are the ones the generator derives (the
    // second wall): the admin domain may set exactly those, never others.
    let mut config = strings(PROJECT_CONFIG.map(|(k, v)| (k, v.to_string())));
    config.extend(
        anklume_infra::restrictions::derive(infra, domain)
            .config
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    DeclaredProject {
        config,
        bridge: bridge.to_string(),
        profiles,
        instances,
    }
}

/// `anklume.incus`'s `desired()`: the instance body wanted for a machine.
fn instance(machine: &Machine, bridge: &str) -> DeclaredInstance {
    let mut config = str_map(machine.config.as_ref());
    config.insert(
        "security.protection.delete".into(),
        (!machine.ephemeral).to_string(),
    );
    let mut devices = str_devices(machine.devices.as_ref());
    if let Some(ip) = machine.ip {
        let mut eth0 = strings([
            ("type", "nic".into()),
            ("name", "eth0".into()),
            ("network", bridge.into()),
        ]);
        eth0.extend(devices.remove("eth0").unwrap_or_default());
        eth0.insert("ipv4.address".into(), ip.to_string());
        devices.insert("eth0".into(), eth0);
    }
    let has_gpu = devices
        .values()
        .any(|d| d.get("type").map(String::as_str) == Some("gpu"));
    if machine.gpu == Some(true) && !has_gpu {
        devices.insert("gpu".into(), strings([("type", "gpu".into())]));
    }
    let mut profiles: Vec<String> = machine.profiles.clone().unwrap_or_default();
    if !profiles.iter().any(|p| p == "default") {
        profiles.insert(0, "default".into());
    }
    DeclaredInstance {
        kind: match machine.instance_type {
            InstanceType::Lxc => "container",
            InstanceType::Vm => "virtual-machine",
        }
        .into(),
        image: machine.os_image.as_deref().map(local_alias),
        config,
        devices,
        profiles,
    }
}

/// `images:debian/13` → `debian/13`; a bare alias stays.
pub fn local_alias(image: &str) -> String {
    image
        .split_once(':')
        .map_or(image, |(_, alias)| alias)
        .to_string()
}

/// A value as Incus stores it (the collection's `incus_str`): booleans
/// lowercase, everything else its text.
pub fn incus_str(value: &Value) -> String {
    let text = match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.clone(),
        Value::Seq(_) | Value::Map(_) => serde_json::to_string(value).unwrap_or_default(),
    };
    let lower = text.to_lowercase();
    if lower == "true" || lower == "false" {
        lower
    } else {
        text
    }
}

fn key_text(key: &Value) -> String {
    key.as_str().map_or_else(|| incus_str(key), str::to_string)
}

fn str_map(value: Option<&Value>) -> Strings {
    value
        .and_then(Value::as_map)
        .map(|m| m.iter().map(|(k, v)| (key_text(k), incus_str(v))).collect())
        .unwrap_or_default()
}

fn str_devices(value: Option<&Value>) -> Devices {
    value
        .and_then(Value::as_map)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (key_text(k), str_map(Some(v))))
                .collect()
        })
        .unwrap_or_default()
}

fn strings<const N: usize>(pairs: [(&str, String); N]) -> Strings {
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use anklume_infra::{NestingContext, load_str};

    #[test]
    fn the_declared_state_is_what_the_roles_build() {
        let yaml = "project_name: t\nglobal: {base_subnet: '10.120', default_os_image: 'images:debian/13', nat: false}\n\
                    domains:\n  pro:\n    subnet_id: 3\n    profiles:\n      big: {config: {limits.cpu: 4}}\n    machines:\n      \
                    pro-dev: {type: lxc, ip: 10.120.3.10, profiles: [big], config: {boot.autostart: true}, gpu: true}\n";
        let (infra, report) = load_str(yaml, "infra.yml", &NestingContext::default());
        let infra = infra.unwrap_or_else(|| panic!("{:?}", report.errors));
        let d = Declared::from_infra(&infra);
        assert_eq!(
            d.networks["net-pro"].config["ipv4.address"],
            "10.120.3.254/24"
        );
        assert_eq!(d.networks["net-pro"].config["ipv4.nat"], "false");
        let p = &d.projects["pro"];
        assert_eq!(p.config["features.profiles"], "true");
        assert_eq!(p.profiles["default"].devices["eth0"]["network"], "net-pro");
        assert_eq!(p.profiles["big"].config["limits.cpu"], "4");
        let i = &p.instances["pro-dev"];
        assert_eq!(i.kind, "container");
        assert_eq!(i.image.as_deref(), Some("debian/13"));
        assert_eq!(i.config["boot.autostart"], "true");
        assert_eq!(i.config["security.protection.delete"], "true");
        assert_eq!(i.devices["eth0"]["ipv4.address"], "10.120.3.10");
        assert_eq!(i.devices["gpu"]["type"], "gpu");
        assert_eq!(i.profiles, ["default", "big"]);
    }
}
