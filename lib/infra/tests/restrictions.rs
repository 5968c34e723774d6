//! The derivation of project restrictions against Incus's own rules
//! (`common/incus_restrictions.rs`), for random infras: every declared
//! machine and profile is accepted by its domain's derived project (or the
//! derivation reports why not), and nothing more is allowed — tightening
//! any derived key by one step, or dropping any item of a derived list,
//! refuses something the infra declares. Also: every example derives.

mod common;

use std::collections::BTreeMap;

use anklume_infra::restrictions;
use anklume_infra::{NestingContext, load, load_str};
use common::incus_restrictions::{Entity, Kind, check};
use common::project::{all_accepted, as_map, nothing_more};
use proptest::prelude::*;
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

#[test]
fn the_projects_role_manages_exactly_the_derived_keys() {
    let python = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
        "../../ansible/collections/ansible_collections/anklume/incus/plugins/module_utils/restrictions.py",
    );
    let text = std::fs::read_to_string(python).unwrap();
    let block = text
        .split("MANAGED = (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let managed: Vec<&str> = block
        .lines()
        .map(|l| l.trim().trim_end_matches(',').trim_matches('"'))
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(managed, restrictions::KEYS);
}
