//! The importer on in-memory Incus states, shaped as Incus 6.0 answers
//! `GET …?recursion=1` (what `anklume-gen import` reads).

use anklume_infra::{Infra, NestingContext, load_str};
use serde_json::json;

use crate::{ImportError, IncusState, build};

fn state(value: serde_json::Value) -> IncusState {
    serde_json::from_value(value).unwrap()
}

fn bridge(name: &str, address: &str, nat: &str) -> serde_json::Value {
    json!({"name": name, "type": "bridge", "managed": true,
           "config": {"ipv4.address": address, "ipv4.nat": nat, "ipv6.address": "none"}})
}

/// What `make apply` leaves for domain `pro` (subnet 3 of 10.120) and a
/// host that also holds foreign things.
fn host() -> IncusState {
    state(json!({
        "networks": [
            bridge("net-pro", "10.120.3.254/24", "false"),
            bridge("net-lab", "10.120.4.254/24", "true"),
            bridge("foreignbr", "192.168.7.1/24", "true"),
            {"name": "eth0", "type": "physical", "managed": false, "config": {}},
        ],
        "projects": [
            {"project": {"name": "default", "config": {}},
             "profiles": [{"name": "default"}],
             "instances": [{"name": "loose", "type": "container", "config": {}}],
             "images": []},
            {"project": {"name": "foreign", "description": "not ours", "config": {}},
             "profiles": [], "instances": [], "images": []},
            {"project": {"name": "lab", "config": {}},
             "profiles": [{"name": "default", "devices": {"root": {"type": "disk", "path": "/", "pool": "default"}}}],
             "instances": [], "images": []},
            {"project": {"name": "pro", "description": "Work", "config": {"features.profiles": "true"}},
             "profiles": [
                {"name": "default", "description": "anklume domain pro", "devices": {
                    "eth0": {"type": "nic", "name": "eth0", "network": "net-pro"}}},
                {"name": "small", "description": "", "config": {"limits.cpu": "1"},
                 "devices": {}}],
             "instances": [
                {"name": "pro-db", "type": "container", "description": "",
                 "profiles": ["default"],
                 "config": {"security.protection.delete": "false",
                            "user.anklume.managed-keys": "security.protection.delete",
                            "volatile.base_image": "f00d", "image.os": "Busybox"},
                 "devices": {}},
                {"name": "pro-web", "type": "container", "description": "web server",
                 "profiles": ["default", "small"],
                 "config": {"limits.memory": "128MiB", "user.note": "by hand",
                            "security.protection.delete": "true",
                            "user.anklume.managed-keys": "limits.memory,security.protection.delete",
                            "volatile.base_image": "f00d", "volatile.eth0.hwaddr": "00:16:3e:00:00:01"},
                 "devices": {
                    "eth0": {"type": "nic", "name": "eth0", "network": "net-pro", "ipv4.address": "10.120.3.10"},
                    "data": {"type": "disk", "source": "/tmp", "path": "/mnt/data"}}},
                {"name": "pro-vm", "type": "virtual-machine",
                 "profiles": ["default"],
                 "config": {"volatile.base_image": "beef", "image.os": "Debian", "image.release": "12"},
                 "devices": {
                    "eth0": {"type": "nic", "name": "eth0", "network": "net-pro",
                             "ipv4.address": "10.120.3.20", "security.mac_filtering": "true"}}},
             ],
             "images": [{"fingerprint": "f00d", "aliases": [{"name": "anklume-test-busybox"}]}]},
        ],
    }))
}

fn parsed(text: &str) -> Infra {
    let (infra, report) = load_str(text, "t.yml", &NestingContext::default());
    infra.unwrap_or_else(|| panic!("{:?}\n{text}", report.errors))
}

