//! Shared parts of the end-to-end tests: a throwaway infra under a random
//! name and subnet, `anklume-gen sync`, `ansible-playbook ansible/site.yml`
//! from the venv, `incus query`, and a guard that removes every domain the
//! test declared (scripts/teardown-domains.sh) on success and on failure.
//!
//! Needs root, a running Incus and the venv (`scripts/install-test-deps.sh`,
//! run by `make test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

pub mod netns;

/// The repository root (two levels above this crate).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// A short random lowercase hex tag (time and pid; no rand crate needed).
pub fn tag() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mixed =
        (nanos ^ (u128::from(std::process::id()) << 20)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("{:04x}", (mixed >> 64) as u16)
}

/// The anklume-gen binary that `cargo test --workspace` builds beside this
/// test's own executable.
pub fn gen_bin() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("anklume-gen");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` (it builds anklume-gen) or `cargo build -p anklume-gen`",
        bin.display()
    );
    bin
}

/// The anklume-netd binary `cargo test --workspace` builds (it has tests).
pub fn netd_bin() -> PathBuf {
    let bin = gen_bin().with_file_name("anklume-netd");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` or `cargo build -p anklume-netd`",
        bin.display()
    );
    bin
}

/// Whether the host namespace has netd's table.
pub fn host_has_isolation_table() -> bool {
    Command::new("nft")
        .args(["list", "table", "inet", "anklume"])
        .output()
        .unwrap()
        .status
        .success()
}

/// The controller venv (scripts/install-ansible.sh --path).
pub fn venv_bin(tool: &str) -> PathBuf {
    let out = Command::new(repo_root().join("scripts/install-ansible.sh"))
        .arg("--path")
        .output()
        .unwrap();
    let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
        .join("bin")
        .join(tool);
    assert!(
        bin.exists(),
        "{} is missing: run scripts/install-test-deps.sh",
        bin.display()
    );
    bin
}

/// `incus query PATH` decoded; None on an error (404 included).
pub fn incus_query(path: &str) -> Option<Value> {
    let out = Command::new("incus")
        .args(["query", path])
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| serde_json::from_slice(&out.stdout).unwrap())
}

