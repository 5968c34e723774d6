//! The policy table, row by row.

mod common;

use anklume_proxypolicy::{GpuClaim, ListFilter, Rule};
use common::{INFRA, ask, declared};
use serde_json::json;

fn denied(v: &anklume_proxypolicy::Verdict) -> (Rule, String) {
    let d = v.denial().unwrap_or_else(|| panic!("allowed: {v:?}"));
    (d.rule, d.message.clone())
}

#[test]
fn reads_inside_anklume_projects_only() {
    let d = declared(INFRA);
    for ok in [
        "/1.0",
        "/",
        "/1.0/instances?project=pro&recursion=1",
        "/1.0/instances/pro-dev?project=pro",
        "/1.0/instances/orphan/state?project=perso",
        "/1.0/profiles?project=pro",
        "/1.0/images/aliases/debian%2F13",
        "/1.0/networks/net-pro",
        "/1.0/events?project=pro&type=operation",
        "/1.0/operations?project=perso",
    ] {
        assert!(ask(&d, "GET", ok, None).is_allowed(), "{ok}");
    }
    for (bad, rule) in [
        ("/1.0/instances?project=default", Rule::ForeignProject),
        ("/1.0/instances", Rule::ForeignProject),
        ("/1.0/instances/x?project=other", Rule::ForeignProject),
        ("/1.0/projects/default", Rule::ForeignProject),
        ("/1.0/networks/incusbr0", Rule::UndeclaredNetwork),
        ("/1.0/events", Rule::ForeignProject),
        ("/1.0/events?all-projects=true", Rule::AllProjects),
        ("/1.0/certificates", Rule::Certificates),
        ("/1.0/resources", Rule::DefaultDeny),
        (
            "/1.0/instances?project=pro&project=default",
            Rule::ForeignProject,
        ),
        ("/1.0/operations/someone-else", Rule::ForeignOperation),
        ("/1.0/../1.0/instances?project=pro", Rule::BadPath),
    ] {
        assert_eq!(denied(&ask(&d, "GET", bad, None)).0, rule, "{bad}");
    }
    assert!(ask(&d, "GET", "/1.0/operations/own-op/wait", None).is_allowed());
    assert!(ask(&d, "DELETE", "/1.0/operations/own-op", None).is_allowed());
    let lists = [
        ("/1.0/projects", ListFilter::Projects),
        ("/1.0/networks?recursion=1", ListFilter::Networks),
        ("/1.0/instances?all-projects=true", ListFilter::Instances),
    ];
    for (path, filter) in lists {
        assert_eq!(
            ask(&d, "GET", path, None).outcome.unwrap().filter,
            Some(filter),
            "{path}"
        );
    }
}

#[test]
fn the_declared_objects_can_be_created_exactly() {
    let d = declared(INFRA);
    let project = json!({"name": "pro", "config": {"features.images": "false", "features.profiles": "true",
        "features.storage.volumes": "true", "features.networks": "false"}});
    assert!(ask(&d, "POST", "/1.0/projects", Some(project)).is_allowed());
    let net = json!({"name": "net-pro", "type": "bridge", "config": {"ipv4.address": "10.120.3.254/24",
        "ipv4.nat": "false", "ipv4.dhcp": "true", "ipv6.address": "none", "ipv6.nat": "false"}});
    assert!(ask(&d, "POST", "/1.0/networks", Some(net)).is_allowed());
    let profile = json!({"name": "default", "devices": {
        "root": {"type": "disk", "path": "/", "pool": "default"},
        "eth0": {"type": "nic", "name": "eth0", "network": "net-pro"}}});
    assert!(ask(&d, "POST", "/1.0/profiles?project=pro", Some(profile)).is_allowed());
    let instance = json!({"name": "pro-dev", "type": "container",
        "source": {"type": "image", "alias": "debian/13"},
        "config": {"boot.autostart": "true", "security.protection.delete": "true",
                   "user.anklume.managed-keys": "boot.autostart,security.protection.delete"},
        "devices": {"eth0": {"type": "nic", "name": "eth0", "network": "net-pro", "ipv4.address": "10.120.3.10"},
                    "data": {"type": "disk", "source": "/srv/data", "path": "/data"}},
        "profiles": ["default", "big"], "start": true});
    let v = ask(&d, "POST", "/1.0/instances?project=pro", Some(instance));
    assert!(v.is_allowed(), "{v:?}");
    assert_eq!(v.object.as_deref(), Some("pro-dev"));
}

