//! `incus` through the proxy against the real Incus: the declared domain
//! is built and used (launch, start, exec over a websocket, file push,
//! snapshot), and the malicious suite is refused with 403 while Incus's
//! state stays exactly as it was. Needs root and a running Incus.

mod common;

use common::{Infra, Proxy, busybox_infra, direct, direct_query, free_base_subnet, tag};
use serde_json::Value;

struct Domain {
    name: String,
    machine: String,
    base: String,
    _infra: Infra,
}

/// A throwaway domain `px<tag>` with one busybox machine (declared with a
/// GPU, for the admission test), its infra file, and a proxy on it.
fn domain() -> (Domain, Proxy) {
    let name = format!("px{}", tag());
    let base = free_base_subnet();
    let yaml = busybox_infra(&base, &[(&name, 1, Some(", gpu: true"))], "");
    let infra = Infra::new(&yaml, &[&name]);
    let proxy = Proxy::start(&infra.dir.path().join("infra.yml"));
    let machine = format!("{name}-m");
    (
        Domain {
            name,
            machine,
            base,
            _infra: infra,
        },
        proxy,
    )
}

/// Project, bridge, default profile and instance, all through the proxy.
fn build(d: &Domain, p: &Proxy) {
    let n = d.name.as_str();
    p.incus_ok(&[
        "project",
        "create",
        n,
        "-c",
        "features.images=false",
        "-c",
        "features.profiles=true",
        "-c",
        "features.storage.volumes=true",
        "-c",
        "features.networks=false",
    ]);
    let gateway = format!("ipv4.address={}.1.254/24", d.base);
    let bridge = format!("net-{n}");
    p.incus_ok(&[
        "network",
        "create",
        &bridge,
        &gateway,
        "ipv4.nat=false",
        "ipv4.dhcp=true",
        "ipv6.address=none",
        "ipv6.nat=false",
    ]);
    p.incus_ok(&[
        "profile",
        "device",
        "add",
        "default",
        "root",
        "disk",
        "path=/",
        "pool=default",
        "--project",
        n,
    ]);
    let network = format!("network={bridge}");
    p.incus_ok(&[
        "profile",
        "device",
        "add",
        "default",
        "eth0",
        "nic",
        "name=eth0",
        &network,
        "--project",
        n,
    ]);
    p.incus_ok(&[
        "launch",
        "anklume-test-busybox",
        &d.machine,
        "--project",
        n,
        "-c",
        "security.protection.delete=false",
    ]);
}

