//! ansible-lint (production profile) and yamllint report nothing on ansible/.

use std::process::Command;

use anklume_e2e::{repo_root, text, venv_bin};

#[test]
fn ansible_lint_production_profile_reports_no_violation() {
    let dir = repo_root().join("ansible");
    let bin = venv_bin("ansible-lint");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = Command::new(&bin)
        .current_dir(&dir)
        .env("ANSIBLE_CONFIG", dir.join("ansible.cfg"))
        .env("PATH", path)
        .env("NO_COLOR", "1")
        .args(["--profile", "production", "--strict", "--nocolor"])
        .output()
        .unwrap();
    let output = text(&out);
    assert!(out.status.success(), "ansible-lint:\n{output}");
    assert!(output.contains("0 failure(s), 0 warning(s)"), "{output}");
    assert!(
        output.contains("Profile 'production' was required, and it passed"),
        "{output}"
    );
}

#[test]
fn yamllint_reports_nothing() {
    let out = Command::new(venv_bin("yamllint"))
        .current_dir(repo_root())
        .args(["--strict", "-c", "ansible/.yamllint", "ansible"])
        .output()
        .unwrap();
    assert!(out.status.success(), "yamllint:\n{}", text(&out));
}
