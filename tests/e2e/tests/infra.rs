//! `anklume-gen sync` → `ansible-playbook site.yml --tags infra` on the real
//! Incus: projects, bridges, profiles and instances exist as declared; a
//! second run changes nothing; a dry run changes nothing; removing a
//! machine leaves the others untouched (the removed one is reported, not
//! deleted); an unknown image fails clearly.

use anklume_e2e::{Infra, free_base_subnet, incus_exec, incus_query, tag};
use serde_json::Value;

/// `web_memory` is the web machine's memory limit; the 192MiB version
/// also drops its `user.anklume-test` key.
fn infra_yaml(base: &str, [a, b, c]: [&str; 3], with_web: bool, web_memory: &str) -> String {
    let user_key = if web_memory == "128MiB" {
        "          user.anklume-test: hello\n"
    } else {
        ""
    };
    let web = format!(
        "      {a}-web:
        description: web server
        type: lxc
        ip: \"{base}.1.10\"
        profiles: [default, small]
        config:
          limits.memory: {web_memory}
{user_key}        devices:
          data:
            type: disk
            source: /tmp
            path: /mnt/data
"
    );
    format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-busybox
domains:
  {a}:
    description: e2e domain A
    subnet_id: 1
    ephemeral: true
    profiles:
      small:
        config:
          limits.cpu: \"1\"
    machines:
{web}      {a}-db:
        type: lxc
        ip: \"{base}.1.11\"
        ephemeral: false
  {b}:
    description: e2e domain B
    subnet_id: 2
    ephemeral: true
    machines:
      {b}-app:
        type: lxc
        ip: \"{base}.2.10\"
  {c}:
    description: e2e domain C, no machines yet
    subnet_id: 3
",
        web = if with_web { web } else { String::new() }
    )
}

fn get<'v>(v: &'v Value, path: &[&str]) -> &'v Value {
    path.iter().fold(v, |v, k| &v[*k])
}

fn instance(project: &str, name: &str) -> Value {
    incus_query(&format!("/1.0/instances/{name}?project={project}"))
        .unwrap_or_else(|| panic!("instance {project}/{name} missing"))
}

