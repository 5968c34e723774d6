//! ansible/gpu.yml (imported by site.yml) against anklume-gpud on a private
//! bus, with the fake NVML and Incus left out: a GPU machine gets its
//! claim, a machine the host's infra does not allow fails the play with
//! gpud's message, and without gpud the play says so. Needs the Ansible
//! venv (scripts/install-ansible.sh, run by `make test`).

mod common;

use std::path::Path;
use std::process::Command;

use common::{Daemon, GIB, Incus, TestBus, card, infra, proxy, repo};

/// The admin side's generated tree: domain `ai`, its nvidia-compute
/// profile, and `machines` (name, host_vars lines).
fn tree(dir: &Path, machines: &[(&str, &str)]) {
    for sub in ["inventory", "group_vars", "host_vars"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let hosts: String = machines
        .iter()
        .map(|(m, _)| format!("        {m}:\n"))
        .collect();
    std::fs::write(
        dir.join("inventory/ai.yml"),
        format!("all:\n  children:\n    ai:\n      hosts:\n{hosts}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("group_vars/ai.yml"),
        "domain_name: ai\nincus_project: ai\nincus_profiles:\n  nvidia-compute:\n    devices:\n      \
         gpu:\n        type: gpu\n        gputype: physical\n",
    )
    .unwrap();
    for (machine, vars) in machines {
        std::fs::write(
            dir.join(format!("host_vars/{machine}.yml")),
            format!("instance_name: {machine}\ninstance_type: lxc\n{vars}\n"),
        )
        .unwrap();
    }
}

fn play(dir: &Path, bus: &TestBus) -> (bool, String) {
    let venv = Command::new(repo().join("scripts/install-ansible.sh"))
        .arg("--path")
        .output()
        .unwrap();
    let venv = String::from_utf8_lossy(&venv.stdout).trim().to_owned();
    let busctl = format!(
        r#"{{"gpu_busctl": ["busctl", "--address={}", "--no-pager"]}}"#,
        bus.address
    );
    let out = Command::new(Path::new(&venv).join("bin/ansible-playbook"))
        .env("ANSIBLE_CONFIG", repo().join("ansible/ansible.cfg"))
        .env("ANSIBLE_NOCOLOR", "1")
        .arg("-i")
        .arg(dir.join("inventory"))
        .arg(repo().join("ansible/gpu.yml"))
        .args(["-e", &busctl])
        .output()
        .expect("the Ansible venv (scripts/install-ansible.sh)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_play_claims_for_gpu_machines_and_fails_with_gpuds_message() {
    let bus = TestBus::start();
    // The host's infra: only ai-one may have a GPU.
    let host = infra(
        "exclusive",
        "ai",
        &[("ai-one", "gpu: true"), ("ai-two", ""), ("ai-cpu", "")],
    );
    let mut gpud = Daemon::start(&bus, &host, &card(0, 8 * GIB, 0), Incus::Absent).await;
    let dir = tempfile::tempdir().unwrap();

    // ai-one (gpu: true) gets its claim; ai-cpu is left out.
    tree(
        dir.path(),
        &[("ai-one", "instance_gpu: true"), ("ai-cpu", "")],
    );
    let (ok, text) = play(dir.path(), &bus);
    assert!(ok, "{text}");
    assert_eq!(
        proxy(&bus).await.claims().await.unwrap(),
        vec![("ai-one".into(), "GPU-fake-0".into())]
    );
    let (ok, text) = play(dir.path(), &bus);
    assert!(
        ok && text.contains("changed=0"),
        "a second run changes nothing:\n{text}"
    );

    // The tree gives ai-two a GPU profile, the host's infra does not.
    tree(
        dir.path(),
        &[
            ("ai-one", "instance_gpu: true"),
            ("ai-two", "instance_profiles: [default, nvidia-compute]"),
        ],
    );
    let (ok, text) = play(dir.path(), &bus);
    assert!(!ok, "{text}");
    assert!(
        text.contains("anklume-gpud refused a GPU to ai-two")
            && text.contains("not a GPU instance"),
        "{text}"
    );

    // Without gpud, the play says so.
    gpud.kill();
    let (ok, text) = play(dir.path(), &bus);
    assert!(
        !ok && text.contains("anklume-gpud is not running"),
        "{text}"
    );
}
