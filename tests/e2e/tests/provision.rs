//! Provisioning a Debian 12 container (debootstrap image with python3 and
//! systemd, scripts/debian-image.sh) with base_system through the
//! community.general.incus connection: works offline (the bridge has no
//! NAT, so no mirror is reachable) and a second run changes nothing.

use anklume_e2e::{Infra, free_base_subnet, incus_exec, incus_query, tag};

#[test]
fn base_system_provisions_debian_offline_and_idempotently() {
    let t = tag();
    let d = format!("e2e{t}d");
    let base = free_base_subnet();
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-debian
domains:
  {d}:
    description: e2e provisioning
    subnet_id: 4
    ephemeral: true
    machines:
      {d}-deb:
        type: lxc
        ip: \"{base}.4.10\"
        roles: [base_system]
"
    );
    let infra = Infra::new(&yaml, &[&d]);
    infra.sync();
    let first = infra.apply(&[
        "-e",
        "base_system_timezone=Europe/Paris",
        "-e",
        "anklume_isolation=off",
    ]);
    assert!(first.changed() > 0, "{}", first.text);
    assert!(
        first
            .text
            .contains("TASK [base_system : Generate the locale]"),
        "base_system did not run:\n{}",
        first.text
    );

    let name = format!("{d}-deb");
    let out = incus_exec(
        &d,
        &name,
        "readlink /etc/localtime; cat /etc/timezone /etc/default/locale; locale -a",
    );
    assert!(out.contains("/usr/share/zoneinfo/Europe/Paris"), "{out}");
    assert!(out.contains("LANG=en_US.UTF-8"), "{out}");
    assert!(out.contains("en_US.utf8"), "{out}");
    // Offline: every package was already there, so apt never fetched a
    // package list (the image ships with none).
    let lists = incus_exec(&d, &name, "ls /var/lib/apt/lists");
    assert!(!lists.contains("_Packages"), "apt fetched lists: {lists}");

    // The static IP reached the instance (DHCP reservation on eth0).
    let ip = format!("{base}.4.10");
    let state = format!("/1.0/instances/{name}/state?project={d}");
    let has_ip = |v: &serde_json::Value| {
        v["network"]["eth0"]["addresses"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .any(|x| x["family"] == "inet" && x["address"] == ip.as_str())
            })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !incus_query(&state).is_some_and(|v| has_ip(&v)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{name} never got {ip}: {:?}",
            incus_query(&state)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }

    let second = infra.apply(&[
        "-e",
        "base_system_timezone=Europe/Paris",
        "-e",
        "anklume_isolation=off",
    ]);
    assert_eq!(
        second.changed(),
        0,
        "re-provisioning changed something:\n{}",
        second.text
    );

    // A package the image lacks, with apt pointed at loopback inside the
    // instance (nothing leaves this machine): the failure names the
    // probable cause instead of apt's raw dump.
    incus_exec(
        &d,
        &name,
        "echo 'deb http://127.0.0.1:9/debian bookworm main' > /etc/apt/sources.list; \
         rm -f /etc/apt/sources.list.d/*",
    );
    let missing = infra.playbook(&[
        "--tags",
        "provision",
        "-e",
        r#"{"base_system_packages": ["ca-certificates", "anklume-no-such-package"]}"#,
    ]);
    assert!(!missing.ok, "{}", missing.text);
    assert!(
        missing
            .text
            .contains(&format!("apt (base packages) failed on {name}"))
            && missing
                .text
                .contains("Probable cause: the domain has no outbound NAT"),
        "{}",
        missing.text
    );
}
