//! Fuzzing the loader and validator with proptest: arbitrary bytes, and a
//! YAML-shaped token soup that reaches deep into the checks. Whatever the
//! input, loading returns a model or errors, never panics, and a model
//! comes with no errors.

use anklume_infra::{NestingContext, load_str};
use proptest::prelude::*;

/// Fragments of infra files, so random sequences form plausible YAML.
const TOKENS: &[&str] = &[
    "project_name: p\n",
    "global:\n",
    "domains:\n",
    "network_policies:\n",
    "  ",
    "    ",
    "      ",
    "\n",
    "- ",
    ": ",
    "subnet_id: ",
    "machines:\n",
    "profiles:",
    "ip: ",
    "type: ",
    "vm",
    "lxc",
    "gpu: ",
    "ephemeral: ",
    "config:",
    "devices:",
    "security.privileged: ",
    "from: ",
    "to: ",
    "ports: ",
    "protocol: ",
    "all",
    "host",
    "yes",
    "no",
    "null",
    "~",
    "true",
    "1",
    "0",
    "254",
    "255",
    "-1",
    "10.100.1.10",
    "10.100",
    "'10.100'",
    "admin",
    "sys-firewall",
    "firewall_mode: vm",
    "gpu_policy: exclusive",
    "base_subnet: ",
    "{",
    "}",
    "[",
    "]",
    ", ",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "? ",
    "|\n",
    ">\n",
    "\"",
    "'",
    "#",
    "---\n",
    "...\n",
    "\t",
    "é",
    "\u{0}",
    "pro",
    "a",
    "-x",
];

fn token_soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(TOKENS), 0..120).prop_map(|t| t.concat())
}

fn check(text: &str) {
    let context = NestingContext {
        vm_nested: Some(false),
        yolo: false,
    };
    let (infra, report) = load_str(text, "fuzz.yml", &context);
    assert_eq!(
        infra.is_some(),
        report.errors.is_empty(),
        "{text:?}: {report:?}"
    );
    for error in &report.errors {
        assert!(!error.message.is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn yaml_shaped_input_never_panics(text in token_soup()) {
        check(&text);
    }
}

#[test]
fn known_hard_inputs_never_panic() {
    for text in [
        "",
        "---",
        "~",
        "[]",
        "- 1",
        "a",
        "{",
        "domains: [1, 2]",
        "project_name: p\nglobal: ~\ndomains: ~",
        "project_name: [1]\nglobal: {}\ndomains: {a: {subnet_id: 1, machines: [1]}}",
        "project_name: p\nglobal: {}\ndomains: {a: ~}",
        "project_name: p\nglobal: {}\ndomains: {a: {subnet_id: 1, machines: {m: ~}}}",
        "project_name: p\nglobal: {}\ndomains: {a: {subnet_id: 1, machines: {m: {ip: [1]}}}}",
        "project_name: p\nglobal: {firewall_mode: vm}\ndomains: {admin: {subnet_id: 99999999999999999999}}",
        "project_name: p\nglobal: {}\ndomains: {? [a]: {subnet_id: 1}}",
        "project_name: p\nglobal: {}\ndomains: {}\nnetwork_policies: [{from: {a: 1}, to: [b], ports: {x: 1}}]",
        "a: &a [*a]",
        "<<: [1]",
    ] {
        check(text);
    }
}
