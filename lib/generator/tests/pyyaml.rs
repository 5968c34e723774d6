//! Ansible reads the generated tree with PyYAML (YAML 1.1), where `yes`,
//! `0123`, `12:30` or `2024-01-02` are not strings. Every generated file
//! must mean the same to PyYAML as to a YAML 1.2 reader. Needs Debian's
//! `python3-yaml` (installed by scripts/install-test-deps.sh).

use std::process::Command;

use anklume_generator::{SyncOptions, sync};
use anklume_infra::{NestingContext, Value, load_str, parse_yaml};
use serde_json::Value as Json;

const PYTHON: &str = "/usr/bin/python3";

/// Strings on which YAML 1.1 and 1.2 readers disagree, or that need quoting.
const TRICKY: &[&str] = &[
    "yes",
    "No",
    "on",
    "OFF",
    "y",
    "n",
    "0123",
    "0b101",
    "1_000",
    "0x_1F",
    "12:30",
    "190:20:30.15",
    "2024-01-02",
    "2001-12-14t21:59:43.10-05:00",
    "=",
    "<<",
    "~",
    "",
    "1e3",
    "1.0e+3",
    ".5",
    "+.inf",
    ".NaN",
    "a: b",
    "#c",
    "- d",
    "x #y",
    "it's",
    "\"dq\"",
    "back\\slash",
    "tab\tt",
    "line\nbreak",
    "é — 漢字",
    " lead",
    "trail ",
    "10.100",
    "10.100.1.1",
];

fn to_json(value: &Value) -> Json {
    serde_json::to_value(value).expect("plain data")
}

#[test]
fn pyyaml_reads_every_generated_value_as_written() {
    let mut infra = String::from(
        "project_name: tricky\nglobal:\n  base_subnet: '10.100'\ndomains:\n  d:\n    subnet_id: 1\n    machines:\n",
    );
    for (i, text) in TRICKY.iter().enumerate() {
        let quoted = serde_json::to_string(text).unwrap(); // a valid YAML double-quoted scalar
        infra.push_str(&format!(
            "      m{i}:\n        description: {quoted}\n        config:\n          user.note: {quoted}\n        roles: [{quoted}]\n"
        ));
    }
    let (infra, report) = load_str(&infra, "infra.yml", &NestingContext::default());
    let infra = infra.unwrap_or_else(|| panic!("{:?}", report.errors));
    let dir = tempfile::tempdir().unwrap();
    sync(&infra, dir.path(), SyncOptions::default()).unwrap();

    let script = r#"
import json, pathlib, sys, yaml
out = {}
for path in sorted(pathlib.Path(sys.argv[1]).rglob("*.yml")):
    out[str(path.relative_to(sys.argv[1]))] = yaml.safe_load(path.read_text())
print(json.dumps(out))
"#;
    let output = Command::new(PYTHON)
        .args(["-c", script])
        .arg(dir.path())
        .output()
        .expect("run /usr/bin/python3 (install python3-yaml: scripts/install-test-deps.sh)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pyyaml: serde_json::Map<String, Json> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(pyyaml.len(), 1 + 2 + TRICKY.len());
    for (path, seen_by_pyyaml) in pyyaml {
        let text = std::fs::read_to_string(dir.path().join(&path)).unwrap();
        let ours = to_json(&parse_yaml(&text, &path).unwrap());
        assert_eq!(seen_by_pyyaml, ours, "{path}:\n{text}");
    }
    // And the values are the strings we started from.
    let m0 = std::fs::read_to_string(dir.path().join("host_vars/m0.yml")).unwrap();
    assert!(m0.contains("instance_description: 'yes'\n"), "{m0}");
}
