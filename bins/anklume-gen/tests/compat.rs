//! Drop-in means drop-in: infras and trees written for the original
//! generator work unchanged (issue 9, items 1–5).

mod common;

use common::{INFRA, Scratch};

const START: &str = "# === MANAGED BY infra.yml ===";
const NOTICE: &str = "# Do not edit this section — it will be overwritten by `make sync`";
const END: &str = "# === END MANAGED ===";

fn infra_with_machines(machines: &str) -> String {
    format!(
        "project_name: demo\nglobal:\n  base_subnet: \"10.100\"\ndomains:\n  lab:\n    subnet_id: 1\n    machines:\n{machines}"
    )
}

#[test]
fn machine_names_that_incus_accepts_are_accepted() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &infra_with_machines("      0-db: {}\n      123-hotel: {}\n      a: {}\n"),
    );
    let run = s.sync_ok(&[]);
    assert_eq!(run.stderr, "");
    for name in ["0-db", "123-hotel", "a"] {
        assert!(
            s.read(&format!("out/host_vars/{name}.yml"))
                .contains(&format!("instance_name: {name}\n")),
            "{name}"
        );
    }
}

#[test]
fn machine_names_that_incus_refuses_are_refused_with_its_reason() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &infra_with_machines("      '007': {}\n      db.local: {}\n      Web_01: {}\n"),
    );
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "Validation errors:\n\
         \x20 - infra.yml:8:7: Machine '007': invalid name (Incus: Name cannot be a number)\n\
         \x20 - infra.yml:9:7: Machine 'db.local': invalid name (Incus: Name can only contain alphanumeric and hyphen characters)\n\
         \x20 - infra.yml:10:7: Machine 'Web_01': invalid name (Incus: Name can only contain alphanumeric and hyphen characters)\n"
    );
    assert!(!s.path("out").exists());
}

#[test]
fn an_empty_ip_is_written_back_empty_and_gives_no_ansible_host() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &infra_with_machines("      web: {ip: ''}\n      db: {ip: ''}\n"),
    );
    s.sync_ok(&[]);
    assert!(
        s.read("out/host_vars/web.yml")
            .contains("instance_domain: lab\ninstance_ephemeral: false\ninstance_ip: ''\n"),
        "{}",
        s.read("out/host_vars/web.yml")
    );
    assert!(
        s.read("out/inventory/lab.yml")
            .contains("      hosts:\n        web: null\n        db: null\n"),
        "{}",
        s.read("out/inventory/lab.yml")
    );
}

/// What the original generator wrote over a file without markers:
/// `---\n` (unless the file starts with one), the block, an empty line,
/// the file.
fn original_layout(yaml: &str, existing: &str) -> String {
    format!("---\n{START}\n{NOTICE}\n{yaml}{END}\n\n{existing}")
}

#[test]
fn a_file_without_markers_gets_the_block_on_top_then_one_empty_line() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let mine = "# my notes\nmy_var: 42\n";
    s.write("out/host_vars/lab-client.yml", mine);
    s.write("out/group_vars/all.yml", "ntp_server: ntp.example\n");
    s.sync_ok(&[]);
    assert_eq!(
        s.read("out/host_vars/lab-client.yml"),
        original_layout(
            "instance_name: lab-client\ninstance_type: lxc\ninstance_description: ''\n\
             instance_domain: lab\ninstance_ephemeral: true\ninstance_os_image: images:debian/13\n",
            mine
        )
    );
    let all = s.read("out/group_vars/all.yml");
    assert!(all.starts_with(&format!("---\n{START}\n{NOTICE}\nproject_name: demo\n")));
    assert!(
        all.ends_with(&format!("{END}\n\nntp_server: ntp.example\n")),
        "{all}"
    );
    // Stable from then on.
    let run = s.sync_ok(&[]);
    assert!(!run.stdout.contains("Written"), "{}", run.stdout);
}

#[test]
fn every_managed_block_of_a_file_is_replaced() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.write(
        "out/host_vars/lab-client.yml",
        &format!(
            "---\n{START}\n{NOTICE}\ninstance_name: old\n{END}\n\nmine: 1\n\
             {START}\n{NOTICE}\ninstance_name: stale-copy\n{END}\nmine_too: 2\n"
        ),
    );
    s.sync_ok(&[]);
    let file = s.read("out/host_vars/lab-client.yml");
    assert!(!file.contains("old") && !file.contains("stale"), "{file}");
    assert_eq!(
        file.matches("instance_name: lab-client\n").count(),
        2,
        "{file}"
    );
    assert!(
        file.contains(&format!("{END}\n\nmine: 1\n{START}\n")),
        "{file}"
    );
    assert!(file.ends_with(&format!("{END}\nmine_too: 2\n")), "{file}");
}

#[test]
fn a_domain_whose_bridge_name_is_too_long_is_an_error() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        "project_name: demo\nglobal:\n  base_subnet: \"10.100\"\ndomains:\n  engineering1:\n    subnet_id: 1\n",
    );
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr.contains(
            "infra.yml:5:3: Domain 'engineering1': name too long: at most 11 characters, since its bridge 'net-engineering1' must fit Linux's 15-character interface names"
        ),
        "{}",
        run.stderr
    );
    assert!(!s.path("out").exists());
}

#[test]
fn unknown_roles_are_warned_about_with_a_suggestion_and_custom_roles_are_known() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &infra_with_machines(
            "      web: {roles: [base_sytem, my_web, lobechat]}\n      db: {roles: [base_system]}\n",
        ),
    );
    s.write("roles_custom/my_web/tasks/main.yml", "---\n[]\n");
    for args in [
        &["validate", "infra.yml"][..],
        &["sync", "infra.yml", "--base-dir", "out"][..],
    ] {
        let run = s.run(args);
        assert_eq!(run.code, 0, "{args:?}: {}", run.stderr);
        assert_eq!(
            run.stderr,
            "WARNING: Machine 'web': role 'base_sytem' is neither shipped with anklume (ansible/roles) nor in roles_custom/; make apply refuses it before changing anything (did you mean 'base_system'?)\n\
             WARNING: Machine 'web': role 'lobechat' is neither shipped with anklume (ansible/roles) nor in roles_custom/; make apply refuses it before changing anything\n",
            "{args:?}"
        );
    }
}
