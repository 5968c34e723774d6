//! `anklume-gen sync`: the files written, their exact content, managed
//! sections in existing files, idempotence and atomicity.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{INFRA, Scratch};

const START: &str = "# === MANAGED BY infra.yml ===";
const NOTICE: &str = "# Do not edit this section — it will be overwritten by `make sync`";
const END: &str = "# === END MANAGED ===";

fn managed(yaml: &str) -> String {
    format!("---\n{START}\n{NOTICE}\n{yaml}{END}\n\n# Your custom variables below:\n")
}

#[test]
fn first_sync_writes_every_file_in_contract_order() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.sync_ok(&[]);
    assert_eq!(
        run.stdout,
        "Generating files for 2 domain(s)...\n\
         \x20 Written: out/group_vars/all.yml\n\
         \x20 Written: out/inventory/admin.yml\n\
         \x20 Written: out/group_vars/admin.yml\n\
         \x20 Written: out/host_vars/admin-ansible.yml\n\
         \x20 Written: out/inventory/lab.yml\n\
         \x20 Written: out/group_vars/lab.yml\n\
         \x20 Written: out/host_vars/lab-web.yml\n\
         \x20 Written: out/host_vars/lab-client.yml\n\
         \nDone.\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn default_base_dir_prints_paths_without_prefix() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.run(&["sync"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("\n  Written: group_vars/all.yml\n"),
        "{}",
        run.stdout
    );
    assert!(s.path("host_vars/lab-web.yml").is_file());
}

#[test]
fn all_yml_has_global_keys_sorted_images_and_policies() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/group_vars/all.yml"),
        managed(
            "project_name: demo\nbase_subnet: '10.100'\ndefault_os_image: images:debian/13\n\
             psot_default_connection: community.general.incus\npsot_default_user: root\n\
             incus_all_images:\n  - images:alpine/3.20\n  - images:debian/13\n\
             network_policies:\n  - from: admin-ansible\n    to: lab\n    ports:\n      - 22\n      - 80\n\
             \x20   protocol: tcp\n    bidirectional: true\n    description: admin reaches the lab\n\
             anklume_domains:\n  - admin\n  - lab\n"
        )
    );
}

#[test]
fn inventory_lists_hosts_with_ip_or_null() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/inventory/lab.yml"),
        managed(
            "all:\n  children:\n    lab:\n      hosts:\n        lab-web:\n          ansible_host: 10.100.1.10\n\
             \x20       lab-client: null\n"
        )
    );
}

#[test]
fn domain_without_machines_has_null_hosts() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        "project_name: p\nglobal: {}\ndomains:\n  empty:\n    subnet_id: 4\n",
    );
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/inventory/empty.yml"),
        managed("all:\n  children:\n    empty:\n      hosts: null\n")
    );
    // project_name present, base_subnet always written, nothing else.
    assert_eq!(
        s.read("out/group_vars/all.yml"),
        managed("project_name: p\nbase_subnet: '10.100'\nanklume_domains:\n  - empty\n")
    );
}

#[test]
fn group_vars_describe_project_network_and_profiles() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/group_vars/lab.yml"),
        managed(&format!(
            "domain_name: lab\ndomain_description: Lab\ndomain_ephemeral: true\nincus_project: lab\n\
             incus_network:\n  name: net-lab\n  subnet: 10.100.1.0/24\n  gateway: 10.100.1.254\n\
             subnet_id: 1\nincus_profiles:\n  gpu-prof:\n    devices:\n      gpu:\n        type: gpu\n{}",
            restrictions("lab", "allow")
        ))
    );
    assert_eq!(
        s.read("out/group_vars/admin.yml"),
        managed(&format!(
            "domain_name: admin\ndomain_description: Administration\ndomain_ephemeral: false\n\
             incus_project: admin\nincus_network:\n  name: net-admin\n  subnet: 10.100.0.0/24\n\
             \x20 gateway: 10.100.0.254\nsubnet_id: 0\n{}",
            restrictions("admin", "block")
        ))
    );
}

