//! The command line itself: validate, JSON output, help, version, input
//! forms (file or infra/ directory) and exit codes.

mod common;

use common::{INFRA, Scratch};

#[test]
fn validate_reports_a_summary_on_success() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.run(&["validate", "infra.yml"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "Valid: infra.yml: 2 domain(s), 3 machine(s), 1 network policy.\n"
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn validate_lists_every_error_with_its_location() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        "project_name: p\nglobal:\n  gpu_policy: sometimes\ndomains:\n  Bad:\n    subnet_id: 300\n    machins: {}\n",
    );
    let run = s.run(&["validate", "infra.yml"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "WARNING: infra.yml:7:5: unknown key 'machins' in domain 'Bad', ignored (did you mean 'machines'?)\n\
         Validation errors:\n\
         \x20 - infra.yml:3:15: global.gpu_policy must be 'exclusive' or 'shared', got 'sometimes'\n\
         \x20 - infra.yml:5:3: Domain 'Bad': invalid name (lowercase alphanumeric + hyphen)\n\
         \x20 - infra.yml:6:16: Domain 'Bad': subnet_id must be 0-254, got 300\n"
    );
}

#[test]
fn validate_json_is_machine_readable() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        "project_name: p\nglobal: {}\ndomains:\n  a:\n    subnet_id: 1\n  b:\n    subnet_id: 1\n",
    );
    let run = s.run(&["validate", "infra.yml", "--format", "json"]);
    assert_eq!(run.code, 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).expect(&run.stdout);
    assert_eq!(json["valid"], false);
    assert_eq!(
        json["errors"],
        serde_json::json!([{
            "file": "infra.yml", "line": 7, "column": 16,
            "message": "Domain 'b': subnet_id 1 already used by 'a'"
        }])
    );
    assert_eq!(json["summary"], serde_json::Value::Null);

    s.write("infra.yml", INFRA);
    let run = s.run(&["validate", "infra.yml", "--format", "json"]);
    assert_eq!(run.code, 0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["valid"], true);
    assert_eq!(json["summary"]["machines"], 3);
    assert_eq!(json["errors"], serde_json::json!([]));
}

#[test]
fn validate_json_reports_a_missing_file() {
    let s = Scratch::new();
    let run = s.run(&["validate", "nope.yml", "--format", "json"]);
    assert_eq!(run.code, 1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["errors"][0]["message"], "nope.yml not found");
}

#[test]
fn missing_infra_is_an_error() {
    let s = Scratch::new();
    let run = s.run(&["sync", "nope.yml"]);
    assert_eq!(run.code, 1);
    assert_eq!(run.stderr, "ERROR: nope.yml not found\n");
}

#[test]
fn usage_errors_exit_2() {
    let s = Scratch::new();
    assert_eq!(s.run(&["sync", "--bogus"]).code, 2);
    assert_eq!(s.run(&[]).code, 2);
    assert_eq!(s.run(&["validate", "--format", "xml"]).code, 2);
}

#[test]
fn help_and_version_speak_to_sysadmins() {
    let s = Scratch::new();
    let run = s.run(&["--version"]);
    assert_eq!(
        run.stdout,
        format!("anklume-gen {}\n", env!("CARGO_PKG_VERSION"))
    );
    let help = s.run(&["--help"]).stdout;
    for needle in [
        "sync",
        "validate",
        "host_vars/<machine>.yml",
        "MANAGED BY infra.yml",
        "ANKLUME_CONTEXT_DIR",
    ] {
        assert!(help.contains(needle), "--help lacks {needle}:\n{help}");
    }
    let sync_help = s.run(&["sync", "--help"]).stdout;
    for needle in [
        "--base-dir <DIR>",
        "--dry-run",
        "--clean-orphans",
        "PROTECTED",
    ] {
        assert!(
            sync_help.contains(needle),
            "sync --help lacks {needle}:\n{sync_help}"
        );
    }
    assert!(
        s.run(&["validate", "--help"])
            .stdout
            .contains("--format <FORMAT>")
    );
}

/// INFRA split into base.yml, domains/*.yml and policies.yml.
fn write_split(s: &Scratch) {
    let domains_at = INFRA.find("domains:\n").unwrap();
    let lab_at = INFRA.find("  lab:\n").unwrap();
    let policies_at = INFRA.find("network_policies:").unwrap();
    s.write("infra/base.yml", &INFRA[..domains_at]);
    s.write(
        "infra/domains/10-admin.yml",
        &dedent(&INFRA[domains_at + 9..lab_at]),
    );
    s.write(
        "infra/domains/20-lab.yml",
        &dedent(&INFRA[lab_at..policies_at]),
    );
    s.write("infra/policies.yml", &INFRA[policies_at..]);
}

