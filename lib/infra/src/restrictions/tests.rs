use super::*;
use crate::{NestingContext, load_str};

fn infra(domains: &str) -> Infra {
    let text = format!("project_name: p\nglobal: {{}}\ndomains:\n{domains}");
    let (infra, report) = load_str(&text, "infra.yml", &NestingContext::default());
    infra.unwrap_or_else(|| panic!("{:?}", report.errors))
}

fn derived(domains: &str) -> ProjectRestrictions {
    let infra = infra(domains);
    derive(&infra, &infra.domains[0])
}

#[test]
fn a_plain_domain_gets_every_restriction_closed() {
    let r = derived("  pro:\n    subnet_id: 1\n    machines:\n      pro-dev: {ip: 10.100.1.10}\n");
    let expected = [
        ("restricted", "true"),
        ("restricted.backups", "block"),
        ("restricted.cluster.target", "block"),
        ("restricted.containers.interception", "block"),
        ("restricted.containers.lowlevel", "block"),
        ("restricted.containers.nesting", "block"),
        ("restricted.containers.privilege", "unprivileged"),
        ("restricted.devices.disk", "managed"),
        ("restricted.devices.gpu", "block"),
        ("restricted.devices.infiniband", "block"),
        ("restricted.devices.nic", "managed"),
        ("restricted.devices.pci", "block"),
        ("restricted.devices.proxy", "block"),
        ("restricted.devices.unix-block", "block"),
        ("restricted.devices.unix-char", "block"),
        ("restricted.devices.unix-hotplug", "block"),
        ("restricted.devices.usb", "block"),
        ("restricted.networks.access", "net-pro"),
        ("restricted.snapshots", "allow"),
        ("restricted.virtual-machines.lowlevel", "block"),
    ];
    let got: Vec<(&str, &str)> = r.config.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(got, expected);
    assert!(r.findings.is_empty());
    assert!(r.config.iter().all(|(k, _)| is_restriction_key(k)));
}