#[test]
fn anything_beyond_the_declaration_is_denied_with_its_rule_and_field() {
    let d = declared(INFRA);
    let patch = |config: serde_json::Value| {
        ask(
            &d,
            "PATCH",
            "/1.0/instances/pro-dev?project=pro",
            Some(json!({"config": config})),
        )
    };
    assert_eq!(
        denied(&patch(
            json!({"raw.lxc": "lxc.apparmor.profile=unconfined"})
        )),
        (
            Rule::Raw,
            "anklume-proxy: denied: raw.lxc is not declared for instance pro-dev".into()
        )
    );
    for (key, rule) in [
        ("security.privileged", Rule::Privileged),
        ("security.nesting", Rule::Nesting),
        ("security.syscalls.intercept.mount", Rule::Syscalls),
        ("linux.kernel_modules", Rule::KernelModules),
        ("limits.memory", Rule::UndeclaredKey),
        ("volatile.idmap.next", Rule::IncusKey),
    ] {
        assert_eq!(denied(&patch(json!({key: "true"}))).0, rule, "{key}");
    }
    assert_eq!(
        denied(&patch(json!({"boot.autostart": "false"}))).0,
        Rule::UndeclaredKey
    );
    let dev = |device: serde_json::Value| {
        ask(
            &d,
            "PATCH",
            "/1.0/instances/pro-dev?project=pro",
            Some(json!({"devices": {"x": device}})),
        )
    };
    for (device, rule) in [
        (
            json!({"type": "disk", "source": "/", "path": "/host"}),
            Rule::HostDisk,
        ),
        (
            json!({"type": "unix-char", "path": "/dev/kmsg"}),
            Rule::UnixDevice,
        ),
        (
            json!({"type": "unix-block", "source": "/dev/sda"}),
            Rule::UnixDevice,
        ),
        (json!({"type": "unix-hotplug"}), Rule::UnixDevice),
        (json!({"type": "usb"}), Rule::Usb),
        (json!({"type": "pci", "address": "0000:01:00.0"}), Rule::Pci),
        (
            json!({"type": "nic", "nictype": "macvlan", "parent": "eth0"}),
            Rule::Nic,
        ),
        (json!({"type": "nic", "network": "net-perso"}), Rule::Nic),
        (
            json!({"type": "proxy", "listen": "tcp:0.0.0.0:80", "connect": "tcp:127.0.0.1:80"}),
            Rule::ProxyDevice,
        ),
        (json!({"type": "gpu"}), Rule::Gpu),
        (json!({"type": "none"}), Rule::UndeclaredDevice),
    ] {
        assert_eq!(denied(&dev(device.clone())).0, rule, "{device}");
    }
    // A declared device changed: its source is the offending field.
    let v = ask(
        &d,
        "PATCH",
        "/1.0/instances/pro-dev?project=pro",
        Some(json!({"devices": {"data": {"type": "disk", "source": "/", "path": "/data"}}})),
    );
    assert_eq!(denied(&v), (Rule::HostDisk,
        "anklume-proxy: denied: device data (type disk) with source=/ is not declared for instance pro-dev".into()));
    let v = ask(
        &d,
        "PATCH",
        "/1.0/instances/pro-dev?project=pro",
        Some(json!({"profiles": ["default", "other"]})),
    );
    assert_eq!(denied(&v).0, Rule::Profiles);
    // Undeclared objects.
    let v = ask(
        &d,
        "POST",
        "/1.0/instances?project=pro",
        Some(json!({"name": "evil", "source": {"type": "image", "alias": "debian/13"}})),
    );
    assert_eq!(denied(&v).0, Rule::UndeclaredInstance);
    let v = ask(
        &d,
        "POST",
        "/1.0/instances?project=pro",
        Some(json!({"name": "pro-dev", "source": {"type": "copy", "source": "x"}})),
    );
    assert_eq!(denied(&v).0, Rule::ImageSource);
    let v = ask(
        &d,
        "POST",
        "/1.0/instances?project=pro",
        Some(
            json!({"name": "pro-dev", "type": "virtual-machine", "source": {"type": "image", "alias": "debian/13"}}),
        ),
    );
    assert_eq!(denied(&v).0, Rule::InstanceType);
    assert_eq!(
        denied(&ask(
            &d,
            "POST",
            "/1.0/projects",
            Some(json!({"name": "evil"}))
        ))
        .0,
        Rule::UndeclaredProject
    );
    assert_eq!(
        denied(&ask(
            &d,
            "POST",
            "/1.0/networks",
            Some(json!({"name": "evil"}))
        ))
        .0,
        Rule::UndeclaredNetwork
    );
    let v = ask(
        &d,
        "PUT",
        "/1.0/projects/pro",
        Some(json!({"config": {"restricted": "false"}})),
    );
    assert_eq!(denied(&v).0, Rule::ProjectRestrictions);
    let v = ask(
        &d,
        "PATCH",
        "/1.0/networks/net-pro",
        Some(json!({"config": {"ipv4.nat": "true"}})),
    );
    assert_eq!(denied(&v).0, Rule::UndeclaredKey);
    let v = ask(
        &d,
        "PUT",
        "/1.0/profiles/default?project=pro",
        Some(json!({"devices": {"root": {"type": "disk", "path": "/", "pool": "other"}}})),
    );
    assert_eq!(denied(&v).0, Rule::UndeclaredDevice);
    // Host-wide objects.
    assert_eq!(
        denied(&ask(&d, "PATCH", "/1.0", Some(json!({"config": {}})))).0,
        Rule::ServerConfig
    );
    assert_eq!(
        denied(&ask(&d, "POST", "/1.0/certificates", None)).0,
        Rule::Certificates
    );
    assert_eq!(
        denied(&ask(&d, "POST", "/1.0/storage-pools", None)).0,
        Rule::StoragePools
    );
    assert_eq!(
        denied(&ask(&d, "PUT", "/1.0/cluster", None)).0,
        Rule::Cluster
    );
    assert_eq!(
        denied(&ask(&d, "POST", "/1.0/images", None)).0,
        Rule::Images
    );
    assert_eq!(
        denied(&ask(
            &d,
            "POST",
            "/1.0/instances?project=default",
            Some(json!({"name": "x"}))
        ))
        .0,
        Rule::ForeignProject
    );
}