fn dedent(text: &str) -> String {
    text.lines()
        .map(|l| format!("{}\n", l.strip_prefix("  ").unwrap_or(l)))
        .collect()
}

#[test]
fn infra_directory_produces_the_same_tree_as_the_single_file() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    s.sync_ok(&[]);
    write_split(&s);
    let run = s.run(&["sync", "infra", "--base-dir", "split"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(s.tree("split"), s.tree("out"));
}

#[test]
fn the_other_form_is_used_when_the_given_one_is_absent() {
    let s = Scratch::new();
    write_split(&s);
    let run = s.run(&["sync", "infra.yml", "--base-dir", "out"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(s.path("out/host_vars/lab-web.yml").exists());

    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.run(&["validate", "infra"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn infra_directory_without_base_is_an_error() {
    let s = Scratch::new();
    s.write("infra/domains/a.yml", "a:\n  subnet_id: 1\n");
    let run = s.run(&["sync", "infra"]);
    assert_eq!(run.code, 1);
    assert_eq!(
        run.stderr,
        "ERROR: infra/base.yml not found in infra directory.\n"
    );
}

#[test]
fn domain_redefined_in_a_later_file_overrides_and_warns() {
    let s = Scratch::new();
    write_split(&s);
    s.write(
        "infra/domains/30-override.yml",
        "admin:\n  description: Replaced\n  subnet_id: 0\n",
    );
    let run = s.run(&["sync", "infra", "--base-dir", "out"]);
    assert_eq!(
        run.code, 1,
        "admin-ansible is gone, so the policy's 'from' is unknown"
    );
    assert!(run.stderr.starts_with(
        "WARNING: infra/domains/30-override.yml:1:1: Domain 'admin' in 30-override.yml overrides existing definition.\n"
    ), "{}", run.stderr);
    assert!(run.stderr.contains("infra/policies.yml:2:11: network_policies[0]: 'from: admin-ansible' is not a known domain, machine, or 'host'"), "{}", run.stderr);
}

#[test]
fn examples_all_validate() {
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut names: Vec<_> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "ai-tools",
            "developer",
            "llm-supervisor",
            "pro-workstation",
            "sandbox-isolation",
            "student-sysadmin",
            "teacher-lab"
        ]
    );
    let s = Scratch::new();
    for name in names {
        let infra = examples.join(&name).join("infra.yml");
        assert!(
            examples.join(&name).join("README.md").is_file(),
            "{name} has no README.md"
        );
        let run = s.run(&["validate", infra.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        // Expected warnings only: a shared GPU, and the service roles of
        // the original project (dev_test_runner) that this
        // rewrite does not ship yet — said, rather than silently skipped.
        for line in run.stderr.lines().filter(|l| l.starts_with("WARNING: ")) {
            assert!(
                line.contains("GPU policy is 'shared'")
                    || line.contains(
                        "is neither shipped with anklume (ansible/roles) nor in roles_custom/"
                    ),
                "{name}: {line}"
            );
        }
        let out = s.path(&format!("tree-{name}"));
        let run = s.run(&[
            "sync",
            infra.to_str().unwrap(),
            "--base-dir",
            out.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
    }
}

#[test]
fn import_says_which_socket_it_could_not_reach_and_never_overwrites() {
    let s = Scratch::new();
    let missing = s.path("no-incus.sock");
    let run: common::Run = s
        .command(&["import", "-o", "infra.yml"])
        .env("INCUS_SOCKET", &missing)
        .output()
        .unwrap()
        .into();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&missing.display().to_string()) && run.stderr.contains("ERROR"),
        "{}",
        run.stderr
    );
    assert!(!s.path("infra.yml").exists());

    s.write("infra.yml", "mine\n");
    let run = s.run(&["import", "-o", "infra.yml"]);
    assert_eq!(run.code, 1);
    assert!(
        run.stderr
            .contains("infra.yml: already exists; nothing written (use --force"),
        "{}",
        run.stderr
    );
    assert_eq!(s.read("infra.yml"), "mine\n");
}