#[test]
fn infra_play_builds_declared_state_and_reconverges() {
    let t = tag();
    let (a, b, c) = (format!("e2e{t}a"), format!("e2e{t}b"), format!("e2e{t}c"));
    let base = free_base_subnet();
    let infra = Infra::new(
        &infra_yaml(&base, [&a, &b, &c], true, "128MiB"),
        &[&a, &b, &c],
    );
    infra.sync();

    // A dry run from nothing reports the work and creates nothing.
    let dry = infra.apply(&["--tags", "infra", "--check", "--diff"]);
    assert!(
        dry.changed() > 0,
        "check mode saw nothing to do:\n{}",
        dry.text
    );
    assert!(
        incus_query(&format!("/1.0/projects/{a}")).is_none(),
        "check mode created the project"
    );

    let first = infra.apply(&["--tags", "infra"]);
    assert!(first.changed() > 0, "{}", first.text);

    // Projects.
    let project = incus_query(&format!("/1.0/projects/{a}")).expect("project A");
    assert_eq!(project["description"], "e2e domain A");
    assert_eq!(get(&project, &["config", "features.images"]), "false");
    assert_eq!(get(&project, &["config", "features.profiles"]), "true");
    assert!(
        incus_query(&format!("/1.0/projects/{b}")).is_some(),
        "project B"
    );

    // Bridges: gateway, no NAT, no IPv6.
    let net = incus_query(&format!("/1.0/networks/net-{a}")).expect("bridge A");
    assert_eq!(net["type"], "bridge");
    assert_eq!(
        get(&net, &["config", "ipv4.address"]),
        &format!("{base}.1.254/24")
    );
    assert_eq!(get(&net, &["config", "ipv4.nat"]), "false");
    assert_eq!(get(&net, &["config", "ipv6.address"]), "none");
    let net_b = incus_query(&format!("/1.0/networks/net-{b}")).expect("bridge B");
    assert_eq!(
        get(&net_b, &["config", "ipv4.address"]),
        &format!("{base}.2.254/24")
    );

    // A domain without machines still gets its project, bridge and profile.
    let project_c = incus_query(&format!("/1.0/projects/{c}")).expect("project C");
    assert_eq!(project_c["description"], "e2e domain C, no machines yet");
    let net_c = incus_query(&format!("/1.0/networks/net-{c}")).expect("bridge C");
    assert_eq!(
        get(&net_c, &["config", "ipv4.address"]),
        &format!("{base}.3.254/24")
    );
    let default_c = incus_query(&format!("/1.0/profiles/default?project={c}")).unwrap();
    assert_eq!(
        get(&default_c, &["devices", "eth0", "network"]),
        &format!("net-{c}")
    );

    // Profiles: the project's default one and the domain's own.
    let default = incus_query(&format!("/1.0/profiles/default?project={a}")).unwrap();
    assert_eq!(get(&default, &["devices", "root", "path"]), "/");
    assert_eq!(get(&default, &["devices", "root", "pool"]), "default");
    assert_eq!(
        get(&default, &["devices", "eth0", "network"]),
        &format!("net-{a}")
    );
    let small = incus_query(&format!("/1.0/profiles/small?project={a}")).expect("profile small");
    assert_eq!(get(&small, &["config", "limits.cpu"]), "1");

    // Instances: running, static IP, config, devices, profiles, protection.
    let web = instance(&a, &format!("{a}-web"));
    assert_eq!(web["status"], "Running");
    assert_eq!(web["description"], "web server");
    assert_eq!(web["profiles"], serde_json::json!(["default", "small"]));
    assert_eq!(get(&web, &["config", "limits.memory"]), "128MiB");
    assert_eq!(get(&web, &["config", "user.anklume-test"]), "hello");
    assert_eq!(
        get(&web, &["config", "security.protection.delete"]),
        "false"
    );
    assert_eq!(
        get(&web, &["devices", "eth0", "ipv4.address"]),
        &format!("{base}.1.10")
    );
    assert_eq!(
        get(&web, &["devices", "eth0", "network"]),
        &format!("net-{a}")
    );
    assert_eq!(get(&web, &["devices", "data", "path"]), "/mnt/data");
    assert_eq!(get(&web, &["expanded_config", "limits.cpu"]), "1");
    let db = instance(&a, &format!("{a}-db"));
    assert_eq!(
        get(&db, &["config", "security.protection.delete"]),
        "true",
        "ephemeral: false protects"
    );
    assert_eq!(
        get(&db, &["devices", "eth0", "ipv4.address"]),
        &format!("{base}.1.11")
    );
    let app = instance(&b, &format!("{b}-app"));
    assert_eq!(app["status"], "Running");
    assert_eq!(
        get(&app, &["devices", "eth0", "ipv4.address"]),
        &format!("{base}.2.10")
    );

    // Nesting context (ADR-020): the test's controller is at level 1.
    let context = incus_exec(
        &a,
        &format!("{a}-web"),
        "cd /etc/anklume && cat absolute_level relative_level vm_nested yolo",
    );
    assert_eq!(
        context.split_whitespace().collect::<Vec<_>>(),
        ["2", "2", "false", "false"]
    );

    // Second run: nothing to do.
    let second = infra.apply(&["--tags", "infra"]);
    assert_eq!(
        second.changed(),
        0,
        "second run changed something:\n{}",
        second.text
    );

    // A changed value: the dry run sees it and leaves it, the run applies it.
    infra.write(&infra_yaml(&base, [&a, &b, &c], true, "192MiB"));
    infra.sync();
    let dry = infra.apply(&["--tags", "infra", "--check", "--diff"]);
    assert_eq!(dry.changed(), 1, "{}", dry.text);
    assert_eq!(
        get(
            &instance(&a, &format!("{a}-web")),
            &["config", "limits.memory"]
        ),
        "128MiB"
    );
    let third = infra.apply(&["--tags", "infra"]);
    assert_eq!(third.changed(), 1, "{}", third.text);
    let web = instance(&a, &format!("{a}-web"));
    assert_eq!(get(&web, &["config", "limits.memory"]), "192MiB");
    // The key the infra dropped is unset; what Incus set stays.
    assert!(
        web["config"].get("user.anklume-test").is_none(),
        "{}",
        web["config"]
    );
    assert!(web["config"].get("volatile.uuid").is_some());

    // Removing a machine: the others are untouched, the removed one is
    // reported as an orphan and left running (apply never deletes).
    let db_before = instance(&a, &format!("{a}-db"));
    let app_before = instance(&b, &format!("{b}-app"));
    infra.write(&infra_yaml(&base, [&a, &b, &c], false, "192MiB"));
    infra.sync();
    let after_removal = infra.apply(&["--tags", "infra"]);
    assert_eq!(after_removal.changed(), 0, "{}", after_removal.text);
    assert!(
        after_removal
            .text
            .contains(&format!("ORPHAN: instance '{a}-web'")),
        "no orphan warning:\n{}",
        after_removal.text
    );
    assert_eq!(instance(&a, &format!("{a}-web"))["status"], "Running");
    for (before, project, name) in [
        (db_before, &a, format!("{a}-db")),
        (app_before, &b, format!("{b}-app")),
    ] {
        let now = instance(project, &name);
        assert_eq!(now["config"], before["config"], "{name} config changed");
        assert_eq!(now["devices"], before["devices"], "{name} devices changed");
        assert_eq!(now["status"], "Running");
    }
}

