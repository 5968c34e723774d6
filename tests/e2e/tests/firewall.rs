//! The firewall play calls `anklume-netd apply --infra INFRA` when the
//! binary has an `apply` command, and fails (fail closed) otherwise. A stub
//! netd records its arguments; the real netd is tested in its own crate and
//! in isolation_paths.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use anklume_e2e::{Infra, tag};

fn stub(dir: &Path, name: &str, help: &str) -> String {
    let path = dir.join(name);
    let log = dir.join(format!("{name}.args"));
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nif [ \"$1\" = --help ]; then echo '{help}'; exit 0; fi\necho \"$@\" > '{}'\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

#[test]
fn firewall_play_runs_netd_apply_and_fails_without_it() {
    let f = format!("e2e{}f", tag());
    // Only the firewall play runs: nothing is created in Incus.
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"10.209\"
  default_os_image: anklume-test-busybox
domains:
  {f}:
    subnet_id: 5
    machines:
      {f}-x: {{type: lxc, ip: \"10.209.5.10\"}}
"
    );
    let infra = Infra::new(&yaml, &[&f]);
    infra.sync();
    let dir = infra.dir.path();
    let infra_file = dir.join("infra.yml").display().to_string();

    let with_apply = stub(dir, "netd-new", "Commands:\n  preview\n  apply");
    let run = infra.apply(&[
        "--tags",
        "firewall",
        "-e",
        &format!("anklume_netd={with_apply}"),
        "-e",
        &format!("anklume_infra={infra_file}"),
    ]);
    let args =
        std::fs::read_to_string(dir.join("netd-new.args")).expect("netd apply was not called");
    assert_eq!(
        args.trim(),
        format!("apply --infra {infra_file}"),
        "{}",
        run.text
    );
    assert!(!run.text.contains("Isolation NOT applied"), "{}", run.text);

    let without_apply = stub(dir, "netd-old", "Commands:\n  preview");
    let run = infra.playbook(&[
        "--tags",
        "firewall",
        "-e",
        &format!("anklume_netd={without_apply}"),
        "-e",
        &format!("anklume_infra={infra_file}"),
    ]);
    assert!(!run.ok, "a netd without apply was accepted:\n{}", run.text);
    assert!(
        !dir.join("netd-old.args").exists(),
        "netd without apply was called"
    );
    assert!(run.text.contains("has no apply command"), "{}", run.text);

    let run = infra.playbook(&[
        "--tags",
        "firewall",
        "-e",
        &format!("anklume_netd={with_apply}"),
    ]);
    assert!(!run.ok, "no infra given, yet the run passed:\n{}", run.text);
    assert!(run.text.contains("no infra given"), "{}", run.text);
}
