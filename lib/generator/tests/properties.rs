//! Properties of sync over random valid infras: the written files parse
//! back (with an independent YAML reader) to exactly the model's values,
//! a second sync changes nothing, and user content survives re-syncs.

use std::path::Path;

use anklume_generator::{FileStatus, SyncOptions, sync, to_yaml};
use anklume_infra::{Infra, MappingBuilder, NestingContext, Value, load_str};
use proptest::prelude::*;
use serde_json::{Value as Json, json};

/// Strings that trip naive YAML writers, plus random printable text.
fn tricky_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "yes",
            "no",
            "on",
            "true",
            "False",
            "null",
            "~",
            "10.100",
            "0123",
            "0x1F",
            "1e3",
            "12:30",
            "2024-01-02",
            "a: b",
            "#hash",
            "- dash",
            "-x",
            "'quoted'",
            "\"dq\"",
            "back\\slash $1 ${x}",
            "tab\there",
            "two\nlines",
            " lead",
            "trail ",
            "é ü — 漢字",
            "<<",
            "=",
            "[x]",
            "{y}",
            "*alias",
            "&anchor",
            "!tag",
            "%pct",
            "@at",
            "`tick`",
            "...",
            "---",
            "y",
            "N",
            ".inf",
            "-.5",
            "+1",
        ])
        .prop_map(str::to_owned),
        "[ -~]{0,20}",
        "\\PC{0,12}",
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        tricky_string().prop_map(Value::String),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        Just(Value::Null),
    ]
}

/// Verbatim data (config, devices, profile bodies): nested maps and lists.
fn data() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Seq),
            prop::collection::vec(("[a-z][a-z0-9._-]{0,8}", inner), 0..4).prop_map(|entries| {
                let mut seen = std::collections::HashSet::new();
                Value::Map(
                    entries
                        .into_iter()
                        .filter(|(k, _)| seen.insert(k.clone()))
                        .map(|(k, v)| (Value::String(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn config() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z]{1,6}\\.[a-z]{1,6}", tricky_string()), 0..4).prop_map(|entries| {
        let mut seen = std::collections::HashSet::new();
        Value::Map(
            entries
                .into_iter()
                .filter(|(k, _)| seen.insert(k.clone()))
                .map(|(k, v)| (Value::String(k), Value::String(v)))
                .collect(),
        )
    })
}

#[derive(Debug, Clone)]
struct MachineSpec {
    description: Option<String>,
    vm: bool,
    with_ip: bool,
    ephemeral: Option<bool>,
    config: Option<Value>,
    devices: Option<Value>,
    roles: Option<Vec<String>>,
    image: Option<String>,
}

fn machine() -> impl Strategy<Value = MachineSpec> {
    (
        prop::option::of(tricky_string()),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(any::<bool>()),
        prop::option::of(config()),
        prop::option::of(data().prop_filter("a mapping", |v| matches!(v, Value::Map(_)))),
        prop::option::of(prop::collection::vec("[a-z_]{1,10}", 0..3)),
        prop::option::of("images:[a-z]{1,6}/[0-9]{1,2}"),
    )
        .prop_map(
            |(description, vm, with_ip, ephemeral, config, devices, roles, image)| MachineSpec {
                description,
                vm,
                with_ip,
                ephemeral,
                config,
                devices,
                roles,
                image,
            },
        )
}

type DomainSpec = (
    Option<String>,
    Option<bool>,
    Option<Value>,
    Vec<MachineSpec>,
);

fn domain() -> impl Strategy<Value = DomainSpec> {
    (
        prop::option::of(tricky_string()),
        prop::option::of(any::<bool>()),
        prop::option::of(data().prop_filter("a mapping", |v| matches!(v, Value::Map(_)))),
        prop::collection::vec(machine(), 0..4),
    )
}

/// A random valid infra, as YAML text written by the crate's own writer.
fn infra_text() -> impl Strategy<Value = String> {
    (
        prop::option::of(tricky_string()),
        prop::option::of("images:[a-z]{1,6}/[0-9]{1,2}"),
        prop::collection::vec(domain(), 1..5),
        any::<bool>(),
    )
        .prop_map(|(project, image, domains, with_policy)| {
            let mut domain_entries = Vec::new();
            for (d, (description, ephemeral, profile, machines)) in domains.into_iter().enumerate()
            {
                let name = format!("d{d}");
                let machine_entries = machines
                    .into_iter()
                    .enumerate()
                    .map(|(m, spec)| {
                        let body = MappingBuilder::new()
                            .optional("description", spec.description)
                            .entry("type", if spec.vm { "vm" } else { "lxc" })
                            .optional("ip", spec.with_ip.then(|| format!("10.100.{d}.{}", m + 1)))
                            .optional("ephemeral", spec.ephemeral)
                            .optional("config", spec.config)
                            .optional("devices", spec.devices)
                            .optional(
                                "roles",
                                spec.roles.map(|r| {
                                    Value::Seq(r.into_iter().map(Value::String).collect())
                                }),
                            )
                            .optional("os_image", spec.image)
                            .optional(
                                "profiles",
                                profile.as_ref().map(|_| Value::Seq(vec!["p".into()])),
                            )
                            .build();
                        (Value::String(format!("{name}-m{m}")), body)
                    })
                    .collect();
                let body = MappingBuilder::new()
                    .optional("description", description)
                    .entry("subnet_id", d as i64)
                    .optional("ephemeral", ephemeral)
                    .optional(
                        "profiles",
                        profile.map(|p| Value::Map(vec![("p".into(), p)])),
                    )
                    .entry("machines", Value::Map(machine_entries))
                    .build();
                domain_entries.push((Value::String(name), body));
            }
            let policies = with_policy.then(|| {
                Value::Seq(vec![
                    MappingBuilder::new()
                        .entry("from", "d0")
                        .entry("to", "host")
                        .entry("ports", Value::Seq(vec![Value::Int(22), Value::Int(8080)]))
                        .entry("protocol", "udp")
                        .entry("bidirectional", true)
                        .build(),
                ])
            });
            let doc = MappingBuilder::new()
                .entry("project_name", project.map_or(Value::Null, Value::String))
                .entry(
                    "global",
                    MappingBuilder::new()
                        .entry("base_subnet", "10.100")
                        .optional("default_os_image", image)
                        .entry("gpu_policy", "shared")
                        .build(),
                )
                .entry("domains", Value::Map(domain_entries))
                .optional("network_policies", policies)
                .build();
            to_yaml(&doc)
        })
}

fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).expect("plain data")
}