#[test]
fn instance_operations_on_declared_instances_and_deletion_of_orphans() {
    let d = declared(INFRA);
    for (method, path) in [
        ("PUT", "/1.0/instances/pro-dev/state?project=pro"),
        ("POST", "/1.0/instances/pro-dev/exec?project=pro"),
        ("POST", "/1.0/instances/pro-dev/console?project=pro"),
        (
            "POST",
            "/1.0/instances/pro-dev/files?project=pro&path=/etc/x",
        ),
        ("POST", "/1.0/instances/pro-dev/snapshots?project=pro"),
        ("DELETE", "/1.0/instances/pro-dev/snapshots/s1?project=pro"),
        ("DELETE", "/1.0/instances/orphan?project=pro"),
        ("DELETE", "/1.0/profiles/old?project=pro"),
    ] {
        let body = Some(json!({"action": "start"}));
        assert!(ask(&d, method, path, body).is_allowed(), "{method} {path}");
    }
    let v = ask(
        &d,
        "PUT",
        "/1.0/instances/pro-dev?project=pro",
        Some(json!({"restore": "s1"})),
    );
    assert!(v.is_allowed());
    let v = ask(
        &d,
        "PUT",
        "/1.0/instances/orphan/state?project=pro",
        Some(json!({"action": "stop", "force": true})),
    );
    assert_eq!(v.rule, Rule::Orphan);
    for (method, path, rule) in [
        (
            "DELETE",
            "/1.0/instances/pro-dev?project=pro",
            Rule::DeleteDeclared,
        ),
        ("DELETE", "/1.0/projects/pro", Rule::DeleteDeclared),
        ("DELETE", "/1.0/networks/net-pro", Rule::DeleteDeclared),
        (
            "DELETE",
            "/1.0/profiles/big?project=pro",
            Rule::DeleteDeclared,
        ),
        ("POST", "/1.0/instances/pro-dev?project=pro", Rule::Rename),
        (
            "POST",
            "/1.0/instances/orphan/exec?project=pro",
            Rule::UndeclaredInstance,
        ),
        (
            "PUT",
            "/1.0/instances/orphan/state?project=pro",
            Rule::UndeclaredInstance,
        ),
        (
            "PUT",
            "/1.0/instances/pro-dev/metadata?project=pro",
            Rule::DefaultDeny,
        ),
        (
            "POST",
            "/1.0/instances/perso-web/exec?project=pro",
            Rule::UndeclaredInstance,
        ),
    ] {
        let body = Some(json!({"action": "start"}));
        assert_eq!(
            denied(&ask(&d, method, path, body)).0,
            rule,
            "{method} {path}"
        );
    }
}

