//! `anklume-gen import` round trip on the real Incus: an infra with LXC
//! containers carrying config, devices, profiles and static IPs is
//! applied; importing its projects gives an infra that validates and
//! holds them; syncing that import into a new directory and applying it
//! changes nothing (`changed=0`).

use std::process::Command;

use anklume_e2e::{Infra, free_base_subnet, gen_bin, tag, text};

fn infra_yaml(base: &str, a: &str, b: &str) -> String {
    format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-busybox
  nat: false
domains:
  {a}:
    description: imported domain A
    subnet_id: 1
    ephemeral: true
    profiles:
      small:
        description: one CPU
        config:
          limits.cpu: \"1\"
    machines:
      {a}-web:
        description: web server
        type: lxc
        ip: \"{base}.1.10\"
        profiles: [default, small]
        config:
          limits.memory: 128MiB
          user.anklume-test: hello
        devices:
          data:
            type: disk
            source: /tmp
            path: /mnt/data
      {a}-db:
        type: lxc
        ip: \"{base}.1.11\"
        ephemeral: false
  {b}:
    subnet_id: 2
    ephemeral: true
    machines:
      {b}-dhcp:
        type: lxc
"
    )
}

#[test]
fn import_of_an_applied_infra_validates_and_re_applies_with_no_change() {
    let t = tag();
    let (a, b) = (format!("e2e{t}i"), format!("e2e{t}j"));
    let base = free_base_subnet();
    let infra = Infra::new(&infra_yaml(&base, &a, &b), &[&a, &b]);
    infra.sync();
    infra.apply(&["--tags", "infra"]);

    // Import the two projects (never the whole host: it is shared).
    let imported = Infra {
        dir: tempfile::tempdir().unwrap(),
        domains: Vec::new(),
    };
    let file = imported.dir.path().join("infra.yml");
    let import = |extra: &[&str]| {
        Command::new(gen_bin())
            .args(["import", "--project", &a, "--project", &b, "-o"])
            .arg(&file)
            .args(extra)
            .env("INCUS_SOCKET", "/var/lib/incus/unix.socket")
            .output()
            .unwrap()
    };
    let out = import(&[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("Imported 2 domain(s), 3 machine(s)"),
        "{}",
        text(&out)
    );
    let yaml = std::fs::read_to_string(&file).unwrap();
    for expected in [
        format!("  {a}:\n    description: imported domain A\n    subnet_id: 1\n"),
        format!("base_subnet: '{base}'"),
        format!("ip: {base}.1.10"),
        "limits.memory: 128MiB".into(),
        "user.anklume-test: hello".into(),
        "path: /mnt/data".into(),
        "- small".into(),
        "limits.cpu: '1'".into(),
        "os_image: anklume-test-busybox".into(),
        "ephemeral: false".into(),
        "nat: false".into(),
    ] {
        assert!(yaml.contains(&expected), "{expected} missing:\n{yaml}");
    }
    assert!(!yaml.contains("volatile."), "{yaml}");
    let out = Command::new(gen_bin())
        .arg("validate")
        .arg(&file)
        .env("ANKLUME_CONTEXT_DIR", infra.context_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{yaml}", text(&out));

    // An existing file is not replaced without --force.
    let out = import(&[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), yaml);
    let out = import(&["--force"]);
    assert!(out.status.success(), "{}", text(&out));

    // The import, synced in a new directory and applied: nothing to do.
    imported.sync();
    let again = imported.apply(&["--tags", "infra"]);
    assert_eq!(
        again.changed(),
        0,
        "applying the import changed something:\n{yaml}\n{}",
        again.text
    );
}
