//! What the roles put in a domain's project, as Incus sees it, and the
//! two properties of a derived project: it accepts all of that, and no
//! tighter project does.

use std::collections::BTreeMap;

use anklume_infra::restrictions::{FindingKind, ProjectRestrictions};
use anklume_infra::{Domain, Infra, InstanceType, Value};

use super::incus_restrictions::{Entity, Kind, check};

fn string_of(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some(String::new()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn config_of(v: Option<&Value>) -> BTreeMap<String, String> {
    v.and_then(Value::as_map)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), string_of(v)?)))
        .collect()
}

type Devices = BTreeMap<String, BTreeMap<String, String>>;

fn devices_of(v: Option<&Value>) -> Devices {
    v.and_then(Value::as_map)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), config_of(Some(v)))))
        .collect()
}

/// What the roles put in a domain's project, as Incus sees it: the
/// default profile, the domain's profiles, and each instance expanded with
/// its profiles (the instances role adds eth0 for a static IP, a gpu
/// device for `gpu: true`, and its own config keys; `anklume-proxy attach`
/// adds the admin machine's proxy device).
pub fn entities(infra: &Infra, domain: &Domain) -> Vec<(String, Entity)> {
    let bridge = infra.network(domain).bridge;
    let mut default_devices = Devices::new();
    default_devices.insert(
        "root".into(),
        [("type", "disk"), ("path", "/"), ("pool", "default")]
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect(),
    );
    let eth0: BTreeMap<String, String> = [
        ("type", "nic"),
        ("name", "eth0"),
        ("network", bridge.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    default_devices.insert("eth0".into(), eth0.clone());
    let mut profiles = BTreeMap::new();
    profiles.insert("default".to_owned(), (BTreeMap::new(), default_devices));
    for p in &domain.profiles {
        profiles.insert(
            p.name.clone(),
            (
                config_of(p.body.get("config")),
                devices_of(p.body.get("devices")),
            ),
        );
    }
    let mut out: Vec<(String, Entity)> = profiles
        .iter()
        .map(|(name, (config, devices))| {
            let subject = format!("profile '{name}'");
            let entity = Entity {
                name: subject.clone(),
                kind: Kind::Profile,
                config: config.clone(),
                local_config: BTreeMap::new(),
                devices: devices.clone(),
            };
            (subject, entity)
        })
        .collect();
    for m in &domain.machines {
        let mut used = vec!["default".to_owned()];
        used.extend(
            m.profiles
                .iter()
                .flatten()
                .filter(|p| *p != "default")
                .cloned(),
        );
        let (mut config, mut devices) = (BTreeMap::new(), Devices::new());
        for p in &used {
            let (c, d) = &profiles[p];
            config.extend(c.clone());
            devices.extend(d.clone());
        }
        let mut local_config = config_of(m.config.as_ref());
        local_config.insert("security.protection.delete".into(), "true".into());
        local_config.insert("user.anklume.managed-keys".into(), "x".into());
        config.extend(local_config.clone());
        let own = devices_of(m.devices.as_ref());
        if m.ip.is_some() {
            let mut e = eth0.clone();
            e.extend(own.get("eth0").cloned().unwrap_or_default());
            devices.insert("eth0".into(), e);
        }
        devices.extend(
            own.into_iter()
                .filter(|(k, _)| !(m.ip.is_some() && k == "eth0")),
        );
        if m.gpu == Some(true)
            && !devices
                .values()
                .any(|d| d.get("type").is_some_and(|t| t == "gpu"))
        {
            devices.insert("gpu".into(), [("type".into(), "gpu".into())].into());
        }
        // `anklume-proxy attach` gives the admin machine its socket through
        // a proxy device (bind=instance, connect to the proxy's socket).
        if m.roles
            .as_ref()
            .is_some_and(|r| r.iter().any(|r| r == "admin_bootstrap"))
        {
            devices.insert(
                "anklume-incus".into(),
                [
                    ("type".into(), "proxy".into()),
                    ("bind".into(), "instance".into()),
                    (
                        "connect".into(),
                        "unix:/run/anklume/proxy/admin.socket".into(),
                    ),
                    (
                        "listen".into(),
                        "unix:/var/lib/anklume-proxy/incus.socket".into(),
                    ),
                ]
                .into(),
            );
        }
        let kind = match m.instance_type {
            InstanceType::Lxc => Kind::Container,
            InstanceType::Vm => Kind::Vm,
        };
        let subject = format!("machine '{}'", m.name);
        out.push((
            subject.clone(),
            Entity {
                name: subject,
                kind,
                config,
                local_config,
                devices,
            },
        ));
    }
    out
}

pub fn as_map(r: &ProjectRestrictions) -> BTreeMap<String, String> {
    r.config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Every entity is accepted, except those the derivation reports refused
/// (a machine also counts as reported when one of its profiles is).
pub fn all_accepted(infra: &Infra, domain: &Domain, r: &ProjectRestrictions) -> Result<(), String> {
    let project = as_map(r);
    let refused: Vec<&str> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::Refused)
        .map(|f| f.subject.as_str())
        .collect();
    for (subject, entity) in entities(infra, domain) {
        if let Err(why) = check(&project, &entity) {
            let machine = domain
                .machines
                .iter()
                .find(|m| format!("machine '{}'", m.name) == subject);
            let via_profile = machine.is_some_and(|m| {
                m.profiles
                    .iter()
                    .flatten()
                    .any(|p| refused.contains(&format!("profile '{p}'").as_str()))
            });
            if !refused.contains(&subject.as_str()) && !via_profile {
                return Err(format!("{why} (config {project:?})"));
            }
        }
    }
    Ok(())
}

/// Tighter variants of the derived config, one step each.
fn tightenings(project: &BTreeMap<String, String>) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = vec![];
    for (key, value) in project {
        let tighter: Vec<BTreeMap<String, String>> = match (key.as_str(), value.as_str()) {
            ("restricted.snapshots", _) => vec![], // anklume-snapd's, not a machine's
            ("restricted.devices.disk", "allow") => {
                let mut p = project.clone();
                p.insert(key.clone(), "managed".into());
                p.remove("restricted.devices.disk.paths");
                vec![p]
            }
            ("restricted.devices.nic", "allow") | ("restricted.containers.privilege", "allow") => {
                let mut p = project.clone();
                let step = if key.ends_with("nic") {
                    "managed"
                } else {
                    "unprivileged"
                };
                p.insert(key.clone(), step.into());
                vec![p]
            }
            (_, "allow") => {
                let mut p = project.clone();
                p.insert(key.clone(), "block".into());
                vec![p]
            }
            (
                "restricted.devices.disk.paths"
                | "restricted.networks.access"
                | "restricted.idmap.uid"
                | "restricted.idmap.gid",
                list,
            ) => {
                let items: Vec<&str> = list.split(',').collect();
                (0..items.len())
                    .filter(|_| {
                        items.len() > 1 || !key.ends_with("paths") && !key.ends_with("access")
                    })
                    .map(|i| {
                        let mut p = project.clone();
                        let rest: Vec<&str> = items
                            .iter()
                            .enumerate()
                            .filter(|(j, _)| *j != i)
                            .map(|(_, s)| *s)
                            .collect();
                        if rest.is_empty() {
                            p.remove(key);
                        } else {
                            p.insert(key.clone(), rest.join(","));
                        }
                        p
                    })
                    .collect()
            }
            _ => vec![],
        };
        out.extend(tighter.into_iter().map(|p| (key.clone(), p)));
    }
    out
}

pub fn nothing_more(infra: &Infra, domain: &Domain, r: &ProjectRestrictions) -> Result<(), String> {
    let entities = entities(infra, domain);
    for (key, tighter) in tightenings(&as_map(r)) {
        if entities.iter().all(|(_, e)| check(&tighter, e).is_ok()) {
            return Err(format!("{key} could be tighter: {tighter:?}"));
        }
    }
    Ok(())
}