#[test]
fn incus_keys_may_only_be_sent_back_unchanged_and_gpus_need_a_claim() {
    let d = declared(INFRA);
    let current = json!({"config": {"volatile.idmap.next": "[A]", "image.os": "Debian"}});
    let body = json!({"config": {"volatile.idmap.next": "[A]", "image.os": "Debian", "boot.autostart": "true"}});
    let req = anklume_proxypolicy::Request::new(
        "PUT",
        "/1.0/instances/pro-dev",
        "project=pro",
        Some(&body),
    )
    .with_current(Some(&current));
    assert!(anklume_proxypolicy::decide(&d, &req, &|_| false).is_allowed());
    let body = json!({"config": {"volatile.idmap.next": "[B]"}});
    let req = anklume_proxypolicy::Request::new(
        "PUT",
        "/1.0/instances/pro-dev",
        "project=pro",
        Some(&body),
    )
    .with_current(Some(&current));
    assert_eq!(
        anklume_proxypolicy::decide(&d, &req, &|_| false).rule,
        Rule::IncusKey
    );

    let v = ask(
        &d,
        "PATCH",
        "/1.0/instances/pro-gpu?project=pro",
        Some(json!({"devices": {"gpu": {"type": "gpu"}}})),
    );
    assert_eq!(
        v.outcome.unwrap().gpu_claims,
        [GpuClaim {
            instance: "pro-gpu".into(),
            gpu: String::new()
        }]
    );
}

#[test]
fn the_gpu_device_gpud_pinned_may_be_sent_back_and_is_claimed_again() {
    use anklume_proxypolicy::{Request, decide};
    let d = declared(INFRA);
    let pinned = json!({"type": "gpu", "gputype": "physical", "pci": "0000:41:00.0"});
    let current = json!({"devices": {"gpu": pinned.clone()}});
    // `incus config edit` PUTs the whole instance, gpud's device included.
    let body = json!({"config": {}, "devices": {"gpu": pinned.clone()}});
    let req = Request::new("PUT", "/1.0/instances/pro-gpu", "project=pro", Some(&body))
        .with_current(Some(&current));
    let v = decide(&d, &req, &|_| false);
    assert_eq!(
        v.outcome.unwrap().gpu_claims,
        [GpuClaim {
            instance: "pro-gpu".into(),
            gpu: String::new()
        }]
    );
    // Pinned keys the client chose itself stay refused.
    let body = json!({"devices": {"gpu": {"type": "gpu", "pci": "0000:42:00.0"}}});
    let req = Request::new("PUT", "/1.0/instances/pro-gpu", "project=pro", Some(&body))
        .with_current(Some(&current));
    assert_eq!(decide(&d, &req, &|_| false).rule, Rule::Gpu);
    // On a machine without a declared GPU, even an existing one is refused.
    let body = json!({"devices": {"gpu": pinned}});
    let req = Request::new("PUT", "/1.0/instances/pro-dev", "project=pro", Some(&body))
        .with_current(Some(&current));
    assert!(!decide(&d, &req, &|_| false).is_allowed());
}