#[test]
fn anklume_shaped_projects_become_domains_with_their_machines() {
    let imported = build(&host(), &[], &NestingContext::default()).unwrap();
    assert_eq!(imported.domains, ["lab", "pro"]);
    assert_eq!(imported.machines, 3);
    let infra = parsed(&imported.text);
    assert_eq!(infra.global.base_subnet.to_string(), "10.120");
    let pro = infra.domain("pro").unwrap();
    assert_eq!(pro.description, "Work");
    assert_eq!(pro.subnet_id, 3);
    assert_eq!(pro.nat, Some(false));
    assert_eq!(infra.domain("lab").unwrap().nat, Some(true));
    assert_eq!(infra.domain("lab").unwrap().subnet_id, 4);
    // Not every machine is ephemeral: the domain is not, pro-db says so.
    assert!(!pro.ephemeral);
    assert_eq!(pro.profiles.len(), 1);
    assert_eq!(pro.profiles[0].name, "small");

    let web = infra.machine("pro-web").unwrap();
    assert_eq!(web.description, "web server");
    assert_eq!(web.ip, Some("10.120.3.10".parse().unwrap()));
    assert!(!web.ephemeral);
    assert_eq!(
        web.profiles.as_deref(),
        Some(&["default".to_string(), "small".to_string()][..])
    );
    let config = web.config.as_ref().unwrap();
    assert_eq!(
        config.get("limits.memory").unwrap().as_str(),
        Some("128MiB")
    );
    for absent in [
        "user.note",
        "security.protection.delete",
        "user.anklume.managed-keys",
        "volatile.base_image",
    ] {
        assert!(config.get(absent).is_none(), "{absent}");
    }
    let devices = web.devices.as_ref().unwrap();
    assert!(devices.get("eth0").is_none(), "plain eth0 is anklume's own");
    assert_eq!(
        devices.get("data").unwrap().get("path").unwrap().as_str(),
        Some("/mnt/data")
    );
    assert_eq!(web.os_image.as_deref(), Some("anklume-test-busybox"));

    let db = infra.machine("pro-db").unwrap();
    assert!(db.ephemeral && db.ip.is_none() && db.config.is_none() && db.profiles.is_none());

    let vm = infra.machine("pro-vm").unwrap();
    assert_eq!(vm.instance_type.as_str(), "vm");
    assert!(vm.ephemeral, "no protection key: ephemeral");
    assert_eq!(vm.ip, Some("10.120.3.20".parse().unwrap()));
    // eth0 with a key of the user's own stays, without the address.
    let eth0 = vm.devices.as_ref().unwrap().get("eth0").unwrap();
    assert_eq!(
        eth0.get("security.mac_filtering").unwrap().as_str(),
        Some("true")
    );
    assert!(eth0.get("ipv4.address").is_none());
    // No local alias for its image: the images: name from its properties.
    assert_eq!(vm.os_image.as_deref(), Some("images:debian/12"));
}

#[test]
fn what_cannot_be_expressed_is_written_as_comments_with_the_reason() {
    let imported = build(&host(), &[], &NestingContext::default()).unwrap();
    let header: Vec<&str> = imported
        .text
        .lines()
        .take_while(|l| l.starts_with('#'))
        .collect();
    let header = header.join("\n");
    for expected in [
        "instance 'loose' of project 'default': anklume puts machines only in a domain's own project",
        "project 'foreign': no managed bridge net-foreign (not anklume-shaped)",
        "machine 'pro-web': config key 'user.note' was set outside anklume",
        "network_policies: anklume-netd keeps them in nftables",
        "roles: Incus does not record",
    ] {
        assert!(header.contains(expected), "{expected}:\n{header}");
    }
    // The foreign bridge and the foreign project appear nowhere as data.
    let body = imported.text.split("\n---\n").nth(1).unwrap();
    assert!(
        !body.contains("foreign") && !body.contains("loose"),
        "{body}"
    );
    assert_eq!(imported.notes.len(), 5, "{:?}", imported.notes);
}

#[test]
fn named_projects_only_and_a_foreign_one_is_refused_with_its_reason() {
    let context = NestingContext::default();
    let only = build(&host(), &["pro".into()], &context).unwrap();
    // build() gets the state read_state() filtered; unfiltered here, the
    // named project is still imported and the refusal rule holds.
    assert!(only.domains.contains(&"pro".to_string()));
    let err = build(&host(), &["foreign".into()], &context).unwrap_err();
    assert!(
        matches!(&err, ImportError::NotImportable { project, reason }
            if project == "foreign" && reason.contains("no managed bridge net-foreign")),
        "{err}"
    );
    let err = build(&host(), &["default".into()], &context).unwrap_err();
    assert!(
        err.to_string()
            .contains("the default project is never a domain"),
        "{err}"
    );
}

