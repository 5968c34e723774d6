//! Roles named in `roles:`: an unknown one stops the run before anything
//! changes (anklume-gen sync warned about it first); a role of the user's
//! `roles_custom/` directory, next to the infra, runs on the machines that
//! list it. Real Incus, busybox instances (the custom role uses `raw`, no
//! Python needed).

use anklume_e2e::{Infra, free_base_subnet, incus_exec, incus_query, tag};

#[test]
fn unknown_roles_stop_the_run_and_custom_roles_run() {
    let d = format!("e2e{}r", tag());
    let base = free_base_subnet();
    let yaml = |role: &str| {
        format!(
            "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-busybox
domains:
  {d}:
    subnet_id: 1
    ephemeral: true
    machines:
      {d}-m: {{type: lxc, ip: \"{base}.1.10\", roles: [{role}]}}
"
        )
    };
    let infra = Infra::new(&yaml("stamp_rol"), &[&d]);
    let custom = infra.dir.path().join("roles_custom/stamp_role/tasks");
    std::fs::create_dir_all(&custom).unwrap();
    std::fs::write(
        custom.join("main.yml"),
        "---\n- name: Leave a stamp\n  ansible.builtin.raw: echo stamped > /root/stamp\n  changed_when: true\n",
    )
    .unwrap();
    infra.sync();
    let roles_custom = format!(
        "anklume_roles_custom={}",
        infra.dir.path().join("roles_custom").display()
    );
    let vars = ["-e", roles_custom.as_str(), "-e", "anklume_isolation=off"];

    let run = infra.playbook(&vars);
    assert!(!run.ok, "an unknown role was accepted:\n{}", run.text);
    assert!(
        run.text
            .contains(&format!("Unknown role(s): {d}-m: stamp_rol")),
        "{}",
        run.text
    );
    assert!(
        incus_query(&format!("/1.0/projects/{d}")).is_none(),
        "something was built before the refusal"
    );

    infra.write(&yaml("stamp_role"));
    infra.sync();
    let run = infra.apply(&vars);
    assert!(run.text.contains("Leave a stamp"), "{}", run.text);
    assert_eq!(
        incus_exec(&d, &format!("{d}-m"), "cat /root/stamp"),
        "stamped\n"
    );
}
