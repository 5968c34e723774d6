//! The second wall on the real Incus (docs/defense-in-depth.md): after
//! `site.yml --tags infra`, each domain's project is restricted to what its
//! machines declare, and Incus itself — root on the real socket — refuses
//! the rest: a privileged container, a host-path disk, `raw.lxc`, a
//! `unix-char` device, a NIC on another domain's bridge, nesting. What a
//! domain declares (nesting in A, a host-path disk in B, a second bridge
//! in C) is accepted there. A re-apply changes nothing, a dry run shows a
//! restriction loosened by hand, and removing a declaration closes the
//! project again (unless an instance removed from the infra still uses it:
//! then it stays open and is reported).

use std::process::Command;

use anklume_e2e::{Infra, free_base_subnet, incus_query, tag, text};
use serde_json::{Value, json};

fn infra_yaml(base: &str, [a, b, c]: [&str; 3], shared: &str, declared: bool) -> String {
    let nesting = if declared {
        ", config: {security.nesting: true}"
    } else {
        ""
    };
    let disk = if declared {
        format!(", devices: {{data: {{type: disk, source: {shared}, path: /mnt/data}}}}")
    } else {
        String::new()
    };
    // C's machine is removed altogether: an orphan that still uses net-A.
    let c_machine = if declared {
        format!(
            "    machines:\n      {c}-m: {{ip: \"{base}.3.10\", devices: {{eth1: {{type: nic, name: eth1, network: net-{a}}}}}}}\n"
        )
    } else {
        String::new()
    };
    format!(
        "project_name: e2e\nglobal:\n  base_subnet: \"{base}\"\n  default_os_image: anklume-test-busybox\n  \
         nat: false\ndomains:\n  {a}:\n    subnet_id: 1\n    ephemeral: true\n    machines:\n      \
         {a}-m: {{ip: \"{base}.1.10\"{nesting}}}\n  {b}:\n    subnet_id: 2\n    ephemeral: true\n    \
         machines:\n      {b}-m: {{ip: \"{base}.2.10\"{disk}}}\n  {c}:\n    subnet_id: 3\n    \
         ephemeral: true\n{c_machine}"
    )
}

/// Asks the real Incus, as root, to create a container in `project`;
/// `Err(Incus's message)` when refused. An accepted one is deleted again.
fn create(project: &str, config: Value, devices: Value) -> Result<(), String> {
    let name = format!("rst{}-probe", tag());
    let body = json!({
        "name": name, "type": "container",
        "source": {"type": "image", "alias": "anklume-test-busybox"},
        "config": config, "devices": devices,
    });
    let out = Command::new("incus")
        .args(["query", "--wait", "-X", "POST"])
        .arg(format!("/1.0/instances?project={project}"))
        .args(["--data", &body.to_string()])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    let del = Command::new("incus")
        .args(["delete", "--force", "--project", project, &name])
        .output()
        .unwrap();
    assert!(del.status.success(), "delete probe: {}", text(&del));
    Ok(())
}

/// `create` must be refused, with Incus's `message` in the answer.
fn refused(project: &str, config: Value, devices: Value, message: &str) {
    let what = format!("{config} {devices}");
    match create(project, config, devices) {
        Ok(()) => panic!("project {project} accepted {what}"),
        Err(e) => {
            eprintln!("REFUSED in {project}: {what}\n  {e}");
            assert!(e.contains(message), "{project}: {what}: {e}");
        }
    }
}

fn accepted(project: &str, config: Value, devices: Value) {
    let what = format!("{config} {devices}");
    if let Err(e) = create(project, config, devices) {
        panic!("project {project} refused {what}: {e}");
    }
}

fn project_config(project: &str) -> Value {
    incus_query(&format!("/1.0/projects/{project}")).expect("project")["config"].clone()
}

