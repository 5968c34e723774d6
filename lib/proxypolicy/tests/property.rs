//! Property: whatever the infra and the request, nothing outside the
//! declaration is ever allowed to change.

mod common;

use anklume_proxypolicy::{Declared, Request, Strings, decide};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// The first three may be declared; the others never are.
const KEYS: &[&str] = &[
    "boot.autostart",
    "limits.cpu",
    "raw.lxc",
    "security.nesting",
    "security.privileged",
    "linux.kernel_modules",
    "user.anklume.x",
    "volatile.idmap.next",
    "restricted",
    "features.images",
    "ipv4.nat",
    "raw.idmap",
];
const VALUES: &[&str] = &["true", "false", "4"];
const NAMES: &[&str] = &[
    "a-1", "a-2", "b-1", "a-1", "a-2", "b-1", "evil", "default", "big", "net-a", "net-b", "net-c",
    "a", "b", "c",
];
const PROJECTS: &[&str] = &["a", "b", "a", "b", "c", "default"];

fn infra_yaml() -> impl Strategy<Value = String> {
    let machine = (
        prop::sample::subsequence(KEYS[..3].to_vec(), 0..3),
        prop::sample::select(VALUES.to_vec()),
        any::<bool>(),
        any::<bool>(),
    );
    prop::collection::vec(prop::collection::vec(machine, 0..3), 1..3).prop_map(|domains| {
        let mut y = String::from("project_name: p\nglobal: {default_os_image: img, nat: false, gpu_policy: shared}\ndomains:\n");
        for (di, machines) in domains.iter().enumerate() {
            let d = ["a", "b"][di];
            y.push_str(&format!("  {d}:\n    subnet_id: {}\n    profiles:\n      big: {{config: {{limits.cpu: 2}}}}\n    machines:\n", di + 1));
            if machines.is_empty() {
                y.push_str("      {}\n");
                y = y.replace("    machines:\n      {}\n", "");
            }
            for (mi, (keys, value, disk, gpu)) in machines.iter().enumerate() {
                let disk = *disk || mi == 0;
                let config: Vec<String> = keys.iter().map(|k| format!("{k}: '{value}'")).collect();
                y.push_str(&format!("      {d}-{}:\n        type: lxc\n        config: {{{}}}\n", mi + 1, config.join(", ")));
                if disk {
                    y.push_str("        devices: {data: {type: disk, source: /srv/d, path: /d}}\n");
                }
                if *gpu {
                    y.push_str("        gpu: true\n");
                }
            }
        }
        y
    })
}

fn device() -> impl Strategy<Value = (String, Value)> {
    (
        prop::sample::select(vec!["data", "data", "eth0", "gpu", "x"]),
        prop::sample::subsequence(
            vec![
                ("type", "disk"),
                ("source", "/"),
                ("path", "/d"),
                ("type", "gpu"),
                ("network", "net-b"),
                ("type", "proxy"),
            ],
            0..3,
        ),
    )
        .prop_map(|(name, kv)| {
            let m: Map<String, Value> = kv
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            (name.to_string(), Value::Object(m))
        })
}

fn body() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(NAMES.to_vec()),
        prop::collection::vec(
            (
                prop::sample::select(KEYS.to_vec()),
                prop::sample::select(VALUES.to_vec()),
            ),
            0..2,
        ),
        prop::option::of(prop::collection::vec(device(), 0..3)),
        prop::option::of(prop::sample::subsequence(
            vec!["default", "big", "other"],
            0..3,
        )),
        any::<bool>(),
    )
        .prop_map(|(name, config, devices, profiles, image)| {
            let config: Map<String, Value> = config
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            let mut body = json!({"name": name, "type": "container", "config": config,
                   "source": {"type": "image", "alias": if image { "img" } else { "other" }}});
            if let Some(devices) = devices {
                body["devices"] = Value::Object(devices.into_iter().collect());
            }
            if let Some(profiles) = profiles {
                body["profiles"] = json!(profiles);
            }
            body
        })
}

fn target() -> impl Strategy<Value = (String, String)> {
    let kind = prop::sample::select(vec![
        "instances",
        "instances",
        "instances",
        "profiles",
        "networks",
        "projects",
    ]);
    let method = prop::sample::select(vec!["GET", "POST", "PUT", "PATCH", "DELETE"]);
    let name = prop::option::weighted(0.8, prop::sample::select(NAMES.to_vec()));
    let sub = prop::option::weighted(
        0.3,
        prop::sample::select(vec![
            "state",
            "exec",
            "files",
            "snapshots",
            "metadata",
            "backups",
        ]),
    );
    let project = prop::sample::select(PROJECTS.to_vec());
    (method, kind, name, sub, project).prop_map(|(m, k, n, s, p)| {
        let mut path = format!("/1.0/{k}");
        if let Some(n) = n {
            path += &format!("/{n}");
            if let Some(s) = s {
                path += &format!("/{s}");
            }
        }
        (m.to_string(), format!("{path}?project={p}"))
    })
}

