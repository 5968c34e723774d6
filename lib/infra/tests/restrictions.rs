//! The derivation of project restrictions against Incus's own rules
//! (`common/incus_restrictions.rs`), for random infras: every declared
//! machine and profile is accepted by its domain's derived project (or the
//! derivation reports why not), and nothing more is allowed — tightening
//! any derived key by one step, or dropping any item of a derived list,
//! refuses something the infra declares. Also: every example derives.

mod common;

use std::collections::BTreeMap;

use anklume_infra::restrictions::{self, FindingKind, ProjectRestrictions};
use anklume_infra::{Domain, Infra, InstanceType, NestingContext, Value, load, load_str};
use common::incus_restrictions::{Entity, Kind, check};
use proptest::prelude::*;

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
/// device for `gpu: true`, and its own config keys).
fn entities(infra: &Infra, domain: &Domain) -> Vec<(String, Entity)> {
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

fn as_map(r: &ProjectRestrictions) -> BTreeMap<String, String> {
    r.config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// Every entity is accepted, except those the derivation reports refused
/// (a machine also counts as reported when one of its profiles is).
fn all_accepted(infra: &Infra, domain: &Domain, r: &ProjectRestrictions) -> Result<(), String> {
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

fn nothing_more(infra: &Infra, domain: &Domain, r: &ProjectRestrictions) -> Result<(), String> {
    let entities = entities(infra, domain);
    for (key, tighter) in tightenings(&as_map(r)) {
        if entities.iter().all(|(_, e)| check(&tighter, e).is_ok()) {
            return Err(format!("{key} could be tighter: {tighter:?}"));
        }
    }
    Ok(())
}

const CONFIGS: &[(&str, &str)] = &[
    ("security.privileged", "true"),
    ("security.privileged", "'false'"),
    ("security.nesting", "true"),
    ("security.nesting", "'no'"),
    ("security.syscalls.intercept.mknod", "'true'"),
    ("security.syscalls.intercept.sysinfo", "'false'"),
    ("security.syscalls.intercept.sched_setscheduler", "true"),
    ("raw.lxc", "lxc.apparmor.profile=unconfined"),
    ("raw.qemu", "-S"),
    ("raw.apparmor", "x"),
    ("raw.idmap", "both 1000 1000"),
    ("raw.idmap", "\"uid 2000-2004 0-4\\ngid 3000 3000\""),
    ("limits.cpu", "'1'"),
    ("limits.memory.swap", "'false'"),
    ("limits.memory.hugepages", "'true'"),
    ("boot.autostart", "true"),
    ("volatile.idmap.base", "'0'"),
];

const DEVICES: &[&str] = &[
    "{type: disk, source: /srv/a, path: /a}",
    "{type: disk, source: /srv/b/, path: /b}",
    "{type: disk, pool: default, source: vol, path: /v}",
    "{type: disk, source: 'ceph:p/v', path: /c}",
    "{type: disk, source: /srv/s, path: /s, shift: true}",
    "{type: unix-char, path: /dev/ttyS0}",
    "{type: unix-block, path: /dev/sdz}",
    "{type: unix-hotplug, vendorid: '1234'}",
    "{type: usb, vendorid: '1234'}",
    "{type: gpu}",
    "{type: pci, address: '0000:00:02.0'}",
    "{type: infiniband, parent: ib0}",
    "{type: proxy, listen: 'tcp:0.0.0.0:80', connect: 'tcp:127.0.0.1:80'}",
    "{type: nic, network: net-extra}",
    "{type: nic, network: net-d0}",
    "{type: nic, nictype: bridged, parent: br0}",
    "{type: nic, nictype: p2p}",
    "{type: none}",
];

#[derive(Clone, Debug)]
struct Body {
    config: Vec<usize>,
    devices: Vec<usize>,
}

fn body() -> impl Strategy<Value = Body> {
    (
        prop::collection::vec(0..CONFIGS.len(), 0..3),
        prop::collection::vec(0..DEVICES.len(), 0..3),
    )
        .prop_map(|(config, devices)| Body { config, devices })
}

fn write_body(out: &mut String, indent: &str, b: &Body) {
    let mut seen = std::collections::HashSet::new();
    let configs: Vec<_> = b
        .config
        .iter()
        .filter(|&&i| seen.insert(CONFIGS[i].0))
        .collect();
    if !configs.is_empty() {
        out.push_str(&format!("{indent}config:\n"));
        for &i in configs {
            out.push_str(&format!("{indent}  {}: {}\n", CONFIGS[i].0, CONFIGS[i].1));
        }
    }
    if !b.devices.is_empty() {
        out.push_str(&format!("{indent}devices:\n"));
        for (n, &i) in b.devices.iter().enumerate() {
            out.push_str(&format!("{indent}  dev{n}: {}\n", DEVICES[i]));
        }
    }
}

/// (profiles, machines as (is_vm, gpu, uses profile, body)) per domain.
type DomainShape = (Vec<Body>, Vec<(bool, bool, bool, Body)>);

fn infra_text(domains: &[DomainShape]) -> String {
    let mut out = String::from("project_name: p\nglobal:\n  gpu_policy: shared\ndomains:\n");
    for (d, (profiles, machines)) in domains.iter().enumerate() {
        out.push_str(&format!("  d{d}:\n    subnet_id: {d}\n"));
        if !profiles.is_empty() {
            out.push_str("    profiles:\n");
            for (p, b) in profiles.iter().enumerate() {
                out.push_str(&format!("      p{p}:\n"));
                write_body(&mut out, "        ", b);
                if b.config.is_empty() && b.devices.is_empty() {
                    out.push_str("        config: {}\n");
                }
            }
        }
        if !machines.is_empty() {
            out.push_str("    machines:\n");
            for (m, (vm, gpu, uses, b)) in machines.iter().enumerate() {
                out.push_str(&format!(
                    "      d{d}-m{m}:\n        ip: 10.100.{d}.{}\n",
                    m + 1
                ));
                out.push_str(&format!(
                    "        type: {}\n        gpu: {gpu}\n",
                    if *vm { "vm" } else { "lxc" }
                ));
                if *uses && !profiles.is_empty() {
                    out.push_str("        profiles: [default, p0]\n");
                }
                write_body(&mut out, "        ", b);
            }
        }
    }
    out
}

fn shapes() -> impl Strategy<Value = Vec<DomainShape>> {
    prop::collection::vec(
        (
            prop::collection::vec(body(), 0..3),
            prop::collection::vec((any::<bool>(), any::<bool>(), any::<bool>(), body()), 0..4),
        ),
        1..4,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn derived_projects_allow_what_is_declared_and_nothing_more(shape in shapes()) {
        let text = infra_text(&shape);
        let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
        let infra = infra.unwrap_or_else(|| panic!("{text}\n{:?}", report.errors));
        for domain in &infra.domains {
            let r = restrictions::derive(&infra, domain);
            all_accepted(&infra, domain, &r).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
            nothing_more(&infra, domain, &r).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        }
    }
}

#[test]
fn every_example_derives_and_is_accepted_without_findings() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path().join("infra.yml");
        if !path.exists() {
            continue;
        }
        let loaded = load(&path, &NestingContext::default()).unwrap();
        let infra = loaded
            .infra
            .unwrap_or_else(|| panic!("{}: {:?}", path.display(), loaded.report.errors));
        for domain in &infra.domains {
            let r = restrictions::derive(&infra, domain);
            assert!(
                r.findings.is_empty(),
                "{}: {:?}",
                path.display(),
                r.findings
            );
            all_accepted(&infra, domain, &r).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            nothing_more(&infra, domain, &r).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
        seen += 1;
    }
    assert!(seen >= 7, "only {seen} examples found");
}

#[test]
fn the_checker_refuses_what_incus_refuses_in_a_closed_project() {
    let infra = load_str(
        "project_name: p\nglobal: {}\ndomains:\n  d:\n    subnet_id: 1\n",
        "infra.yml",
        &NestingContext::default(),
    )
    .0
    .unwrap();
    let project = as_map(&restrictions::derive(&infra, &infra.domains[0]));
    let entity = |kind, config: &[(&str, &str)], devices: &[&[(&str, &str)]]| Entity {
        name: "x".into(),
        kind,
        config: config
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect(),
        local_config: BTreeMap::new(),
        devices: devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                (
                    format!("d{i}"),
                    d.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect(),
                )
            })
            .collect(),
    };
    for refused in [
        entity(Kind::Container, &[("security.privileged", "true")], &[]),
        entity(Kind::Container, &[("security.nesting", "true")], &[]),
        entity(Kind::Container, &[("raw.lxc", "x")], &[]),
        entity(Kind::Vm, &[("raw.qemu", "x")], &[]),
        entity(
            Kind::Container,
            &[],
            &[&[("type", "disk"), ("source", "/srv"), ("path", "/s")]],
        ),
        entity(
            Kind::Container,
            &[],
            &[&[("type", "unix-char"), ("path", "/dev/x")]],
        ),
        entity(
            Kind::Container,
            &[],
            &[&[("type", "nic"), ("network", "net-other")]],
        ),
    ] {
        assert!(
            check(&project, &refused).is_err(),
            "{:?} {:?}",
            refused.config,
            refused.devices
        );
    }
    let accepted = entity(
        Kind::Container,
        &[("limits.cpu", "1"), ("security.nesting", "false")],
        &[
            &[("type", "nic"), ("network", "net-d")],
            &[("type", "disk"), ("path", "/"), ("pool", "default")],
        ],
    );
    assert_eq!(check(&project, &accepted), Ok(()));
}