/// The restrictions of a domain that declares nothing special but maybe
/// a GPU (the derivation is tested in anklume-infra).
fn restrictions(domain: &str, gpu: &str) -> String {
    format!(
        "incus_project_restrictions:\n  restricted: 'true'\n  restricted.backups: block\n  \
         restricted.cluster.target: block\n  restricted.containers.interception: block\n  \
         restricted.containers.lowlevel: block\n  restricted.containers.nesting: block\n  \
         restricted.containers.privilege: unprivileged\n  restricted.devices.disk: managed\n  \
         restricted.devices.gpu: {gpu}\n  restricted.devices.infiniband: block\n  \
         restricted.devices.nic: managed\n  restricted.devices.pci: block\n  \
         restricted.devices.proxy: block\n  restricted.devices.unix-block: block\n  \
         restricted.devices.unix-char: block\n  restricted.devices.unix-hotplug: block\n  \
         restricted.devices.usb: block\n  restricted.networks.access: net-{domain}\n  \
         restricted.snapshots: allow\n  restricted.virtual-machines.lowlevel: block\n"
    )
}

#[test]
fn host_vars_carry_every_machine_key_in_order() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/host_vars/lab-web.yml"),
        managed(
            "instance_name: lab-web\ninstance_type: vm\ninstance_description: ''\ninstance_domain: lab\n\
             instance_ephemeral: false\ninstance_os_image: images:alpine/3.20\ninstance_ip: 10.100.1.10\n\
             instance_gpu: false\ninstance_profiles:\n  - default\n  - gpu-prof\n\
             instance_config:\n  limits.cpu: '2'\n  boot.autostart: true\n\
             instance_devices:\n  data:\n    type: disk\n    path: /srv\n    source: lab-data\n    pool: default\n\
             instance_storage_volumes:\n  lab-data:\n    size: 1GiB\n"
        )
    );
    // Defaults: lxc, ephemeral inherited from the domain, global image.
    assert_eq!(
        s.read("out/host_vars/lab-client.yml"),
        managed(
            "instance_name: lab-client\ninstance_type: lxc\ninstance_description: ''\ninstance_domain: lab\n\
             instance_ephemeral: true\ninstance_os_image: images:debian/13\n"
        )
    );
    assert!(
        s.read("out/host_vars/admin-ansible.yml").contains(
            "instance_roles:\n  - base_system\n  - admin_bootstrap\n# === END MANAGED ==="
        )
    );
}

#[test]
fn second_sync_touches_no_file() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    let before = s.tree("out");
    let mtimes: Vec<_> = before
        .keys()
        .map(|f| {
            std::fs::metadata(s.path(&format!("out/{f}")))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let run = s.sync_ok(&[]);
    assert!(!run.stdout.contains("Written"), "{}", run.stdout);
    assert_eq!(
        run.stdout.matches("  Unchanged: out/").count(),
        8,
        "{}",
        run.stdout
    );
    assert_eq!(s.tree("out"), before);
    let after: Vec<_> = before
        .keys()
        .map(|f| {
            std::fs::metadata(s.path(&format!("out/{f}")))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    assert_eq!(mtimes, after);
}

#[test]
fn a_change_rewrites_only_the_affected_file() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write(
        "infra.yml",
        &INFRA.replace("description: Lab\n", "description: Lab 2\n"),
    );
    let run = s.sync_ok(&[]);
    assert!(run.stdout.contains("  Written: out/group_vars/lab.yml\n"));
    assert_eq!(run.stdout.matches("Written").count(), 1, "{}", run.stdout);
}

#[test]
fn user_content_around_the_block_survives_resyncs() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    let file = "out/host_vars/lab-client.yml";
    let original = s.read(file);
    let edited = format!("# my header\n{original}my_var: 1\nother:\n  - x\n");
    s.write(file, &edited);
    s.write(
        "infra.yml",
        &INFRA.replace("lab-client: {}", "lab-client: {description: client}"),
    );
    s.sync_ok(&[]);
    let synced = s.read(file);
    assert!(synced.starts_with("# my header\n---\n"), "{synced}");
    assert!(synced.ends_with("# Your custom variables below:\nmy_var: 1\nother:\n  - x\n"));
    assert!(synced.contains("instance_description: client\n"));
    assert_eq!(synced.matches(START).count(), 1);
}

#[test]
fn existing_file_without_markers_gets_the_block_after_its_document_start() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.write("out/host_vars/lab-client.yml", "---\nmine: keep\n");
    s.write("out/group_vars/lab.yml", "mine: keep\n");
    s.sync_ok(&[]);
    let host = s.read("out/host_vars/lab-client.yml");
    assert!(
        host.starts_with(&format!(
            "---\n{START}\n{NOTICE}\ninstance_name: lab-client\n"
        )),
        "{host}"
    );
    assert!(host.ends_with(&format!("{END}\n\nmine: keep\n")), "{host}");
    let group = s.read("out/group_vars/lab.yml");
    assert!(group.starts_with(&format!("---\n{START}\n")), "{group}");
    assert!(
        group.ends_with(&format!("{END}\n\nmine: keep\n")),
        "{group}"
    );
    // And the next sync leaves them alone.
    let run = s.sync_ok(&[]);
    assert!(!run.stdout.contains("Written"), "{}", run.stdout);
}