fn within(body: &Map<String, Value>, config: &Strings) -> bool {
    body.get("config")
        .and_then(Value::as_object)
        .is_none_or(|c| {
            c.iter().all(|(k, v)| {
                k.starts_with("user.anklume.") || config.get(k).map(String::as_str) == v.as_str()
            })
        })
}

fn devices_within(body: &Map<String, Value>, declared: &anklume_proxypolicy::Devices) -> bool {
    body.get("devices")
        .and_then(Value::as_object)
        .is_none_or(|ds| {
            ds.iter().all(|(name, dev)| {
                declared.get(name).is_some_and(|want| {
                    dev.as_object()
                        .unwrap()
                        .iter()
                        .all(|(k, v)| want.get(k).map(String::as_str) == v.as_str())
                })
            })
        })
}

/// Independent of the implementation: what an allowed request may change.
fn allowed_change_is_declared(
    d: &Declared,
    method: &str,
    target: &str,
    body: &Value,
) -> Result<(), String> {
    let (path, query) = target.split_once('?').unwrap();
    let project = query.strip_prefix("project=").unwrap();
    let seg: Vec<&str> = path.split('/').skip(2).collect();
    let b = body.as_object().unwrap();
    let name = b["name"].as_str().unwrap();
    let fail = |why: &str| Err(format!("{method} {target} {body}: {why}"));
    match (method, seg.as_slice()) {
        ("GET", _) => Ok(()),
        (_, ["instances", ..]) if !d.projects.contains_key(project) => fail("foreign project"),
        ("POST", ["instances"]) => match d.instance(project, name) {
            Some(i)
                if within(b, &i.config)
                    && devices_within(b, &i.devices)
                    && b["source"]["alias"] == "img" =>
            {
                Ok(())
            }
            _ => fail("instance create beyond the declaration"),
        },
        ("PUT" | "PATCH", ["instances", n]) => match d.instance(project, n) {
            Some(i) if within(b, &i.config) && devices_within(b, &i.devices) => Ok(()),
            _ => fail("instance update beyond the declaration"),
        },
        ("DELETE", ["instances", n]) if d.instance(project, n).is_some() => {
            fail("declared instance deleted")
        }
        (_, ["instances", n, "state" | "exec" | "files" | "snapshots"])
            if d.instance(project, n).is_none() =>
        {
            if method == "PUT" && seg[2] == "state" {
                Ok(())
            } else {
                fail("operation on an undeclared instance")
            }
        }
        (_, ["instances", _, "metadata" | "backups"]) => fail("metadata/backups write"),
        ("POST", ["projects"]) => match d.projects.get(name) {
            Some(p) if within(b, &p.config) => Ok(()),
            _ => fail("project create beyond the declaration"),
        },
        ("PUT" | "PATCH", ["projects", n]) => match d.projects.get(*n) {
            Some(p) if within(b, &p.config) => Ok(()),
            _ => fail("project update beyond the declaration"),
        },
        (_, ["projects", ..]) => fail("project change"),
        ("POST", ["networks"]) => match d.networks.get(name) {
            Some(n) if within(b, &n.config) => Ok(()),
            _ => fail("network create beyond the declaration"),
        },
        ("PUT" | "PATCH", ["networks", n]) => match d.networks.get(*n) {
            Some(net) if within(b, &net.config) => Ok(()),
            _ => fail("network update beyond the declaration"),
        },
        (_, ["networks", ..]) => fail("network change"),
        (_, ["profiles", ..]) if !d.projects.contains_key(project) => fail("foreign project"),
        ("POST", ["profiles"]) | ("PUT" | "PATCH", ["profiles", _]) => {
            let n = if seg.len() == 2 { seg[1] } else { name };
            match d.projects[project].profiles.get(n) {
                Some(p) if within(b, &p.config) && devices_within(b, &p.devices) => Ok(()),
                _ => fail("profile beyond the declaration"),
            }
        }
        ("DELETE", ["profiles", n]) if d.projects[project].profiles.contains_key(*n) => {
            fail("declared profile deleted")
        }
        (_, ["profiles", _, _, ..]) => fail("profile sub-resource change"),
        _ => Ok(()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn nothing_outside_the_declaration_is_ever_allowed(yaml in infra_yaml(), (method, target) in target(), body in body()) {
        let (infra, _report) = anklume_infra::load_str(&yaml, "infra.yml", &anklume_infra::NestingContext::default());
        prop_assume!(infra.is_some());
        let d = Declared::from_infra(&infra.unwrap());
        let (path, query) = target.split_once('?').unwrap();
        let req = Request::new(&method, path, query, Some(&body));
        let verdict = decide(&d, &req, &|_| false);
        if verdict.is_allowed()
            && let Err(why) = allowed_change_is_declared(&d, &method, &target, &body)
        {
            return Err(TestCaseError::fail(format!("{why}\nverdict {verdict:?}\ninfra:\n{yaml}")));
        }
    }
}