/// `incus exec` in a project; stdout (panics on failure).
pub fn incus_exec(project: &str, instance: &str, script: &str) -> String {
    let out = Command::new("incus")
        .args([
            "exec",
            "--project",
            project,
            instance,
            "--",
            "sh",
            "-c",
            script,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "exec {instance}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A /16 prefix `10.2NN` that no Incus network on this host uses yet.
pub fn free_base_subnet() -> String {
    let used = Command::new("incus")
        .args(["network", "list", "--format", "csv", "--columns", "4"])
        .output()
        .unwrap();
    let used = String::from_utf8_lossy(&used.stdout).into_owned();
    let start = u16::from_str_radix(&tag(), 16).unwrap() % 40;
    (0..40)
        .map(|i| format!("10.{}", 210 + (start + i) % 40))
        .find(|base| !used.contains(&format!("{base}.")))
        .expect("no free 10.2xx subnet among 10.210-10.249")
}

/// A test infra: project `e2e`, subnet `base`, the busybox test image,
/// no NAT (test bridges never NAT), then each domain `(name, subnet_id,
/// machine)`: with `Some(extra)`, one machine `<name>-m` at `.10` of its
/// subnet (`extra`: more keys, e.g. `", roles: [x]"`); `tail` follows
/// (policies).
pub fn busybox_infra(base: &str, domains: &[(&str, u8, Option<&str>)], tail: &str) -> String {
    let mut yaml = format!(
        "project_name: e2e\nglobal:\n  base_subnet: \"{base}\"\n  \
         default_os_image: anklume-test-busybox\n  nat: false\ndomains:\n"
    );
    for (name, subnet, machine) in domains {
        yaml.push_str(&format!(
            "  {name}:\n    subnet_id: {subnet}\n    ephemeral: true\n"
        ));
        if let Some(extra) = machine {
            yaml.push_str(&format!(
                "    machines:\n      {name}-m: {{type: lxc, ip: \"{base}.{subnet}.10\"{extra}}}\n"
            ));
        }
    }
    yaml.push_str(tail);
    yaml
}

/// One test's infra: its directory, its domains, removed from Incus on drop.
pub struct Infra {
    pub dir: tempfile::TempDir,
    pub domains: Vec<String>,
}

/// What one ansible-playbook run printed, with its exit status.
pub struct Run {
    pub ok: bool,
    pub text: String,
}

impl Run {
    /// Sum of `changed=N` over the PLAY RECAP lines.
    pub fn changed(&self) -> u32 {
        self.text
            .lines()
            .filter(|l| l.contains(" : ok="))
            .filter_map(|l| l.split("changed=").nth(1))
            .map(|rest| {
                rest.split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<u32>()
                    .unwrap()
            })
            .sum()
    }
}

impl Infra {
    /// Writes `infra.yml` (the domains listed are torn down on drop, so
    /// list every domain the YAML declares).
    pub fn new(yaml: &str, domains: &[&str]) -> Self {
        let infra = Infra {
            dir: tempfile::tempdir().unwrap(),
            domains: domains.iter().map(|d| (*d).to_string()).collect(),
        };
        // Leftovers of an earlier crashed run under the same names.
        infra.teardown();
        infra.write(yaml);
        infra
    }

    pub fn write(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("infra.yml"), yaml).unwrap();
    }

    /// The controller's nesting context the test pretends to run in
    /// (ANKLUME_CONTEXT_DIR): level 1, not inside a VM, no YOLO.
    pub fn context_dir(&self) -> PathBuf {
        let dir = self.dir.path().join("context");
        if !dir.exists() {
            std::fs::create_dir(&dir).unwrap();
            for (file, value) in [
                ("absolute_level", "1"),
                ("relative_level", "1"),
                ("vm_nested", "false"),
                ("yolo", "false"),
            ] {
                std::fs::write(dir.join(file), format!("{value}\n")).unwrap();
            }
        }
        dir
    }

    pub fn tree(&self) -> PathBuf {
        self.dir.path().join("tree")
    }

    /// `anklume-gen sync infra.yml --base-dir tree`.
    pub fn sync(&self) {
        let out = Command::new(gen_bin())
            .arg("sync")
            .arg(self.dir.path().join("infra.yml"))
            .arg("--base-dir")
            .arg(self.tree())
            .arg("--clean-orphans")
            .output()
            .unwrap();
        assert!(out.status.success(), "sync: {}", text(&out));
    }

    /// `ansible-playbook -i tree/inventory ansible/site.yml ARGS`, with the
    /// test bridges' NAT off.
    pub fn playbook(&self, args: &[&str]) -> Run {
        self.playbook_in(None, &[], args)
    }

    /// [`Infra::playbook`] inside network namespace `netns` (when given),
    /// with extra environment variables. No system bus unless `env` names
    /// one: the firewall play then uses the one-shot `anklume-netd apply`.
    pub fn playbook_in(&self, netns: Option<&str>, env: &[(&str, &str)], args: &[&str]) -> Run {
        let root = repo_root();
        let mut command = match netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns])
                    .arg(venv_bin("ansible-playbook"));
                c
            }
            None => Command::new(venv_bin("ansible-playbook")),
        };
        let out = command
            .env(
                "DBUS_SYSTEM_BUS_ADDRESS",
                "unix:path=/nonexistent/anklume-e2e-bus",
            )
            .envs(env.iter().copied())
            .env("ANSIBLE_CONFIG", root.join("ansible/ansible.cfg"))
            .env("ANSIBLE_NOCOLOR", "1")
            .env("ANKLUME_CONTEXT_DIR", self.context_dir())
            .arg("-i")
            .arg(self.tree().join("inventory"))
            .arg(root.join("ansible/site.yml"))
            .args(["-e", "incus_networks_ipv4_nat=false"])
            .args(args)
            .output()
            .unwrap();
        Run {
            ok: out.status.success(),
            text: text(&out),
        }
    }

    /// Like [`Infra::playbook`] but the run must succeed.
    pub fn apply(&self, args: &[&str]) -> Run {
        let run = self.playbook(args);
        assert!(run.ok, "ansible-playbook {args:?} failed:\n{}", run.text);
        run
    }

    fn teardown(&self) {
        if self.domains.is_empty() {
            return;
        }
        let status = Command::new(repo_root().join("scripts/teardown-domains.sh"))
            .args(&self.domains)
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("teardown of {:?} reported a problem", self.domains);
        }
    }
}

impl Drop for Infra {
    fn drop(&mut self) {
        self.teardown();
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