#[test]
fn unknown_image_fails_with_a_clear_message() {
    let t = tag();
    let c = format!("e2e{t}c");
    let base = free_base_subnet();
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-no-such-image
domains:
  {c}:
    subnet_id: 3
    ephemeral: true
    machines:
      {c}-x:
        type: lxc
        ip: \"{base}.3.10\"
"
    );
    let infra = Infra::new(&yaml, &[&c]);
    infra.sync();
    let run = infra.playbook(&["--tags", "infra"]);
    assert!(
        !run.ok,
        "apply succeeded with a missing image:\n{}",
        run.text
    );
    assert!(
        run.text
            .contains("anklume-no-such-image (not a local alias, and no remote named)"),
        "unclear failure:\n{}",
        run.text
    );
    // Refused before anything was built: not even the project.
    assert!(incus_query(&format!("/1.0/projects/{c}")).is_none());
}

/// A `remote:alias` image whose remote cannot be reached (a remote on
/// loopback where nothing listens: no traffic leaves this machine) stops
/// the run before anything is built, and says how to import one locally.
#[test]
fn unreachable_image_remote_fails_before_anything_is_built() {
    let t = tag();
    let c = format!("e2e{t}q");
    let remote = format!("anklume-e2e-{t}");
    let base = free_base_subnet();
    let added = std::process::Command::new("incus")
        .args([
            "remote",
            "add",
            &remote,
            "https://127.0.0.1:9",
            "--protocol",
            "simplestreams",
            "--public",
        ])
        .status()
        .unwrap();
    assert!(added.success());
    struct Remote(String);
    impl Drop for Remote {
        fn drop(&mut self) {
            let _ = std::process::Command::new("incus")
                .args(["remote", "remove", &self.0])
                .status();
        }
    }
    let _remote = Remote(remote.clone());
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: {remote}:debian/13
domains:
  {c}:
    subnet_id: 3
    ephemeral: true
    machines:
      {c}-x: {{type: lxc, ip: \"{base}.3.10\"}}
"
    );
    let infra = Infra::new(&yaml, &[&c]);
    infra.sync();
    let run = infra.playbook(&["--tags", "infra"]);
    assert!(!run.ok, "{}", run.text);
    assert!(
        run.text.contains(&format!(
            "Image(s) not available, nothing was changed: {remote}:debian/13"
        )) && run.text.contains("connection refused")
            && run.text.contains("--alias debian/13"),
        "{}",
        run.text
    );
    assert!(incus_query(&format!("/1.0/projects/{c}")).is_none());
}
