//! anklume-gpud under a real systemd: the unit, sysusers entry, bus policy
//! and polkit action as shipped, inside an Incus container booted from
//! `anklume-test-debian` (`make debian-image`), with the fake NVML named by
//! a drop-in and Incus left out (`--no-incus`: no Incus socket in there).
//! Proves the hardened unit starts (Type=notify), reads are open to a
//! plain user, polkit refuses then grants Claim for that user (the action's
//! owner annotation lets the daemon's user ask), root claims, and claims
//! survive a restart in the StateDirectory. Needs root and Incus.

mod common;

use std::process::Command;

use common::{Lab, fake_nvml, repo};

const IMAGE: &str = "anklume-test-debian";

struct Container {
    project: String,
}

impl Container {
    fn sh(&self, script: &str) -> (bool, String) {
        let out = Command::new("incus")
            .args([
                "exec",
                "--project",
                &self.project,
                "u1",
                "--",
                "sh",
                "-c",
                script,
            ])
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }

    fn ok(&self, script: &str) -> String {
        let (ok, text) = self.sh(script);
        assert!(ok, "`{script}` failed:\n{text}");
        text
    }

    fn push(&self, from: &std::path::Path, to: &str, mode: &str) {
        let status = Command::new("incus")
            .args([
                "file",
                "push",
                "--quiet",
                "--create-dirs",
                "--mode",
                mode,
                "--project",
                &self.project,
            ])
            .arg(from)
            .arg(format!("u1{to}"))
            .status()
            .unwrap();
        assert!(status.success(), "push {} to {to}", from.display());
    }
}

const CALL: &str = "busctl call org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1";

#[tokio::test]
async fn the_shipped_unit_runs_under_systemd_with_polkit() {
    let lab = Lab::new(&[]).await;
    let launched = Command::new("incus")
        .args(["launch", IMAGE, "u1", "--project", &lab.project])
        .output()
        .unwrap();
    assert!(
        launched.status.success(),
        "launch {IMAGE} (make debian-image): {}",
        String::from_utf8_lossy(&launched.stderr)
    );
    let debian = Container {
        project: lab.project.clone(),
    };
    // Booted: systemd answers, and has finished starting the system.
    debian.ok(
        "for i in $(seq 150); do case $(systemctl is-system-running 2>/dev/null) in \
         running|degraded) exit 0;; esac; sleep 0.2; done; systemctl is-system-running",
    );

    let root = repo();
    debian.push(
        std::path::Path::new(env!("CARGO_BIN_EXE_anklume-gpud")),
        "/usr/bin/anklume-gpud",
        "0755",
    );
    debian.push(
        &root.join("units/anklume-gpud.service"),
        "/etc/systemd/system/anklume-gpud.service",
        "0644",
    );
    debian.push(
        &root.join("units/anklume.sysusers"),
        "/usr/lib/sysusers.d/anklume.conf",
        "0644",
    );
    debian.push(
        &root.join("policy/dbus-1/org.anklume.Gpu1.conf"),
        "/usr/share/dbus-1/system.d/org.anklume.Gpu1.conf",
        "0644",
    );
    debian.push(
        &root.join("policy/polkit-1/org.anklume.gpu.policy"),
        "/usr/share/polkit-1/actions/org.anklume.gpu.policy",
        "0644",
    );
    debian.push(fake_nvml(), "/opt/fake-nvml/libnvidia-ml.so.1", "0644");
    debian.ok(
        "set -e
         printf 'gpu GPU-fake-0 8589934592 0 00000000:41:00.0 Fake RTX\\nproc 0 1 1048576\\n' > /opt/fake-nvml/fixture
         mkdir -p /etc/anklume /etc/systemd/system/anklume-gpud.service.d
         printf 'project_name: t\\nglobal: {}\\ndomains:\\n  ai:\\n    subnet_id: 1\\n    machines:\\n      ai-one:\\n        gpu: true\\n' > /etc/anklume/infra.yml
         printf '[Service]\\nEnvironment=ANKLUME_NVML_LIBRARY=/opt/fake-nvml/libnvidia-ml.so.1 FAKE_NVML_FIXTURE=/opt/fake-nvml/fixture\\nExecStart=\\nExecStart=/usr/bin/anklume-gpud serve --no-incus\\n' > /etc/systemd/system/anklume-gpud.service.d/fake.conf
         groupadd -f -r incus-admin
         systemd-sysusers
         systemctl reload dbus
         systemctl daemon-reload
         systemctl start anklume-gpud
         useradd -m tuser",
    );
    // polkitd is D-Bus activated and reads the actions directory: wait
    // until it knows the action (a loaded machine takes a while).
    debian.ok(
        "for i in $(seq 150); do pkaction --action-id org.anklume.gpu.claim >/dev/null 2>&1 && exit 0; sleep 0.2; done; \
         pkaction --action-id org.anklume.gpu.claim",
    );
    assert_eq!(
        debian.ok("systemctl is-active anklume-gpud").trim(),
        "active"
    );
    assert!(
        debian
            .ok("journalctl -u anklume-gpud --no-pager")
            .contains("confined (Landlock")
    );

    // Reads are open to a plain user; the hardened unit sees the processes.
    let listed = debian.ok(&format!("su tuser -c '{CALL} ListGpus'"));
    assert!(
        listed.starts_with("a(ussttt) 1 0 \"GPU-fake-0\""),
        "{listed}"
    );
    let processes = debian.ok(&format!("su tuser -c '{CALL} Processes'"));
    assert_eq!(processes.trim(), "a(usst) 1 1 \"\" \"GPU-fake-0\" 1048576");

    // polkit answers the daemon's user about its caller: no, then yes.
    let (ok, refused) = debian.sh(&format!("su tuser -c \"{CALL} Claim ss ai-one ''\""));
    assert!(
        !ok && refused.contains("not authorized for org.anklume.gpu.claim"),
        "{refused}"
    );
    assert_eq!(
        debian.ok(&format!("{CALL} Claim ss ai-one ''")).trim(),
        "b true"
    );
    debian.ok("systemctl restart anklume-gpud");
    assert!(
        debian.ok("anklume-gpud claims").contains("GPU-fake-0"),
        "claims survive a restart"
    );
    assert!(
        debian
            .ok("stat -c %U /var/lib/anklume-gpud/claims.json")
            .contains("anklume-gpud")
    );
    debian.ok(
        "printf 'polkit.addRule(function(a, s) { if (a.id == \"org.anklume.gpu.claim\" && s.user == \"tuser\") return polkit.Result.YES; });\\n' > /etc/polkit-1/rules.d/50-tuser.rules",
    );
    // polkitd re-reads its rules on a change; give it a few tries.
    let released = debian.ok(&format!(
        "for i in $(seq 50); do su tuser -c '{CALL} Release s ai-one' 2>/dev/null && exit 0; sleep 0.2; done; \\
         su tuser -c '{CALL} Release s ai-one'"
    ));
    assert_eq!(released.trim(), "b true");
    eprintln!(
        "{}",
        debian.ok("systemd-analyze security anklume-gpud --no-pager | tail -n1")
    );
}