/// Reads a generated file with serde-saphyr (not the crate's own reader).
fn read_back(path: &Path) -> Json {
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

/// What each file must hold, built from the model field by field.
fn expected_files(infra: &Infra) -> Vec<(String, Json)> {
    let mut all = serde_json::Map::new();
    if let Some(p) = &infra.project_name {
        all.insert("project_name".into(), json!(p));
    }
    all.insert("base_subnet".into(), json!("10.100"));
    if let Some(i) = &infra.global.default_os_image {
        all.insert("default_os_image".into(), json!(i));
    }
    let images = infra.all_images();
    if !images.is_empty() {
        all.insert("incus_all_images".into(), json!(images));
    }
    if let Some(p) = infra.network_policies.as_ref().filter(|p| !p.is_empty()) {
        all.insert(
            "network_policies".into(),
            Json::Array(p.iter().map(|p| to_json(&p.raw)).collect()),
        );
    }
    all.insert(
        "anklume_domains".into(),
        json!(infra.domains.iter().map(|d| &d.name).collect::<Vec<_>>()),
    );
    let mut files = vec![("group_vars/all.yml".to_owned(), Json::Object(all))];
    for d in &infra.domains {
        let hosts: serde_json::Map<String, Json> = d
            .machines
            .iter()
            .map(|m| {
                (
                    m.name.clone(),
                    m.ip.map_or(Json::Null, |ip| json!({"ansible_host": ip.to_string()})),
                )
            })
            .collect();
        let hosts = if hosts.is_empty() {
            Json::Null
        } else {
            Json::Object(hosts)
        };
        files.push((
            format!("inventory/{}.yml", d.name),
            json!({"all": {"children": {d.name.clone(): {"hosts": hosts}}}}),
        ));
        let mut vars = json!({
            "domain_name": d.name, "domain_description": d.description,
            "domain_ephemeral": d.ephemeral, "incus_project": d.name,
            "incus_network": {
                "name": format!("net-{}", d.name),
                "subnet": format!("10.100.{}.0/24", d.subnet_id),
                "gateway": format!("10.100.{}.254", d.subnet_id),
            },
            "subnet_id": d.subnet_id,
        });
        if !d.profiles.is_empty() {
            vars["incus_profiles"] = Json::Object(
                d.profiles
                    .iter()
                    .map(|p| (p.name.clone(), to_json(&p.body)))
                    .collect(),
            );
        }
        // Every value a string, in the derivation's order (the derivation
        // itself is tested in anklume-infra).
        vars["incus_project_restrictions"] = Json::Object(
            anklume_infra::restrictions::derive(infra, d)
                .config
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Json::String(v)))
                .collect(),
        );
        files.push((format!("group_vars/{}.yml", d.name), vars));
        for m in &d.machines {
            let mut host = json!({
                "instance_name": m.name, "instance_type": m.instance_type.as_str(),
                "instance_description": m.description, "instance_domain": m.domain,
                "instance_ephemeral": m.ephemeral,
            });
            let optional = [
                ("instance_os_image", m.os_image.as_ref().map(|i| json!(i))),
                ("instance_ip", m.ip.map(|i| json!(i.to_string()))),
                ("instance_profiles", m.profiles.as_ref().map(|p| json!(p))),
                ("instance_config", m.config.as_ref().map(to_json)),
                ("instance_devices", m.devices.as_ref().map(to_json)),
                ("instance_roles", m.roles.as_ref().map(|r| json!(r))),
            ];
            for (key, value) in optional {
                if let Some(value) = value {
                    host[key] = value;
                }
            }
            files.push((format!("host_vars/{}.yml", m.name), host));
        }
    }
    files
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn written_files_parse_back_to_the_model(text in infra_text()) {
        let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
        let infra = infra.unwrap_or_else(|| panic!("{:?}\n{text}", report.errors));
        let dir = tempfile::tempdir().unwrap();
        sync(&infra, dir.path(), SyncOptions::default()).unwrap();
        for (path, expected) in expected_files(&infra) {
            prop_assert_eq!(read_back(&dir.path().join(&path)), expected, "{}", path);
        }
    }

    #[test]
    fn sync_is_idempotent_and_keeps_user_content(text in infra_text(), user in "[a-z_]{1,8}: [a-z0-9 ]{0,12}") {
        let (infra, _) = load_str(&text, "infra.yml", &NestingContext::default());
        let infra = infra.unwrap();
        let dir = tempfile::tempdir().unwrap();
        sync(&infra, dir.path(), SyncOptions::default()).unwrap();
        let all = dir.path().join("group_vars/all.yml");
        let mut content = std::fs::read_to_string(&all).unwrap();
        content.push_str(&user);
        content.push('\n');
        std::fs::write(&all, &content).unwrap();

        let again = sync(&infra, dir.path(), SyncOptions::default()).unwrap();
        prop_assert!(again.files.iter().all(|f| f.status == FileStatus::Unchanged));
        prop_assert_eq!(std::fs::read_to_string(&all).unwrap(), content.clone());

        // A changed infra rewrites the block and keeps the user's line.
        let mut changed = infra.clone();
        changed.project_name = Some("renamed project".into());
        let third = sync(&changed, dir.path(), SyncOptions::default()).unwrap();
        prop_assert_eq!(third.files[0].status, FileStatus::Written);
        let after = std::fs::read_to_string(&all).unwrap();
        prop_assert!(after.contains("project_name: renamed project\n"));
        let expected_tail = format!("# Your custom variables below:\n{user}\n");
        prop_assert!(after.ends_with(&expected_tail));
    }
}