#[test]
fn incus_through_the_proxy_builds_and_uses_the_declared_domain() {
    let (d, p) = domain();
    build(&d, &p);
    let (n, m) = (d.name.as_str(), d.machine.as_str());
    assert_eq!(
        p.incus_ok(&["exec", m, "--project", n, "--", "echo", "hello"])
            .trim(),
        "hello"
    );
    let file = p.dir.path().join("pushed");
    std::fs::write(&file, "through the proxy\n").unwrap();
    let target = format!("{m}/tmp/pushed");
    p.incus_ok(&[
        "file",
        "push",
        file.to_str().unwrap(),
        &target,
        "--project",
        n,
    ]);
    assert_eq!(
        p.incus_ok(&["exec", m, "--project", n, "--", "cat", "/tmp/pushed"]),
        "through the proxy\n"
    );
    // Events of the project come through (a websocket), incusd's logs do not.
    let mut monitor = std::process::Command::new("incus")
        .args(["monitor", "--project", n, "--format", "json"])
        .env("INCUS_SOCKET", &p.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    p.incus_ok(&["snapshot", "create", m, "s1", "--project", n]);
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = monitor.kill();
    let events = String::from_utf8_lossy(&monitor.wait_with_output().unwrap().stdout).into_owned();
    assert!(events.contains("instance-snapshot-created"), "{events}");
    assert!(!events.contains(r#""type":"logging""#), "{events}");
    let snaps = direct_query(&format!("/1.0/instances/{m}/snapshots?project={n}"));
    assert!(snaps.contains("/s1"), "{snaps}");
    p.incus_ok(&["stop", m, "--project", n, "--force"]);
    p.incus_ok(&["start", m, "--project", n]);
    let list = p.incus_ok(&["list", "--project", n, "--format", "csv", "--columns", "ns"]);
    assert!(list.contains(&format!("{m},RUNNING")), "{list}");
    // Lists show anklume's projects only.
    let projects = p.incus_ok(&["project", "list", "--format", "csv", "--columns", "n"]);
    assert_eq!(projects.trim(), n);
    let all: Value = serde_json::from_str(
        &p.incus_ok(&["query", "/1.0/instances?all-projects=true&recursion=1"]),
    )
    .unwrap();
    assert!(
        all.as_array().unwrap().iter().all(|i| i["project"] == n),
        "{all}"
    );
    // Every mutating request left an audit line.
    let log = p.log_text();
    for needle in [
        r#""method":"POST","path":"/1.0/projects""#,
        r#""rule":"instance-operation""#,
    ] {
        assert!(log.contains(needle), "{needle} not in\n{log}");
    }
}

/// Incus's state that the suite could touch, read straight from incusd.
fn state(d: &Domain) -> Vec<String> {
    let (n, m) = (d.name.as_str(), d.machine.as_str());
    // Only names of this test (other tests run beside it).
    let names = |path: &str| -> String {
        let v: Value = serde_json::from_str(&direct_query(path)).unwrap_or(Value::Null);
        let mut l: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .filter(|x| x.contains(n))
            .collect();
        l.sort();
        l.join(",")
    };
    let mut instance: Value =
        serde_json::from_str(&direct_query(&format!("/1.0/instances/{m}?project={n}"))).unwrap();
    for volatile in ["last_used_at", "state"] {
        instance.as_object_mut().unwrap().remove(volatile);
    }
    vec![
        instance.to_string(),
        direct_query(&format!("/1.0/projects/{n}")),
        direct_query(&format!("/1.0/networks/net-{n}")),
        direct_query(&format!("/1.0/profiles/default?project={n}")),
        names(&format!("/1.0/instances?project={n}")),
        names("/1.0/projects"),
        names("/1.0/networks"),
        direct_query("/1.0/storage-pools"),
        direct_query("/1.0/certificates"),
        serde_json::from_str::<Value>(&direct_query("/1.0")).unwrap()["config"].to_string(),
    ]
}

#[test]
fn the_malicious_suite_is_refused_and_changes_nothing() {
    let (d, p) = domain();
    build(&d, &p);
    let (n, m) = (d.name.as_str(), d.machine.as_str());
    let evil = format!("{n}evil");
    let dev = |rest: &[&str]| -> Vec<String> {
        let mut a: Vec<String> = ["config", "device", "add", m]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(rest.iter().map(|s| s.to_string()));
        a.extend(["--project".to_string(), n.to_string()]);
        a
    };
    let set = |kv: &str| -> Vec<String> {
        ["config", "set", m, kv, "--project", n]
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let v = |a: &[&str]| -> Vec<String> { a.iter().map(|s| s.to_string()).collect() };
    let raw_message = format!("raw.lxc is not declared for instance {m}");
    let suite: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "server configuration",
            v(&["config", "set", "core.https_address=127.0.0.1:18443"]),
            "server configuration",
        ),
        (
            "certificates",
            v(&[
                "query",
                "-X",
                "POST",
                "/1.0/certificates",
                "--data",
                r#"{"type":"client","name":"x","certificate":"x"}"#,
            ]),
            "certificates",
        ),
        (
            "storage pools",
            v(&["storage", "create", &evil, "dir"]),
            "storage pools",
        ),
        (
            "cluster",
            v(&[
                "query",
                "-X",
                "PUT",
                "/1.0/cluster",
                "--data",
                r#"{"server_name":"x","enabled":true}"#,
            ]),
            "cluster",
        ),
        (
            "undeclared project",
            v(&["project", "create", &evil]),
            "not declared",
        ),
        (
            "project restrictions",
            v(&["project", "set", n, "restricted.containers.nesting=allow"]),
            "restricted",
        ),
        (
            "raw.lxc",
            set("raw.lxc=lxc.apparmor.profile=unconfined"),
            &raw_message,
        ),
        ("raw.idmap", set("raw.idmap=both 0 0"), "raw.idmap"),
        (
            "security.privileged",
            set("security.privileged=true"),
            "security.privileged",
        ),
        (
            "security.nesting",
            set("security.nesting=true"),
            "security.nesting",
        ),
        (
            "security.syscalls.*",
            set("security.syscalls.intercept.mknod=true"),
            "security.syscalls",
        ),
        (
            "linux.kernel_modules",
            set("linux.kernel_modules=nbd"),
            "linux.kernel_modules",
        ),
        (
            "a key beyond the declaration",
            set("limits.memory=64MiB"),
            "limits.memory",
        ),
        (
            "a disk with a host source",
            dev(&["host", "disk", "source=/", "path=/mnt/host"]),
            "type disk",
        ),
        (
            "unix-char",
            dev(&["kmsg", "unix-char", "path=/dev/kmsg"]),
            "unix-char",
        ),
        (
            "unix-block",
            dev(&["blk", "unix-block", "source=/dev/loop0", "path=/dev/loop0"]),
            "unix-block",
        ),
        (
            "unix-hotplug",
            dev(&["hp", "unix-hotplug", "vendorid=1234"]),
            "unix-hotplug",
        ),
        ("usb", dev(&["u", "usb", "vendorid=1234"]), "type usb"),
        (
            "pci",
            dev(&["p", "pci", "address=0000:00:01.0"]),
            "type pci",
        ),
        (
            "a NIC not on the domain's bridge",
            dev(&["eth1", "nic", "nictype=macvlan", "parent=lo"]),
            "type nic",
        ),
        (
            "a NIC on another bridge",
            dev(&["eth1", "nic", "network=incusbr0"]),
            "type nic",
        ),
        (
            "a proxy device",
            dev(&[
                "px",
                "proxy",
                "listen=tcp:127.0.0.1:1",
                "connect=tcp:127.0.0.1:22",
            ]),
            "type proxy",
        ),
        (
            "a declared GPU without anklume-gpud",
            dev(&["gpu", "gpu"]),
            "anklume-gpud",
        ),
        (
            "an undeclared instance",
            v(&[
                "launch",
                "anklume-test-busybox",
                &format!("{n}-evil"),
                "--project",
                n,
            ]),
            "not declared",
        ),
        (
            "an undeclared network",
            v(&["network", "create", &evil]),
            "not declared",
        ),
        (
            "deleting a declared instance",
            v(&[
                "query",
                "-X",
                "DELETE",
                &format!("/1.0/instances/{m}?project={n}"),
            ]),
            "declared by the host",
        ),
        (
            "reading a foreign project",
            v(&["list", "--project", "default"]),
            "not an anklume project",
        ),
        (
            "an image",
            v(&["image", "alias", "create", &evil, "anklume-test-busybox"]),
            "images",
        ),
    ];
    let before = state(&d);
    for (what, args, message) in &suite {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = p.incus(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{what}: allowed: {}",
            common::text(&out)
        );
        assert!(
            err.contains("anklume-proxy: denied"),
            "{what}: not the proxy's denial: {err}"
        );
        assert!(
            err.contains(message),
            "{what}: {err} does not name {message}"
        );
        assert_eq!(state(&d), before, "{what}: Incus's state changed");
    }
    // The refusal is Incus's own error shape, status 403.
    let (status, body) = p.raw("GET", "/1.0/instances?project=default", "");
    assert_eq!(status, 403);
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["error_code"].as_u64()),
        (Some("error"), Some(403))
    );
    // One audit line per denial.
    let denials = p
        .log_text()
        .lines()
        .filter(|l| l.contains(r#""verdict":"deny""#))
        .count();
    assert!(
        denials >= suite.len(),
        "{denials} denials logged for {} attempts",
        suite.len()
    );
}

#[test]
fn reload_reads_the_new_infra_keeps_the_last_valid_one_and_landlock_holds() {
    let (d, p) = domain();
    let other = format!("{}x", d.name);
    let path = format!("/1.0/projects/{other}");
    // Not in the infra: refused before incusd sees it.
    assert_eq!(p.raw("GET", &path, "").0, 403);
    let yaml = busybox_infra(&d.base, &[(&d.name, 1, None), (&other, 2, None)], "");
    d._infra.write(&yaml);
    p.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // Declared now: forwarded (incusd answers 404, the project does not exist).
    while p.raw("GET", &path, "").0 == 403 {
        assert!(
            std::time::Instant::now() < deadline,
            "not reloaded: {}",
            p.log_text()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(p.raw("GET", &path, "").0, 404);
    d._infra.write("domains: [broken\n");
    p.signal("HUP");
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(
        p.raw("GET", &path, "").0,
        404,
        "the last valid infra must stay: {}",
        p.log_text()
    );
    assert!(
        p.log_text().contains("keeping the last valid infra"),
        "{}",
        p.log_text()
    );
    let _ = direct(&["version"]);
}