#[test]
fn sent_back_unchanged_is_no_change_and_local_images_go_by_fingerprint() {
    use anklume_proxypolicy::{Request, decide};
    let d = declared(INFRA);
    // A whole-project PUT carries the key Incus added itself.
    let current =
        json!({"config": {"features.storage.buckets": "true", "features.images": "false"}});
    let body = json!({"config": {"features.storage.buckets": "true", "features.images": "false"}});
    let req =
        Request::new("PUT", "/1.0/projects/pro", "", Some(&body)).with_current(Some(&current));
    assert!(decide(&d, &req, &|_| false).is_allowed());
    // The derived restrictions (issue 16's second wall) may be set exactly;
    // any other value of a `restricted*` key is refused.
    let body = json!({"config": {"features.storage.buckets": "true", "restricted": "true",
        "restricted.containers.privilege": "unprivileged"}});
    let req =
        Request::new("PUT", "/1.0/projects/pro", "", Some(&body)).with_current(Some(&current));
    assert!(decide(&d, &req, &|_| false).is_allowed());
    for (key, value) in [
        ("restricted", "false"),
        ("restricted.containers.privilege", "allow"),
        ("restricted.devices.unix-char", "allow"),
    ] {
        let body = json!({"config": {key: value}});
        let req =
            Request::new("PUT", "/1.0/projects/pro", "", Some(&body)).with_current(Some(&current));
        assert_eq!(
            decide(&d, &req, &|_| false).rule,
            Rule::ProjectRestrictions,
            "{key}={value}"
        );
    }
    // `incus launch ALIAS` sends the local image's fingerprint.
    let body = json!({"name": "perso-web", "source": {"type": "image", "fingerprint": "abc"}});
    let req = Request::new("POST", "/1.0/instances", "project=perso", Some(&body));
    assert_eq!(decide(&d, &req, &|_| false).rule, Rule::ImageSource);
    let req = req.with_image_fingerprint(Some("abc"));
    assert!(decide(&d, &req, &|_| false).is_allowed());
    let req = req.with_image_fingerprint(Some("other"));
    assert_eq!(decide(&d, &req, &|_| false).rule, Rule::ImageSource);
    let body = json!({"name": "perso-web", "source": {"type": "image", "alias": "debian/13", "server": "https://evil"}});
    let req = Request::new("POST", "/1.0/instances", "project=perso", Some(&body));
    assert_eq!(decide(&d, &req, &|_| false).rule, Rule::ImageSource);
}

#[test]
fn events_are_the_projects_own_operations_and_lifecycle() {
    let d = declared(INFRA);
    let v = ask(&d, "GET", "/1.0/events?project=pro", None);
    assert_eq!(
        v.outcome.unwrap().query.as_deref(),
        Some("project=pro&type=operation,lifecycle")
    );
    let v = ask(&d, "GET", "/1.0/events?project=pro&type=operation", None);
    assert_eq!(
        v.outcome.unwrap().query.as_deref(),
        Some("project=pro&type=operation")
    );
    assert_eq!(
        denied(&ask(
            &d,
            "GET",
            "/1.0/events?project=pro&type=logging",
            None
        ))
        .0,
        Rule::DefaultDeny
    );
    assert_eq!(
        denied(&ask(
            &d,
            "GET",
            "/1.0/events?project=pro&type=operation,logging",
            None
        ))
        .0,
        Rule::DefaultDeny
    );
}

#[test]
fn the_forwarded_gpu_device_is_the_one_gpud_pinned() {
    use anklume_proxypolicy::pin_gpu_devices;
    let pinned = json!({"type": "gpu", "gputype": "physical", "pci": "0000:41:00.0"});
    let current = json!({"devices": {"gpu": pinned.clone(), "eth0": {"type": "nic"}}});
    let mut body = json!({"config": {}, "devices": {"gpu": {"type": "gpu"}, "eth0": {"type": "nic", "network": "x"}}});
    assert!(pin_gpu_devices(&mut body, &current));
    assert_eq!(body["devices"]["gpu"], pinned);
    assert_eq!(
        body["devices"]["eth0"],
        json!({"type": "nic", "network": "x"}),
        "other devices as sent"
    );
    assert!(!pin_gpu_devices(&mut body, &current), "already pinned");
    // No pinned device (gpud without Incus): the request stays as sent.
    let mut body = json!({"devices": {"gpu": {"type": "gpu"}}});
    assert!(!pin_gpu_devices(&mut body, &json!({"devices": {}})));
    assert_eq!(body, json!({"devices": {"gpu": {"type": "gpu"}}}));
}