#[test]
fn values_with_backslashes_and_dollars_survive_every_resync() {
    let s = Scratch::new();
    let infra = INFRA.replace(
        "lab-client: {}",
        "lab-client:\n        description: 'C:\\new\\$1 \\1 ${x} \\g<0>'",
    );
    s.write("infra.yml", &infra);
    s.sync_ok(&[]);
    s.sync_ok(&[]);
    s.write("infra.yml", &infra.replace("${x}", "${y}"));
    s.sync_ok(&[]);
    assert!(
        s.read("out/host_vars/lab-client.yml")
            .contains("instance_description: C:\\new\\$1 \\1 ${y} \\g<0>\n")
    );
}

#[test]
fn dry_run_writes_nothing_and_says_what_would_change() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.sync_ok(&["--dry-run"]);
    assert!(
        run.stdout
            .starts_with("[DRY-RUN] Generating files for 2 domain(s)...\n")
    );
    assert!(
        run.stdout
            .contains("  [DRY-RUN] Would write: out/group_vars/all.yml\n")
    );
    assert_eq!(run.stdout.matches("[DRY-RUN] Would write:").count(), 8);
    assert!(!run.stdout.contains("Done."));
    assert!(!s.path("out").exists());

    s.sync_ok(&[]);
    s.write(
        "infra.yml",
        &INFRA.replace("description: Lab\n", "description: Lab 2\n"),
    );
    let before = s.tree("out");
    let run = s.sync_ok(&["--dry-run"]);
    assert!(
        run.stdout
            .contains("  [DRY-RUN] Would write: out/group_vars/lab.yml\n")
    );
    assert!(
        run.stdout
            .contains("  [DRY-RUN] Unchanged: out/group_vars/all.yml\n")
    );
    assert_eq!(s.tree("out"), before);
}

#[test]
fn a_broken_marker_stops_the_sync_before_anything_is_written() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write(
        "out/host_vars/lab-web.yml",
        &format!("---\n{START}\nhalf: edited\n"),
    );
    s.write(
        "infra.yml",
        &INFRA.replace("description: Lab\n", "description: Lab 2\n"),
    );
    let before = s.tree("out");
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(&format!(
            "ERROR: out/host_vars/lab-web.yml: has the line '{START}' but no '{END}' after it"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(s.tree("out"), before, "no file may change");
}

#[test]
fn an_unreadable_target_stops_the_sync_before_anything_is_written() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    std::fs::create_dir_all(s.path("out/host_vars/lab-web.yml")).unwrap();
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains("ERROR: out/host_vars/lab-web.yml: "),
        "{}",
        run.stderr
    );
    assert!(!s.path("out/group_vars/all.yml").exists());
}

