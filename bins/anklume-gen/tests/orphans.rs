//! Orphan files: reported sorted per directory, protected unless
//! ephemeral, deleted only with --clean-orphans.

mod common;

use common::{INFRA, Scratch};

/// INFRA without the `lab` domain (ephemeral, with one non-ephemeral
/// machine `lab-web` and an ephemeral `lab-client`).
fn without_lab() -> String {
    let start = INFRA.find("  lab:\n").unwrap();
    let end = INFRA.find("network_policies:").unwrap();
    INFRA[..start].to_owned() + &INFRA[end..].replace("to: lab\n", "to: admin\n")
}

#[test]
fn removed_domain_leaves_sorted_orphans_with_protection() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write("infra.yml", &without_lab());
    let run = s.sync_ok(&[]);
    assert!(
        run.stdout.ends_with(
            "\nOrphan files (4):\n\
             \x20 ORPHAN: out/inventory/lab.yml\n\
             \x20 ORPHAN: out/group_vars/lab.yml\n\
             \x20 ORPHAN: out/host_vars/lab-client.yml\n\
             \x20 PROTECTED (ephemeral=false): out/host_vars/lab-web.yml — manual removal required\n\
             \nDone.\n"
        ),
        "{}",
        run.stdout
    );
    // Reporting deletes nothing.
    assert!(s.path("out/host_vars/lab-client.yml").exists());
}

#[test]
fn clean_orphans_deletes_unprotected_and_skips_protected() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write("infra.yml", &without_lab());
    let run = s.sync_ok(&["--clean-orphans"]);
    assert!(
        run.stdout.ends_with(
            "  Deleted: out/inventory/lab.yml\n\
             \x20 Deleted: out/group_vars/lab.yml\n\
             \x20 Deleted: out/host_vars/lab-client.yml\n\
             \x20 Skipped (protected): out/host_vars/lab-web.yml\n\
             \nDone.\n"
        ),
        "{}",
        run.stdout
    );
    assert!(!s.path("out/group_vars/lab.yml").exists());
    assert!(!s.path("out/host_vars/lab-client.yml").exists());
    assert!(s.path("out/host_vars/lab-web.yml").exists());
}

#[test]
fn non_ephemeral_domain_protects_its_inventory_too() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    // Drop admin's machine list and rename the domain: admin's files orphan.
    s.write(
        "infra.yml",
        &INFRA
            .replace("  admin:\n", "  admin2:\n")
            .replace("from: admin-ansible", "from: admin2"),
    );
    let run = s.sync_ok(&["--clean-orphans"]);
    assert!(
        run.stdout.contains(
            "  PROTECTED (ephemeral=false): out/inventory/admin.yml — manual removal required\n"
        ),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(
        "  PROTECTED (ephemeral=false): out/group_vars/admin.yml — manual removal required\n"
    ));
    assert!(
        run.stdout
            .contains("  Skipped (protected): out/inventory/admin.yml\n")
    );
    assert!(s.path("out/inventory/admin.yml").exists());
}

#[test]
fn dry_run_reports_orphans_but_deletes_nothing() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write("infra.yml", &without_lab());
    let run = s.sync_ok(&["--dry-run", "--clean-orphans"]);
    assert!(run.stdout.contains("Orphan files (4):"));
    assert!(!run.stdout.contains("Deleted"));
    assert!(s.path("out/group_vars/lab.yml").exists());
}

#[test]
fn files_anklume_cannot_vouch_for_are_protected() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    s.write("out/host_vars/hand-written.yml", "ansible_user: me\n");
    s.write("out/host_vars/broken.yml", "a: [\n");
    s.write("out/host_vars/gone.yml", "instance_ephemeral: true\n");
    s.write("out/group_vars/all.yml.bak", "not yaml\n");
    s.write("out/host_vars/notes.txt", "ignored\n");
    let run = s.sync_ok(&["--clean-orphans"]);
    assert!(
        run.stdout.contains(
            "Orphan files (3):\n\
             \x20 PROTECTED (ephemeral=false): out/host_vars/broken.yml — manual removal required\n\
             \x20 ORPHAN: out/host_vars/gone.yml\n\
             \x20 PROTECTED (ephemeral=false): out/host_vars/hand-written.yml — manual removal required\n"
        ),
        "{}",
        run.stdout
    );
    assert!(s.path("out/host_vars/hand-written.yml").exists());
    assert!(!s.path("out/host_vars/gone.yml").exists());
}