#[test]
fn bridges_that_anklume_would_not_make_are_left_out() {
    let mut s = host();
    for (name, address) in [
        ("net-odd", "10.120.9.1/24"),
        ("net-far", "10.130.5.254/24"),
        ("net-twin", "10.120.3.254/24"),
    ] {
        s.networks
            .push(serde_json::from_value(bridge(name, address, "false")).unwrap());
    }
    for name in ["odd", "far", "twin"] {
        s.projects.push(crate::ProjectState {
            project: anklume_incus::read::Project {
                name: name.into(),
                ..Default::default()
            },
            ..Default::default()
        });
    }
    let imported = build(&s, &[], &NestingContext::default()).unwrap();
    assert_eq!(imported.domains, ["lab", "pro"]);
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("project 'odd': bridge net-odd has ipv4.address '10.120.9.1/24'"),
        "{notes}"
    );
    assert!(
        notes.contains("project 'far': its bridge is in 10.130.x.x"),
        "{notes}"
    );
    assert!(
        notes.contains("project 'twin': subnet_id 3 is already the one of 'pro'"),
        "{notes}"
    );
    parsed(&imported.text);
}

#[test]
fn a_machine_name_already_taken_and_an_address_outside_the_subnet() {
    let mut s = host();
    let mut lab = s
        .projects
        .iter()
        .find(|p| p.project.name == "pro")
        .unwrap()
        .clone();
    lab.project.name = "lab".into();
    lab.profiles.retain(|p| p.name == "default");
    lab.instances.retain(|i| i.name == "pro-web");
    let mut other = lab.instances[0].clone();
    other.name = "lab-out".into();
    lab.instances.push(other);
    let at = s
        .projects
        .iter()
        .position(|p| p.project.name == "lab")
        .unwrap();
    s.projects[at] = lab;
    let imported = build(&s, &[], &NestingContext::default()).unwrap();
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("instance 'pro-web' of project 'pro': machine names are unique across domains and 'lab' already has one"),
        "{notes}"
    );
    assert!(
        notes.contains(
            "machine 'lab-out': ipv4.address 10.120.3.10 lies outside its domain's subnet"
        ),
        "{notes}"
    );
    assert!(
        notes.contains(
            "machine 'lab-out': profile 'small' is not a profile of project 'lab'; left out"
        ),
        "{notes}"
    );
    let infra = parsed(&imported.text);
    let out = infra.machine("lab-out").unwrap();
    assert!(out.ip.is_none());
    let eth0 = out.devices.as_ref().unwrap().get("eth0").unwrap();
    assert_eq!(
        eth0.get("ipv4.address").unwrap().as_str(),
        Some("10.120.3.10")
    );
}

#[test]
fn an_empty_host_gives_an_empty_valid_infra() {
    let imported = build(&IncusState::default(), &[], &NestingContext::default()).unwrap();
    assert!(imported.domains.is_empty());
    parsed(&imported.text);
}

#[test]
fn a_firewall_vm_is_imported_as_a_machine_and_its_mode_noted() {
    let mut s = host();
    let pro = s
        .projects
        .iter_mut()
        .find(|p| p.project.name == "pro")
        .unwrap();
    let mut fw = pro.instances[0].clone();
    fw.name = "sys-firewall".into();
    pro.instances.push(fw);
    let imported = build(&s, &[], &NestingContext::default()).unwrap();
    assert!(
        imported
            .notes
            .iter()
            .any(|n| n.starts_with("global.firewall_mode: a machine 'sys-firewall' exists")),
        "{:?}",
        imported.notes
    );
    assert!(parsed(&imported.text).machine("sys-firewall").is_some());
}

#[test]
fn the_device_anklume_proxy_attach_adds_is_left_out() {
    let mut s = host();
    let pro = s
        .projects
        .iter_mut()
        .find(|p| p.project.name == "pro")
        .unwrap();
    let web = pro
        .instances
        .iter_mut()
        .find(|i| i.name == "pro-web")
        .unwrap();
    let device: std::collections::BTreeMap<String, String> = [
        ("type", "proxy"),
        ("connect", "unix:/run/anklume/proxy/pro-web.socket"),
        ("listen", "unix:/var/lib/anklume-proxy/incus.socket"),
        ("bind", "instance"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    web.devices.insert("anklume-incus".into(), device);
    let imported = build(&s, &[], &NestingContext::default()).unwrap();
    let notes = imported.notes.join("\n");
    assert!(
        notes.contains("machine 'pro-web': device 'anklume-incus' is anklume-proxy's"),
        "{notes}"
    );
    assert!(
        !imported.text.contains("anklume-incus:"),
        "{}",
        imported.text
    );
    let infra = parsed(&imported.text);
    let devices = infra.machine("pro-web").unwrap().devices.as_ref().unwrap();
    assert!(devices.get("anklume-incus").is_none());
    assert!(devices.get("data").is_some(), "the other devices stay");
}