#[test]
fn projects_refuse_what_the_infra_does_not_declare() {
    let t = tag();
    let (a, b, c) = (format!("rst{t}a"), format!("rst{t}b"), format!("rst{t}c"));
    let base = free_base_subnet();
    // C first: its orphan holds a NIC on net-A, which must go before A's bridge.
    let infra = Infra::new("", &[&c, &a, &b]);
    let shared = infra.dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    let shared = shared.display().to_string();
    infra.write(&infra_yaml(&base, [&a, &b, &c], &shared, true));
    infra.sync();
    infra.apply(&["--tags", "infra"]);

    let (pa, pb, pc) = (project_config(&a), project_config(&b), project_config(&c));
    assert_eq!(pa["restricted"], "true");
    assert_eq!(pa["restricted.containers.nesting"], "allow");
    assert_eq!(pb["restricted.containers.nesting"], "block");
    assert_eq!(pb["restricted.devices.disk"], "allow");
    assert_eq!(pb["restricted.devices.disk.paths"], shared.as_str());
    assert_eq!(pa["restricted.devices.disk"], "managed");
    assert_eq!(pc["restricted.networks.access"], format!("net-{c},net-{a}"));
    assert_eq!(pa["restricted.networks.access"], format!("net-{a}"));

    // Refused to root on the real socket, where nothing declares it.
    let none = json!({});
    refused(
        &a,
        json!({"security.privileged": "true"}),
        none.clone(),
        "Privileged containers are forbidden",
    );
    refused(
        &a,
        none.clone(),
        json!({"d": {"type": "disk", "source": shared, "path": "/mnt/d"}}),
        "Attaching disks not backed by a pool is forbidden",
    );
    refused(
        &b,
        none.clone(),
        json!({"d": {"type": "disk", "source": "/etc", "path": "/mnt/d"}}),
        "Disk source path \"/etc\" not allowed",
    );
    refused(
        &a,
        json!({"raw.lxc": "lxc.apparmor.profile=unconfined"}),
        none.clone(),
        "Use of low-level config \"raw.lxc\"",
    );
    refused(
        &a,
        none.clone(),
        json!({"tty": {"type": "unix-char", "path": "/dev/null"}}),
        "Unix character devices are forbidden",
    );
    refused(
        &a,
        none.clone(),
        json!({"eth1": {"type": "nic", "name": "eth1", "network": format!("net-{b}")}}),
        "Network not allowed in project",
    );
    refused(
        &b,
        json!({"security.nesting": "true"}),
        none.clone(),
        "Container nesting is forbidden",
    );

    // Accepted where declared (the declared machines were created too).
    accepted(&a, json!({"security.nesting": "true"}), none.clone());
    accepted(
        &b,
        none.clone(),
        json!({"d": {"type": "disk", "source": shared, "path": "/mnt/d"}}),
    );
    accepted(
        &c,
        none.clone(),
        json!({"eth1": {"type": "nic", "name": "eth1", "network": format!("net-{a}")}}),
    );

    // Loosened by hand: a dry run shows it, apply closes it, then nothing.
    let set = Command::new("incus")
        .args(["project", "set", &b, "restricted.devices.usb=allow"])
        .output()
        .unwrap();
    assert!(set.status.success(), "{}", text(&set));
    let dry = infra.apply(&["--tags", "infra", "--check", "--diff"]);
    assert!(
        dry.changed() > 0 && dry.text.contains("restricted.devices.usb"),
        "{}",
        dry.text
    );
    assert_eq!(
        project_config(&b)["restricted.devices.usb"],
        "allow",
        "check mode changed it"
    );
    infra.apply(&["--tags", "infra"]);
    assert_eq!(project_config(&b)["restricted.devices.usb"], "block");
    let again = infra.apply(&["--tags", "infra"]);
    assert_eq!(
        again.changed(),
        0,
        "re-apply changed something:\n{}",
        again.text
    );

    // Declarations removed: nesting (A) and the disk (B) close again; C's
    // removed machine still uses net-A, so Incus keeps that open, reported.
    infra.write(&infra_yaml(&base, [&a, &b, &c], &shared, false));
    infra.sync();
    let tightened = infra.apply(&["--tags", "infra"]);
    let (pa, pb, pc) = (project_config(&a), project_config(&b), project_config(&c));
    assert_eq!(pa["restricted.containers.nesting"], "block");
    assert_eq!(pb["restricted.devices.disk"], "managed");
    assert!(pb.get("restricted.devices.disk.paths").is_none(), "{pb}");
    assert_eq!(pc["restricted.networks.access"], format!("net-{c},net-{a}"));
    assert!(
        tightened.text.contains(&format!(
            "WARNING: project '{c}' stays open on restricted.networks.access"
        )),
        "{}",
        tightened.text
    );
    refused(
        &a,
        json!({"security.nesting": "true"}),
        none.clone(),
        "Container nesting is forbidden",
    );
    refused(
        &b,
        none,
        json!({"d": {"type": "disk", "source": shared, "path": "/mnt/d"}}),
        "Attaching disks not backed by a pool is forbidden",
    );
    let last = infra.apply(&["--tags", "infra"]);
    assert_eq!(last.changed(), 0, "{}", last.text);
}