#[test]
fn rewritten_files_keep_their_permissions_and_no_temporary_file_remains() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    let file = s.path("out/group_vars/lab.yml");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o644
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.write(
        "infra.yml",
        &INFRA.replace("description: Lab\n", "description: Lab 2\n"),
    );
    s.sync_ok(&[]);
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let leftovers: Vec<_> = s
        .tree("out")
        .into_keys()
        .filter(|f| f.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn no_domains_means_nothing_to_generate() {
    for domains in ["domains:\n", "domains: {}\n", "domains: null\n"] {
        let s = Scratch::new();
        s.write(
            "infra.yml",
            &format!("project_name: p\nglobal: {{}}\n{domains}"),
        );
        let run = s.sync_ok(&[]);
        assert_eq!(run.stdout, "No domains defined. Nothing to generate.\n");
        assert!(!s.path("out").exists());
    }
}

#[test]
fn invalid_infra_writes_nothing() {
    let s = Scratch::new();
    s.write("infra.yml", &INFRA.replace("subnet_id: 1", "subnet_id: 0"));
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "Validation errors:\n  - infra.yml:18:16: Domain 'lab': subnet_id 0 already used by 'admin'\n\
         \x20 - infra.yml:27:13: Machine 'lab-web': IP 10.100.1.10 not in subnet 10.100.0.0/24\n"
    );
    assert_eq!(run.stdout, "");
    assert!(!s.path("out").exists());
}

#[test]
fn firewall_vm_mode_adds_sys_firewall_and_says_so() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &INFRA.replace(
            "default_user: root\n",
            "default_user: root\n  firewall_mode: vm\n",
        ),
    );
    let run = s.sync_ok(&[]);
    assert_eq!(
        run.stderr,
        "INFO: firewall_mode is 'vm' — auto-created sys-firewall in admin domain (ip: 10.100.0.253)\n"
    );
    assert!(
        run.stdout
            .contains("  Written: out/host_vars/sys-firewall.yml\n")
    );
    assert_eq!(
        s.read("out/host_vars/sys-firewall.yml"),
        managed(
            "instance_name: sys-firewall\ninstance_type: vm\n\
             instance_description: Centralized firewall VM (auto-created by generator)\n\
             instance_domain: admin\ninstance_ephemeral: false\ninstance_os_image: images:debian/13\n\
             instance_ip: 10.100.0.253\ninstance_config:\n  limits.cpu: '2'\n  limits.memory: 2GiB\n\
             instance_roles:\n  - base_system\n  - firewall_router\n"
        )
    );
    assert!(
        s.read("out/inventory/admin.yml")
            .contains("        sys-firewall:\n          ansible_host: 10.100.0.253\n")
    );
}

#[test]
fn privileged_lxc_follows_the_nesting_context() {
    let s = Scratch::new();
    let infra = INFRA
        .replace(
            "limits.cpu: \"2\"",
            "limits.cpu: \"2\"\n          security.privileged: \"true\"",
        )
        .replace("type: vm\n", "type: lxc\n");
    s.write("infra.yml", &infra);
    s.write("context/vm_nested", "false\n");
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains(
        "Machine 'lab-web': security.privileged=true on LXC is forbidden when vm_nested=false (no VM in parent chain). Use a VM or enable --YOLO to bypass."
    ), "{}", run.stderr);
    s.write("context/yolo", "true\n");
    let run = s.sync_ok(&[]);
    assert!(run.stderr.contains(
        "WARNING: infra.yml:34:11: YOLO: Machine 'lab-web' has security.privileged=true on LXC without VM isolation. This is unsafe for production."
    ), "{}", run.stderr);
    s.write("context/vm_nested", "true\n");
    std::fs::remove_file(s.path("context/yolo")).unwrap();
    let run = s.sync_ok(&[]);
    assert_eq!(run.stderr, "");
}