#[test]
fn each_declaration_opens_only_its_key() {
    let r = derived(
        "  lab:\n    subnet_id: 2\n    machines:\n      lab-a:\n        config:\n          \
         security.nesting: true\n          security.syscalls.intercept.mknod: 'true'\n          \
         raw.lxc: lxc.apparmor.profile=unconfined\n        devices:\n          data: {type: disk, \
         source: /srv/data, path: /data}\n          vol: {type: disk, pool: default, source: v, \
         path: /v}\n          eth1: {type: nic, network: net-shared}\n          tty: {type: unix-char, \
         path: /dev/ttyS0}\n      lab-vm:\n        type: vm\n        config:\n          raw.qemu: \
         -S\n",
    );
    for (key, value) in [
        ("restricted.containers.nesting", "allow"),
        ("restricted.containers.interception", "allow"),
        ("restricted.containers.lowlevel", "allow"),
        ("restricted.virtual-machines.lowlevel", "allow"),
        ("restricted.devices.disk", "allow"),
        ("restricted.devices.disk.paths", "/srv/data"),
        ("restricted.devices.unix-char", "allow"),
        ("restricted.devices.nic", "managed"),
        ("restricted.networks.access", "net-lab,net-shared"),
        ("restricted.containers.privilege", "unprivileged"),
        ("restricted.devices.unix-block", "block"),
        ("restricted.devices.gpu", "block"),
    ] {
        assert_eq!(r.get(key), Some(value), "{key}");
    }
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn gpu_is_allowed_by_gpu_true_or_a_gpu_profile() {
    let by_flag = derived("  ai:\n    subnet_id: 3\n    machines:\n      ai-1: {gpu: true}\n");
    assert_eq!(by_flag.get("restricted.devices.gpu"), Some("allow"));
    let by_profile = derived(
        "  ai:\n    subnet_id: 3\n    profiles:\n      g:\n        devices:\n          gpu: {type: gpu}\n",
    );
    assert_eq!(by_profile.get("restricted.devices.gpu"), Some("allow"));
    let none = derived("  ai:\n    subnet_id: 3\n    machines:\n      ai-1: {gpu: false}\n");
    assert_eq!(none.get("restricted.devices.gpu"), Some("block"));
}

#[test]
fn a_profile_is_checked_as_container_and_vm_both() {
    let r = derived(
        "  d:\n    subnet_id: 4\n    profiles:\n      p:\n        config:\n          raw.apparmor: x\n          \
         security.privileged: 'true'\n",
    );
    assert_eq!(r.get("restricted.containers.lowlevel"), Some("allow"));
    assert_eq!(r.get("restricted.virtual-machines.lowlevel"), Some("allow"));
    assert_eq!(r.get("restricted.containers.privilege"), Some("allow"));
    // security.privileged on a VM is not a container rule: nothing opens.
    let vm = derived(
        "  d:\n    subnet_id: 4\n    machines:\n      v:\n        type: vm\n        config:\n          \
         security.privileged: true\n          raw.lxc: x\n",
    );
    assert_eq!(
        vm.get("restricted.containers.privilege"),
        Some("unprivileged")
    );
    assert_eq!(vm.get("restricted.containers.lowlevel"), Some("block"));
}

#[test]
fn raw_idmap_opens_host_ids_not_lowlevel() {
    let r = derived(
        "  d:\n    subnet_id: 4\n    machines:\n      c:\n        config:\n          raw.idmap: \"both 1000 1000\\nuid 2000-2009 0-9\"\n",
    );
    assert_eq!(r.get("restricted.containers.lowlevel"), Some("block"));
    assert_eq!(r.get("restricted.idmap.uid"), Some("1000,2000-2009"));
    assert_eq!(r.get("restricted.idmap.gid"), Some("1000"));
    // With low-level access for another reason, Incus checks no host IDs.
    let r = derived(
        "  d:\n    subnet_id: 4\n    machines:\n      c:\n        config:\n          raw.idmap: both 1000 1000\n          raw.lxc: x\n",
    );
    assert_eq!(r.get("restricted.idmap.uid"), None);
}

#[test]
fn what_no_key_expresses_is_reported_not_opened() {
    let r = derived(
        "  d:\n    subnet_id: 4\n    machines:\n      c:\n        devices:\n          a: {type: disk, \
         source: 'ceph:pool/vol', path: /a}\n          b: {type: disk, source: /srv/b, path: /b, shift: \
         true}\n          e: {type: nic, nictype: bridged, parent: br0}\n        config:\n          raw.idmap: nonsense\n",
    );
    assert_eq!(r.get("restricted.devices.disk"), Some("managed"));
    assert_eq!(r.get("restricted.devices.disk.paths"), None);
    assert_eq!(r.get("restricted.devices.nic"), Some("allow"));
    assert_eq!(r.get("restricted.networks.access"), Some("net-d,br0"));
    let kinds: Vec<FindingKind> = r.findings.iter().map(|f| f.kind).collect();
    assert_eq!(
        kinds,
        [
            FindingKind::Refused,
            FindingKind::Refused,
            FindingKind::Wider,
            FindingKind::Refused
        ]
    );
    assert!(
        r.findings[0].to_string().starts_with(
            "Domain 'd', machine 'c': not allowed by the project's restrictions: disk 'a'"
        ),
        "{}",
        r.findings[0]
    );
}

#[test]
fn restriction_keys_are_recognised() {
    assert!(is_restriction_key("restricted"));
    assert!(is_restriction_key("restricted.devices.disk.paths"));
    assert!(!is_restriction_key("restrictedx"));
    assert!(!is_restriction_key("features.profiles"));
    assert!(!is_restriction_key("limits.cpu"));
    assert!(KEYS.iter().all(|k| is_restriction_key(k)));
}

#[test]
fn findings_are_warnings_of_the_load() {
    let text = "project_name: p\nglobal: {}\ndomains:\n  d:\n    subnet_id: 1\n    machines:\n      \
                c:\n        devices:\n          a: {type: disk, source: 'ceph:p/v', path: /a}\n";
    let (infra, report) = load_str(text, "infra.yml", &NestingContext::default());
    assert!(infra.is_some());
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].message.contains("disk 'a'"));
}

#[test]
fn the_admin_machine_opens_proxy_devices_for_anklume_proxy_attach() {
    let get = |domains: &str| {
        derived(domains)
            .get("restricted.devices.proxy")
            .map(str::to_owned)
    };
    assert_eq!(
        get("  admin:\n    subnet_id: 0\n    machines:\n      admin-ctl: {roles: [admin_bootstrap]}\n")
            .as_deref(),
        Some("allow")
    );
    assert_eq!(
        get("  pro:\n    subnet_id: 1\n    machines:\n      pro-dev: {roles: [base_system]}\n")
            .as_deref(),
        Some("block")
    );
}
