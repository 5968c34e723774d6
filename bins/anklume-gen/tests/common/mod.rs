//! Helpers shared by the CLI tests: run the real binary in a scratch
//! directory, with a private nesting context (never /etc/anklume).

#![allow(dead_code, clippy::new_without_default)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// A scratch directory with an empty context directory.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("context")).unwrap();
        Self { dir }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        path
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Runs anklume-gen with `args`, in the scratch directory.
    pub fn run(&self, args: &[&str]) -> Run {
        self.command(args).output().expect("run anklume-gen").into()
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_anklume-gen"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("ANKLUME_CONTEXT_DIR", self.path("context"));
        cmd
    }

    /// `sync infra.yml --base-dir out` plus `extra`, asserting success.
    pub fn sync_ok(&self, extra: &[&str]) -> Run {
        let mut args = vec!["sync", "infra.yml", "--base-dir", "out"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        assert_eq!(run.code, 0, "sync failed:\n{}\n{}", run.stdout, run.stderr);
        run
    }

    /// Every file under `rel`, relative path → content (`<FileType…>` for
    /// anything but a regular file or directory, which is never opened).
    pub fn tree(&self, rel: &str) -> BTreeMap<String, String> {
        let mut files = BTreeMap::new();
        collect(&self.path(rel), Path::new(""), &mut files);
        files
    }
}

fn collect(dir: &Path, rel: &Path, files: &mut BTreeMap<String, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let entry = entry.unwrap();
        let rel = rel.join(entry.file_name());
        let file_type = entry.file_type().unwrap();
        if file_type.is_dir() {
            collect(&entry.path(), &rel, files);
        } else if !file_type.is_file() {
            // Links, FIFOs, devices, sockets: named, never read.
            files.insert(rel.display().to_string(), format!("<{file_type:?}>"));
        } else {
            files.insert(
                rel.display().to_string(),
                std::fs::read_to_string(entry.path()).unwrap(),
            );
        }
    }
}

/// A small infra with two domains that covers every output key.
pub const INFRA: &str = r#"project_name: demo
global:
  base_subnet: "10.100"
  default_os_image: images:debian/13
  default_connection: community.general.incus
  default_user: root
domains:
  admin:
    description: Administration
    subnet_id: 0
    machines:
      admin-ansible:
        description: Ansible controller
        ip: 10.100.0.10
        roles: [base_system, admin_bootstrap]
  lab:
    description: Lab
    subnet_id: 1
    ephemeral: true
    profiles:
      gpu-prof:
        devices:
          gpu: {type: gpu}
    machines:
      lab-web:
        type: vm
        ip: 10.100.1.10
        ephemeral: false
        gpu: false
        os_image: images:alpine/3.20
        profiles: [default, gpu-prof]
        config:
          limits.cpu: "2"
          boot.autostart: true
        devices:
          data:
            type: disk
            path: /srv
            source: lab-data
            pool: default
        storage_volumes:
          lab-data: {size: 1GiB}
      lab-client: {}
network_policies:
  - from: admin-ansible
    to: lab
    ports: [22, 80]
    protocol: tcp
    bidirectional: yes
    description: "admin reaches the lab"
"#;
