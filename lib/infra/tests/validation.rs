//! The validation contract of `infra.yml` (reference/infra-format.md §1–§8,
//! §11, §12): every rule, its exact message, the order of the checks, the
//! firewall-VM enrichment, the typed model's defaults and the `infra/`
//! directory form. A test fails when a message, a key or an order changes.

use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;

use anklume_infra::{
    BaseSubnet, Endpoint, FirewallMode, GpuPolicy, Infra, InfraSource, InstanceType, Machine,
    NestingContext, Ports, Protocol, Report, SourceError, Value, load, load_str,
};

const FILE: &str = "infra.yml";

// ---------------------------------------------------------------- helpers

/// Strips the common indentation of an indented raw string (and the line
/// break right after its opening quote), so documents read naturally here.
fn yaml(text: &str) -> String {
    let text = text.strip_prefix('\n').unwrap_or(text);
    let indent = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out: String = text
        .lines()
        .map(|l| l.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n");
    out.push('\n');
    out
}

/// A document with a plain header and `domains` as the `domains:` body.
/// The header takes lines 1–3, so the first domain is on line 4.
fn with_domains(domains: &str) -> String {
    let body: String = yaml(domains)
        .lines()
        .map(|l| {
            if l.is_empty() {
                String::new()
            } else {
                format!("  {l}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!("project_name: demo\nglobal: {{}}\ndomains:\n{body}\n")
}

fn check_in(text: &str, context: &NestingContext) -> (Option<Infra>, Report) {
    let (infra, report) = load_str(&yaml(text), FILE, context);
    assert_eq!(
        infra.is_some(),
        report.errors.is_empty(),
        "the model is present exactly when there is no error: {report:?}"
    );
    (infra, report)
}

fn check(text: &str) -> (Option<Infra>, Report) {
    check_in(text, &NestingContext::default())
}

fn report(text: &str) -> Report {
    check(text).1
}

/// Error messages, without their location.
fn errors(text: &str) -> Vec<String> {
    report(text).errors.into_iter().map(|d| d.message).collect()
}

/// Errors as printed: `file:line:col: message`.
fn located_errors(text: &str) -> Vec<String> {
    report(text)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn warnings(text: &str) -> Vec<String> {
    report(text)
        .warnings
        .into_iter()
        .map(|d| d.message)
        .collect()
}

fn notices(text: &str) -> Vec<String> {
    report(text)
        .notices
        .into_iter()
        .map(|d| d.message)
        .collect()
}

/// The model of a valid document; fails the test with the errors otherwise.
fn valid(text: &str) -> Infra {
    let (infra, report) = check(text);
    infra.unwrap_or_else(|| panic!("expected a valid infra, got {:#?}", report.errors))
}

fn errors_in(text: &str, context: &NestingContext) -> Vec<String> {
    check_in(text, context)
        .1
        .errors
        .into_iter()
        .map(|d| d.message)
        .collect()
}

fn warnings_in(text: &str, context: &NestingContext) -> Vec<String> {
    check_in(text, context)
        .1
        .warnings
        .into_iter()
        .map(|d| d.message)
        .collect()
}

fn machine<'a>(infra: &'a Infra, name: &str) -> &'a Machine {
    infra
        .machine(name)
        .unwrap_or_else(|| panic!("no machine '{name}'"))
}

fn write(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().expect("a parent directory")).expect("create dir");
    fs::write(path, yaml(text)).expect("write file");
}

const PRIVILEGED_MSG: &str = "security.privileged=true on LXC is forbidden when vm_nested=false (no VM in parent chain). Use a VM or enable --YOLO to bypass.";

fn nested(vm_nested: Option<bool>, yolo: bool) -> NestingContext {
    NestingContext { vm_nested, yolo }
}

// ------------------------------------------------------ §1 required keys

#[test]
fn missing_top_keys_are_the_only_errors_in_contract_order() {
    let report = report(
        r"
        bogus: 1
        network_policies: not-a-list
        ",
    );
    let messages: Vec<&str> = report.errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Missing required key: project_name",
            "Missing required key: global",
            "Missing required key: domains",
        ]
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}

#[test]
fn a_missing_key_hides_every_other_problem() {
    assert_eq!(
        errors(
            r"
            global:
              gpu_policy: fair
              firewall_mode: cloud
            network_policies:
              - 42
            "
        ),
        [
            "Missing required key: project_name",
            "Missing required key: domains"
        ]
    );
}

#[test]
fn only_the_missing_domains_key_is_reported() {
    assert_eq!(
        located_errors("project_name: demo\nglobal:\n  gpu_policy: fair\n"),
        ["infra.yml:1:1: Missing required key: domains"]
    );
}

#[test]
fn project_name_may_be_null_and_domains_may_be_empty() {
    for domains in ["domains:", "domains: {}", "domains: ~"] {
        let infra = valid(&format!("project_name:\nglobal: {{}}\n{domains}\n"));
        assert_eq!(infra.project_name, None);
        assert!(infra.domains.is_empty(), "{domains}");
        assert_eq!(infra.network_policies, None);
    }
}

// --------------------------------------------- §11 empty and null input

#[test]
fn an_empty_file_reports_the_three_missing_keys_at_its_start() {
    for text in ["", "\n", "# only a comment\n"] {
        let (infra, report) = load_str(text, FILE, &NestingContext::default());
        assert!(infra.is_none());
        let located: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            located,
            [
                "infra.yml:1:1: Missing required key: project_name",
                "infra.yml:1:1: Missing required key: global",
                "infra.yml:1:1: Missing required key: domains",
            ],
            "{text:?}"
        );
    }
}

#[test]
fn an_explicitly_empty_document_is_like_an_empty_file() {
    assert_eq!(
        errors("---\n"),
        [
            "Missing required key: project_name",
            "Missing required key: global",
            "Missing required key: domains",
        ]
    );
}

#[test]
fn a_top_level_that_is_not_a_mapping_is_a_clear_error() {
    assert_eq!(
        errors("- project_name\n- global\n"),
        ["the top level must be a mapping with project_name, global and domains, got list"]
    );
    assert_eq!(
        errors("42\n"),
        ["the top level must be a mapping with project_name, global and domains, got int"]
    );
}

#[test]
fn a_null_global_is_a_clear_error() {
    assert_eq!(
        errors("project_name: demo\nglobal:\ndomains: {}\n"),
        ["global must be a mapping, got null"]
    );
    assert_eq!(
        errors("project_name: demo\nglobal: [a]\ndomains: {}\n"),
        ["global must be a mapping, got list"]
    );
}

#[test]
fn a_null_domain_is_a_clear_error() {
    assert_eq!(
        errors(&with_domains("pro:\n")),
        ["Domain 'pro': must be a mapping, got null"]
    );
}

#[test]
fn a_null_machine_is_a_clear_error() {
    assert_eq!(
        errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web:
            "
        )),
        ["Machine 'web': must be a mapping, got null"]
    );
}

#[test]
fn domains_and_machines_of_the_wrong_shape_are_clear_errors() {
    assert_eq!(
        errors("project_name: demo\nglobal: {}\ndomains: [pro]\n"),
        ["domains must be a mapping of domain name to domain, got list"]
    );
    assert_eq!(
        errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines: [web]
            "
        )),
        ["Domain 'pro': machines must be a mapping of machine name to machine, got list"]
    );
}

#[test]
fn odd_documents_never_panic() {
    let inputs = [
        "",
        "~",
        "[]",
        "{}",
        "'text'",
        "project_name: [",
        "project_name: x\nglobal: 1\ndomains: 1\nnetwork_policies: 1\n",
        "project_name: x\nglobal: {}\ndomains: {pro: 1}\n",
        "project_name: x\nglobal: {}\ndomains: {pro: {machines: {web: []}}}\n",
        "project_name: x\nglobal: {}\ndomains: {pro: {subnet_id: 99999999999999999999}}\n",
        "project_name: x\nglobal: {}\ndomains: {~: {subnet_id: 1}}\n",
        "project_name: x\nglobal: {}\ndomains: {[a]: {subnet_id: 1}}\n",
        "project_name: x\nglobal: {firewall_mode: vm}\ndomains: {admin: ~}\n",
        "project_name: x\nglobal: {}\ndomains: {}\nnetwork_policies: [~, [], {from: [a]}]\n",
        "a: &a [*a]\n",
        "\u{feff}project_name: x\n",
    ];
    for text in inputs {
        let (infra, report) = load_str(text, FILE, &NestingContext::default());
        assert_eq!(infra.is_some(), report.errors.is_empty(), "{text:?}");
    }
}

// -------------------------------------------------------------- §2 global

#[test]
fn gpu_policy_must_be_exclusive_or_shared() {
    assert_eq!(
        errors("project_name: demo\nglobal:\n  gpu_policy: fair\ndomains: {}\n"),
        ["global.gpu_policy must be 'exclusive' or 'shared', got 'fair'"]
    );
}

#[test]
fn firewall_mode_must_be_host_or_vm() {
    assert_eq!(
        errors("project_name: demo\nglobal:\n  firewall_mode: cloud\ndomains: {}\n"),
        ["global.firewall_mode must be 'host' or 'vm', got 'cloud'"]
    );
}

#[test]
fn an_unquoted_base_subnet_read_as_a_number_is_rejected() {
    assert_eq!(
        located_errors("project_name: demo\nglobal:\n  base_subnet: 10.100\ndomains: {}\n"),
        [
            "infra.yml:3:16: global.base_subnet must be a quoted string of two octets like '10.100', got 10.100 (YAML reads an unquoted 10.100 as the number 10.1: quote it)"
        ]
    );
}

#[test]
fn a_base_subnet_that_is_not_two_octets_is_rejected() {
    assert_eq!(
        errors("project_name: demo\nglobal:\n  base_subnet: '10.300'\ndomains: {}\n"),
        ["global.base_subnet must be a quoted string of two octets like '10.100', got 10.300"]
    );
}

#[test]
fn global_defaults_apply_when_keys_are_absent() {
    let infra = valid("project_name: demo\nglobal: {}\ndomains: {}\n");
    assert_eq!(infra.project_name.as_deref(), Some("demo"));
    assert_eq!(infra.global.base_subnet, BaseSubnet::new(10, 100));
    assert_eq!(infra.global.base_subnet.to_string(), "10.100");
    assert_eq!(infra.global.default_os_image, None);
    assert_eq!(infra.global.default_connection, None);
    assert_eq!(infra.global.default_user, None);
    assert_eq!(infra.global.gpu_policy, GpuPolicy::Exclusive);
    assert_eq!(infra.global.firewall_mode, FirewallMode::Host);
}

#[test]
fn global_values_are_read_into_the_model() {
    let infra = valid(
        r#"
        project_name: demo
        global:
          base_subnet: "172.16"
          default_os_image: images:debian/13
          default_connection: community.general.incus
          default_user: root
          gpu_policy: shared
          firewall_mode: host
        domains: {}
        "#,
    );
    assert_eq!(infra.global.base_subnet, BaseSubnet::new(172, 16));
    assert_eq!(
        infra.global.default_os_image.as_deref(),
        Some("images:debian/13")
    );
    assert_eq!(
        infra.global.default_connection.as_deref(),
        Some("community.general.incus")
    );
    assert_eq!(infra.global.default_user.as_deref(), Some("root"));
    assert_eq!(infra.global.gpu_policy, GpuPolicy::Shared);
}

// ------------------------------------------------------------- §3 domains

#[test]
fn domain_names_must_be_lowercase_alphanumeric_and_hyphen() {
    for name in ["Pro", "-pro", "pro_lab", "pro.lab", "pró"] {
        let text = with_domains(&format!("{name}:\n  subnet_id: 1\n"));
        assert_eq!(
            errors(&text),
            [format!(
                "Domain '{name}': invalid name (lowercase alphanumeric + hyphen)"
            )],
            "{name}"
        );
    }
    for name in ["pro", "0lab", "pro-2"] {
        valid(&with_domains(&format!("{name}:\n  subnet_id: 1\n")));
    }
}

#[test]
fn a_domain_named_all_is_rejected() {
    assert_eq!(
        located_errors(&with_domains("all:\n  subnet_id: 1\n")),
        ["infra.yml:4:3: Domain 'all': reserved name (it would collide with group_vars/all.yml)"]
    );
}

#[test]
fn a_domain_without_subnet_id_is_reported_at_its_name() {
    assert_eq!(
        located_errors(&with_domains("pro:\n  description: work\n")),
        ["infra.yml:4:3: Domain 'pro': missing subnet_id"]
    );
}

#[test]
fn subnet_id_must_be_an_integer_from_0_to_254() {
    for bad in ["255", "-1", "1.5", "'3'", "abc", "[1]"] {
        let shown = bad.trim_matches('\'');
        assert_eq!(
            errors(&with_domains(&format!("pro:\n  subnet_id: {bad}\n"))),
            [format!(
                "Domain 'pro': subnet_id must be 0-254, got {shown}"
            )],
            "{bad}"
        );
    }
    for good in [0, 254] {
        let infra = valid(&with_domains(&format!("pro:\n  subnet_id: {good}\n")));
        assert_eq!(infra.domains[0].subnet_id, good);
    }
}

#[test]
fn a_boolean_subnet_id_is_rejected_not_read_as_one() {
    assert_eq!(
        errors(&with_domains("pro:\n  subnet_id: true\n")),
        ["Domain 'pro': subnet_id must be 0-254, got true"]
    );
}

#[test]
fn a_null_subnet_id_is_a_missing_subnet_id() {
    assert_eq!(
        errors(&with_domains("pro:\n  subnet_id:\n")),
        ["Domain 'pro': missing subnet_id"]
    );
    assert_eq!(
        errors(&with_domains("pro:\n  subnet_id: ~\n")),
        ["Domain 'pro': missing subnet_id"]
    );
}

#[test]
fn reused_subnet_id_names_the_first_domain() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
            perso:
              subnet_id: 1
            lab:
              subnet_id: 1
            "
        )),
        [
            "infra.yml:7:16: Domain 'perso': subnet_id 1 already used by 'pro'",
            "infra.yml:9:16: Domain 'lab': subnet_id 1 already used by 'pro'",
        ]
    );
}

#[test]
fn domain_ephemeral_must_be_a_boolean_named_by_python_type() {
    for (value, type_name) in [
        ("'yes'", "str"),
        ("maybe", "str"),
        ("1", "int"),
        ("0.5", "float"),
        ("[true]", "list"),
        ("{a: 1}", "dict"),
    ] {
        assert_eq!(
            errors(&with_domains(&format!(
                "pro:\n  subnet_id: 1\n  ephemeral: {value}\n"
            ))),
            [format!(
                "Domain 'pro': ephemeral must be a boolean, got {type_name}"
            )],
            "{value}"
        );
    }
}

#[test]
fn a_null_ephemeral_means_the_default() {
    let infra = valid(&with_domains(
        r"
        pro:
          subnet_id: 1
          ephemeral: ~
          machines:
            web: {ephemeral: null}
        lab:
          subnet_id: 2
          ephemeral: true
          machines:
            test:
              ephemeral:
        ",
    ));
    assert!(!infra.domains[0].ephemeral);
    assert!(!machine(&infra, "web").ephemeral);
    assert!(infra.domains[1].ephemeral);
    assert!(machine(&infra, "test").ephemeral, "inherited from 'lab'");
}

#[test]
fn yaml_1_1_booleans_are_read_where_a_boolean_is_expected() {
    for (word, expected) in [
        ("yes", true),
        ("no", false),
        ("on", true),
        ("off", false),
        ("Yes", true),
        ("OFF", false),
        ("true", true),
        ("False", false),
    ] {
        let infra = valid(&format!(
            "project_name: demo\nglobal: {{}}\ndomains:\n  pro:\n    subnet_id: 1\n    ephemeral: {word}\n    machines:\n      web:\n        ephemeral: {word}\n        gpu: {word}\nnetwork_policies:\n  - from: host\n    to: web\n    bidirectional: {word}\n"
        ));
        let web = machine(&infra, "web");
        assert_eq!(infra.domains[0].ephemeral, expected, "domain {word}");
        assert_eq!(web.ephemeral, expected, "machine {word}");
        assert_eq!(web.gpu, Some(expected), "gpu {word}");
        assert_eq!(web.has_gpu_access, expected, "gpu access {word}");
        let policy = &infra.network_policies.as_ref().expect("policies")[0];
        assert_eq!(policy.bidirectional, expected, "bidirectional {word}");
        assert_eq!(
            policy.raw.get("bidirectional"),
            Some(&Value::Bool(expected)),
            "raw bidirectional is normalised: {word}"
        );
    }
}

#[test]
fn a_domain_whose_bridge_name_is_too_long_is_an_error() {
    // 11 characters: net-<d> is 15, Linux's limit.
    assert!(
        check(&with_domains("abcdefghijk:\n  subnet_id: 1\n"))
            .0
            .is_some()
    );
    let (infra, report) = check(&with_domains("abcdefghijkl:\n  subnet_id: 1\n"));
    assert!(infra.is_none());
    assert_eq!(
        report
            .errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "infra.yml:4:3: Domain 'abcdefghijkl': name too long: at most 11 characters, since its bridge 'net-abcdefghijkl' must fit Linux's 15-character interface names (Incus refuses it; nftables would truncate it and two long domains would collide)"
        ]
    );
}

// ------------------------------------------------------------ §4 machines

#[test]
fn a_machine_name_reused_in_another_domain_names_the_first_domain() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web: {}
            perso:
              subnet_id: 2
              machines:
                web: {}
            "
        )),
        ["infra.yml:11:7: Machine 'web': duplicate (already in 'pro')"]
    );
}

#[test]
fn machine_type_must_be_lxc_or_vm() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web:
                  type: docker
            "
        )),
        ["infra.yml:8:15: Machine 'web': type must be 'lxc' or 'vm', got 'docker'"]
    );
}

#[test]
fn a_reused_ip_names_the_first_machine() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web: {ip: 10.100.1.10}
                db: {ip: 10.100.1.10}
                cache: {ip: 10.100.1.10}
            "
        )),
        [
            "infra.yml:8:16: Machine 'db': IP 10.100.1.10 already used by 'web'",
            "infra.yml:9:19: Machine 'cache': IP 10.100.1.10 already used by 'web'",
        ]
    );
}

#[test]
fn an_ip_outside_the_domain_subnet_is_rejected() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web:
                  ip: 10.100.2.10
            "
        )),
        ["infra.yml:8:13: Machine 'web': IP 10.100.2.10 not in subnet 10.100.1.0/24"]
    );
}

#[test]
fn the_subnet_in_messages_uses_the_configured_base() {
    assert_eq!(
        errors(
            r"
            project_name: demo
            global:
              base_subnet: '192.168'
            domains:
              pro:
                subnet_id: 7
                machines:
                  web: {ip: 10.100.7.10}
            "
        ),
        ["Machine 'web': IP 10.100.7.10 not in subnet 192.168.7.0/24"]
    );
}

#[test]
fn machine_ephemeral_must_be_a_boolean_named_by_python_type() {
    for (value, type_name) in [
        ("'no'", "str"),
        ("3", "int"),
        ("1.0", "float"),
        ("[]", "list"),
        ("{}", "dict"),
    ] {
        assert_eq!(
            errors(&with_domains(&format!(
                "pro:\n  subnet_id: 1\n  machines:\n    web:\n      ephemeral: {value}\n"
            ))),
            [format!(
                "Machine 'web': ephemeral must be a boolean, got {type_name}"
            )],
            "{value}"
        );
    }
}

#[test]
fn a_machine_profile_must_be_default_or_a_profile_of_its_own_domain() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              profiles:
                nvidia:
                  devices: {gpu: {type: gpu}}
            perso:
              subnet_id: 2
              profiles:
                small: {config: {limits.cpu: '1'}}
              machines:
                game:
                  profiles: [default, small, nvidia, ghost]
            "
        )),
        [
            "infra.yml:15:36: Machine 'game': profile 'nvidia' not defined in domain 'perso'",
            "infra.yml:15:44: Machine 'game': profile 'ghost' not defined in domain 'perso'",
        ]
    );
}

#[test]
fn gpu_must_be_a_boolean_and_the_string_false_is_an_error() {
    assert_eq!(
        located_errors(&with_domains(
            r#"
            pro:
              subnet_id: 1
              machines:
                web:
                  gpu: "false"
            "#
        )),
        ["infra.yml:8:14: Machine 'web': gpu must be a boolean, got str 'false'"]
    );
}

#[test]
fn the_string_false_never_counts_as_gpu_access() {
    // Two machines, one with a real GPU and one with the string "false":
    // only the invalid value is reported, not the exclusive GPU policy.
    assert_eq!(
        errors(&with_domains(
            r#"
            pro:
              subnet_id: 1
              machines:
                a: {gpu: true}
                b: {gpu: "false"}
            "#
        )),
        ["Machine 'b': gpu must be a boolean, got str 'false'"]
    );
}

#[test]
fn machine_names_are_exactly_those_incus_accepts() {
    let ok = check(&with_domains(
        "pro:\n  subnet_id: 1\n  machines:\n    0-db: {}\n    123-hotel: {}\n    a: {}\n    Web-01: {}\n",
    ));
    assert!(ok.0.is_some(), "{:?}", ok.1.errors);
    assert_eq!(
        errors(&with_domains(
            "pro:\n  subnet_id: 1\n  machines:\n    '007': {}\n    db.local: {}\n    Web_01: {}\n    -db: {}\n    db-: {}\n"
        )),
        [
            "Machine '007': invalid name (Incus: Name cannot be a number)",
            "Machine 'db.local': invalid name (Incus: Name can only contain alphanumeric and hyphen characters)",
            "Machine 'Web_01': invalid name (Incus: Name can only contain alphanumeric and hyphen characters)",
            "Machine '-db': invalid name (Incus: Name must not start with \"-\" character)",
            "Machine 'db-': invalid name (Incus: Name must not end with \"-\" character)",
        ]
    );
}

#[test]
fn an_empty_ip_means_no_static_address() {
    let infra = valid(&with_domains(
        "pro:\n  subnet_id: 1\n  machines:\n    a: {ip: ''}\n    b: {ip: ''}\n",
    ));
    for name in ["a", "b"] {
        let m = machine(&infra, name);
        assert_eq!((m.ip, m.ip_written_empty), (None, true), "{name}");
    }
}

#[test]
fn reserved_and_malformed_ips_are_rejected() {
    assert_eq!(
        errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                gw: {ip: 10.100.1.254}
                net: {ip: 10.100.1.0}
                odd: {ip: not-an-ip}
            "
        )),
        [
            "Machine 'gw': IP 10.100.1.254 is reserved in subnet 10.100.1.0/24 (network, gateway .254 or broadcast address)",
            "Machine 'net': IP 10.100.1.0 is reserved in subnet 10.100.1.0/24 (network, gateway .254 or broadcast address)",
            "Machine 'odd': IP not-an-ip is not an IPv4 address like 10.100.1.10",
        ]
    );
}

// --------------------------------------------------- §7 privileged LXC

fn privileged(instance_type: &str, value: &str) -> String {
    with_domains(&format!(
        "pro:\n  subnet_id: 1\n  machines:\n    web:\n      type: {instance_type}\n      config:\n        security.privileged: {value}\n"
    ))
}

#[test]
fn privileged_lxc_is_forbidden_without_a_vm_in_the_parent_chain() {
    let (infra, report) = check_in(&privileged("lxc", "true"), &nested(Some(false), false));
    assert!(infra.is_none());
    let located: Vec<String> = report.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        located,
        [format!("infra.yml:10:11: Machine 'web': {PRIVILEGED_MSG}")]
    );
    assert!(report.warnings.is_empty());
}

#[test]
fn privileged_lxc_under_yolo_is_only_a_warning() {
    let context = nested(Some(false), true);
    assert!(errors_in(&privileged("lxc", "true"), &context).is_empty());
    assert_eq!(
        warnings_in(&privileged("lxc", "true"), &context),
        [
            "YOLO: Machine 'web' has security.privileged=true on LXC without VM isolation. This is unsafe for production."
        ]
    );
}

#[test]
fn privileged_lxc_is_allowed_inside_a_vm_or_without_context() {
    for context in [
        nested(Some(true), false),
        nested(None, false),
        nested(None, true),
        NestingContext::default(),
    ] {
        let (infra, report) = check_in(&privileged("lxc", "true"), &context);
        assert!(infra.is_some(), "{context:?}: {:?}", report.errors);
        assert!(report.warnings.is_empty(), "{context:?}");
    }
}

#[test]
fn privileged_vms_are_always_allowed() {
    for context in [nested(Some(false), false), nested(Some(false), true)] {
        let (infra, report) = check_in(&privileged("vm", "true"), &context);
        assert!(infra.is_some(), "{:?}", report.errors);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }
}

#[test]
fn privileged_as_a_string_true_in_any_case_counts() {
    let context = nested(Some(false), false);
    for value in ["'true'", "\"TRUE\"", "'True'", "TRUE", "True"] {
        assert_eq!(
            errors_in(&privileged("lxc", value), &context),
            [format!("Machine 'web': {PRIVILEGED_MSG}")],
            "{value}"
        );
    }
    for value in ["false", "'false'", "'1'", "~"] {
        assert!(
            errors_in(&privileged("lxc", value), &context).is_empty(),
            "{value}"
        );
    }
}

#[test]
fn the_privileged_policy_applies_to_lxc_only_not_to_an_invalid_type() {
    assert_eq!(
        errors_in(&privileged("docker", "true"), &nested(Some(false), false)),
        ["Machine 'web': type must be 'lxc' or 'vm', got 'docker'"]
    );
}

// ------------------------------------------------------------- GPU policy

const GPU_DOMAINS: &str = "
  pro:
    subnet_id: 1
    profiles:
      nvidia:
        devices:
          gpu0: {type: gpu}
      plain:
        devices:
          root: {type: disk, path: /, pool: default}
    machines:
      ai:
        gpu: true
        profiles: [nvidia]
      render:
        profiles: [default, nvidia]
      web:
        profiles: [plain]
";

fn gpu_doc(policy: &str) -> String {
    format!("project_name: demo\nglobal:\n  gpu_policy: {policy}\ndomains:{GPU_DOMAINS}")
}

#[test]
fn exclusive_gpu_policy_rejects_two_instances_with_gpu_access() {
    let report = check(&gpu_doc("exclusive")).1;
    assert_eq!(report.errors.len(), 1);
    let error = &report.errors[0];
    assert_eq!(
        error.message,
        "GPU policy is 'exclusive' but 2 instances have GPU access: ai, render. Set global.gpu_policy: shared to allow this."
    );
    assert_eq!(error.location, None);
}

#[test]
fn shared_gpu_policy_warns_about_instances_sharing_a_gpu() {
    let infra = valid(&gpu_doc("shared"));
    assert_eq!(
        warnings(&gpu_doc("shared")),
        [
            "GPU policy is 'shared': 2 instances share GPU access (ai, render). No VRAM isolation on consumer GPUs."
        ]
    );
    assert!(machine(&infra, "ai").has_gpu_access);
    assert_eq!(machine(&infra, "ai").gpu, Some(true));
    assert!(
        machine(&infra, "render").has_gpu_access,
        "through its profile"
    );
    assert_eq!(machine(&infra, "render").gpu, None);
    assert!(!machine(&infra, "web").has_gpu_access);
}

#[test]
fn one_instance_with_gpu_access_is_fine_under_exclusive() {
    let (infra, report) = check(&with_domains(
        r"
        pro:
          subnet_id: 1
          profiles:
            nvidia: {devices: {gpu0: {type: gpu}}}
          machines:
            ai:
              gpu: true
              profiles: [nvidia, nvidia]
            web:
              gpu: false
        ",
    ));
    assert!(infra.is_some(), "{:?}", report.errors);
    assert!(report.warnings.is_empty());
}

// ---------------------------------------------------- §5 network policies

fn policies(items: &str) -> String {
    let items: String = yaml(items).lines().map(|l| format!("  {l}\n")).collect();
    format!(
        "project_name: demo\nglobal: {{}}\ndomains:\n  pro:\n    subnet_id: 1\n    machines:\n      web: {{}}\n  perso:\n    subnet_id: 2\nnetwork_policies:\n{items}"
    )
}

#[test]
fn a_policy_must_be_a_mapping() {
    assert_eq!(
        located_errors(&policies("- just-a-string\n- [from, to]\n")),
        [
            "infra.yml:11:5: network_policies[0]: must be a mapping",
            "infra.yml:12:5: network_policies[1]: must be a mapping",
        ]
    );
}

#[test]
fn a_policy_needs_from_and_to() {
    assert_eq!(
        errors(&policies(
            r"
            - from: host
            - to: pro
            - description: nothing
            "
        )),
        [
            "network_policies[0]: missing 'to'",
            "network_policies[1]: missing 'from'",
            "network_policies[2]: missing 'from'",
            "network_policies[2]: missing 'to'",
        ]
    );
}

#[test]
fn a_null_from_or_to_is_missing() {
    assert_eq!(
        errors(&policies("- from:\n  to: ~\n")),
        [
            "network_policies[0]: missing 'from'",
            "network_policies[0]: missing 'to'",
        ]
    );
}

#[test]
fn policy_references_must_be_a_domain_a_machine_or_host() {
    assert_eq!(
        located_errors(&policies(
            r"
            - from: nowhere
              to: Host
            "
        )),
        [
            "infra.yml:11:11: network_policies[0]: 'from: nowhere' is not a known domain, machine, or 'host'",
            "infra.yml:12:9: network_policies[0]: 'to: Host' is not a known domain, machine, or 'host'",
        ]
    );
}

#[test]
fn domains_machines_and_host_are_valid_references() {
    let infra = valid(&policies(
        r"
        - from: host
          to: pro
        - from: web
          to: perso
        ",
    ));
    let policies = infra.network_policies.expect("policies");
    assert_eq!(policies[0].from, Endpoint::Host);
    assert_eq!(policies[0].to, Endpoint::Domain("pro".into()));
    assert_eq!(
        policies[1].from,
        Endpoint::Machine {
            name: "web".into(),
            domain: "pro".into()
        }
    );
    assert_eq!(policies[1].from.domain(), Some("pro"));
    assert_eq!(policies[0].from.domain(), None);
}

#[test]
fn ports_must_be_a_list_or_all() {
    assert_eq!(
        errors(&policies(
            r"
            - {from: host, to: pro, ports: 80}
            - {from: host, to: pro, ports: ALL}
            - {from: host, to: pro, ports: {http: 80}}
            "
        )),
        [
            "network_policies[0]: ports must be a list or 'all'",
            "network_policies[1]: ports must be a list or 'all'",
            "network_policies[2]: ports must be a list or 'all'",
        ]
    );
}

#[test]
fn ports_must_be_integers_from_1_to_65535() {
    assert_eq!(
        located_errors(&policies(
            "- {from: host, to: pro, ports: [1, 0, 65536, \"80\", 65535, -5]}\n"
        )),
        [
            "infra.yml:11:38: network_policies[0]: invalid port 0 (must be 1-65535)",
            "infra.yml:11:41: network_policies[0]: invalid port 65536 (must be 1-65535)",
            "infra.yml:11:48: network_policies[0]: invalid port 80 (must be 1-65535)",
            "infra.yml:11:61: network_policies[0]: invalid port -5 (must be 1-65535)",
        ]
    );
}

#[test]
fn protocol_must_be_tcp_or_udp() {
    assert_eq!(
        errors(&policies("- {from: host, to: pro, protocol: icmp}\n")),
        ["network_policies[0]: protocol must be 'tcp' or 'udp', got 'icmp'"]
    );
    assert_eq!(
        errors(&policies("- {from: host, to: pro, protocol: TCP}\n")),
        ["network_policies[0]: protocol must be 'tcp' or 'udp', got 'TCP'"]
    );
}

#[test]
fn bidirectional_must_be_a_boolean() {
    assert_eq!(
        errors(&policies("- {from: host, to: pro, bidirectional: 'yes'}\n")),
        ["network_policies[0]: bidirectional must be a boolean, got str"]
    );
}

#[test]
fn one_policy_reports_from_to_ports_protocol_in_that_order() {
    assert_eq!(
        errors(&policies(
            r"
            - {from: host, to: pro}
            - protocol: icmp
              ports: [0]
              to: ghost
              from: phantom
            "
        )),
        [
            "network_policies[1]: 'from: phantom' is not a known domain, machine, or 'host'",
            "network_policies[1]: 'to: ghost' is not a known domain, machine, or 'host'",
            "network_policies[1]: invalid port 0 (must be 1-65535)",
            "network_policies[1]: protocol must be 'tcp' or 'udp', got 'icmp'",
        ]
    );
}

#[test]
fn policy_defaults_are_all_ports_tcp_one_way() {
    let infra = valid(&policies(
        r"
        - from: host
          to: pro
        - from: pro
          to: web
          ports: all
        - from: perso
          to: web
          ports: [22, 443]
          protocol: udp
          bidirectional: true
          description: ssh
        - from: perso
          to: pro
          ports: ~
          protocol: ~
        ",
    ));
    let policies = infra.network_policies.expect("policies");
    assert_eq!(policies.len(), 4);
    assert_eq!(policies[0].ports, Ports::All);
    assert_eq!(policies[0].protocol, Protocol::Tcp);
    assert!(!policies[0].bidirectional);
    assert_eq!(policies[0].description, None);
    assert_eq!(policies[1].ports, Ports::All);
    assert_eq!(policies[2].ports, Ports::List(vec![22, 443]));
    assert_eq!(policies[2].protocol, Protocol::Udp);
    assert!(policies[2].bidirectional);
    assert_eq!(policies[2].description.as_deref(), Some("ssh"));
    assert_eq!(policies[3].ports, Ports::All);
    assert_eq!(policies[3].protocol, Protocol::Tcp);
}

#[test]
fn an_empty_policy_list_is_kept_and_an_absent_one_is_none() {
    assert_eq!(
        valid("project_name: demo\nglobal: {}\ndomains: {}\nnetwork_policies: []\n")
            .network_policies,
        Some(vec![])
    );
    assert_eq!(
        valid("project_name: demo\nglobal: {}\ndomains: {}\n").network_policies,
        None
    );
}

#[test]
fn network_policies_must_be_a_list() {
    assert_eq!(
        errors("project_name: demo\nglobal: {}\ndomains: {}\nnetwork_policies: {from: host}\n"),
        ["network_policies must be a list, got dict"]
    );
}

#[test]
fn policies_cannot_name_the_auto_created_firewall_vm() {
    let (infra, report) = check(
        r"
        project_name: demo
        global:
          firewall_mode: vm
        domains:
          admin:
            subnet_id: 0
        network_policies:
          - from: admin
            to: sys-firewall
        ",
    );
    assert!(infra.is_none());
    let messages: Vec<&str> = report.errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["network_policies[0]: 'to: sys-firewall' is not a known domain, machine, or 'host'"]
    );
    assert!(
        report.notices.is_empty(),
        "no INFO line for an invalid infra"
    );
}

// ------------------------------------------------------- §6 firewall VM

const FIREWALL_VM_DOC: &str = r"
project_name: demo
global:
  base_subnet: '172.16'
  default_os_image: images:debian/13
  firewall_mode: vm
domains:
  admin:
    subnet_id: 3
    machines:
      ctl: {ip: 172.16.3.10}
  pro:
    subnet_id: 1
";

#[test]
fn firewall_vm_mode_adds_sys_firewall_to_the_admin_domain() {
    let infra = valid(FIREWALL_VM_DOC);
    let admin = infra.domain("admin").expect("admin");
    let names: Vec<&str> = admin.machines.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["ctl", "sys-firewall"], "appended last");
    assert!(infra.domain("pro").expect("pro").machines.is_empty());
    assert_eq!(
        machine(&infra, "sys-firewall"),
        &Machine {
            name: "sys-firewall".into(),
            domain: "admin".into(),
            description: "Centralized firewall VM (auto-created by generator)".into(),
            instance_type: InstanceType::Vm,
            ip: Some(Ipv4Addr::new(172, 16, 3, 253)),
            ip_written_empty: false,
            ephemeral: false,
            gpu: None,
            has_gpu_access: false,
            profiles: None,
            config: Some(Value::Map(vec![
                (Value::str("limits.cpu"), Value::str("2")),
                (Value::str("limits.memory"), Value::str("2GiB")),
            ])),
            devices: None,
            storage_volumes: None,
            roles: Some(vec!["base_system".into(), "firewall_router".into()]),
            os_image: Some("images:debian/13".into()),
            auto_created: true,
        }
    );
}

#[test]
fn firewall_vm_mode_prints_the_info_notice() {
    assert_eq!(
        notices(FIREWALL_VM_DOC),
        ["firewall_mode is 'vm' — auto-created sys-firewall in admin domain (ip: 172.16.3.253)"]
    );
    let report = report(FIREWALL_VM_DOC);
    assert_eq!(
        report.notices[0].location, None,
        "printed as a bare INFO line"
    );
    assert!(report.warnings.is_empty());
}

#[test]
fn the_firewall_vm_of_an_ephemeral_admin_domain_is_not_ephemeral() {
    let infra = valid(
        "project_name: demo\nglobal: {firewall_mode: vm}\ndomains:\n  admin: {subnet_id: 0, ephemeral: true}\n",
    );
    let firewall = machine(&infra, "sys-firewall");
    assert!(!firewall.ephemeral);
    assert_eq!(firewall.ip, Some(Ipv4Addr::new(10, 100, 0, 253)));
}

#[test]
fn a_user_declared_sys_firewall_wins_in_any_domain() {
    let text = r"
        project_name: demo
        global:
          firewall_mode: vm
        domains:
          admin:
            subnet_id: 0
          infra:
            subnet_id: 9
            machines:
              sys-firewall:
                type: lxc
                ip: 10.100.9.2
        network_policies:
          - from: admin
            to: sys-firewall
        ";
    let (infra, report) = check(text);
    let infra = infra.unwrap_or_else(|| panic!("{:?}", report.errors));
    assert!(report.notices.is_empty());
    assert!(infra.domain("admin").expect("admin").machines.is_empty());
    let firewall = machine(&infra, "sys-firewall");
    assert_eq!(firewall.domain, "infra");
    assert_eq!(firewall.instance_type, InstanceType::Lxc);
    assert!(!firewall.auto_created);
}

#[test]
fn a_user_declared_sys_firewall_needs_no_admin_domain() {
    let (infra, report) = check(
        &with_domains("infra:\n  subnet_id: 9\n  machines:\n    sys-firewall: {type: vm}\n")
            .replace("global: {}", "global: {firewall_mode: vm}"),
    );
    assert!(infra.is_some(), "{:?}", report.errors);
    assert!(report.notices.is_empty());
}

#[test]
fn firewall_vm_mode_without_an_admin_domain_is_an_error() {
    assert_eq!(
        located_errors(
            r"
            project_name: demo
            global:
              firewall_mode: vm
            domains:
              pro:
                subnet_id: 1
            "
        ),
        [
            "infra.yml:3:18: firewall_mode is 'vm' but no 'admin' domain exists. Cannot auto-create sys-firewall."
        ]
    );
}

#[test]
fn the_auto_created_firewall_ip_is_validated_like_any_other() {
    let report = report(
        r"
        project_name: demo
        global:
          firewall_mode: vm
        domains:
          admin:
            subnet_id: 0
            machines:
              gw: {ip: 10.100.0.253}
        ",
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert!(
        report.errors[0]
            .message
            .starts_with("Machine 'sys-firewall': IP 10.100.0.253 already used by 'gw'"),
        "{}",
        report.errors[0]
    );
    assert!(report.notices.is_empty());
}

#[test]
fn the_auto_created_firewall_ip_collision_has_the_exact_wording_and_a_location() {
    let report = report(
        r"
        project_name: demo
        global:
          firewall_mode: vm
        domains:
          admin:
            subnet_id: 0
            machines:
              gw: {ip: 10.100.0.253}
        ",
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(
        report.errors[0].message,
        "Machine 'sys-firewall': IP 10.100.0.253 already used by 'gw'"
    );
    assert!(report.errors[0].location.is_some());
}

#[test]
fn host_firewall_mode_adds_nothing() {
    let (infra, report) =
        check(&FIREWALL_VM_DOC.replace("firewall_mode: vm", "firewall_mode: host"));
    let infra = infra.expect("valid");
    assert!(infra.machine("sys-firewall").is_none());
    assert!(report.notices.is_empty());
}

// -------------------------------------------------- §7 order, collection

const MANY_ERRORS: &str = r"
project_name: demo
global:
  gpu_policy: fair
  firewall_mode: cloud
domains:
  Lab:
    subnet_id: 300
    ephemeral: maybe
  pro:
    subnet_id: 2
    profiles:
      big: {}
    machines:
      pro-a:
        ip: 10.100.2.10
      pro-b:
        ip: 10.100.2.10
        ephemeral: 3
        profiles: [missing]
        gpu: true
        config:
          security.privileged: true
  perso:
    subnet_id: 2
    ephemeral: [x]
    machines:
      pro-a:
        type: container
        ip: 10.100.9.9
network_policies:
  - oops
  - from: nowhere
    to: elsewhere
    ports: [0]
    protocol: icmp
";

#[test]
fn all_errors_are_collected_in_the_contract_order() {
    let errors = errors_in(MANY_ERRORS, &nested(Some(false), false));
    assert_eq!(
        errors,
        [
            "global.gpu_policy must be 'exclusive' or 'shared', got 'fair'".to_owned(),
            "global.firewall_mode must be 'host' or 'vm', got 'cloud'".to_owned(),
            "Domain 'Lab': invalid name (lowercase alphanumeric + hyphen)".to_owned(),
            "Domain 'Lab': subnet_id must be 0-254, got 300".to_owned(),
            "Domain 'Lab': ephemeral must be a boolean, got str".to_owned(),
            format!("Machine 'pro-b': {PRIVILEGED_MSG}"),
            "Machine 'pro-b': IP 10.100.2.10 already used by 'pro-a'".to_owned(),
            "Machine 'pro-b': ephemeral must be a boolean, got int".to_owned(),
            "Machine 'pro-b': profile 'missing' not defined in domain 'pro'".to_owned(),
            "Domain 'perso': subnet_id 2 already used by 'pro'".to_owned(),
            "Domain 'perso': ephemeral must be a boolean, got list".to_owned(),
            "Machine 'pro-a': duplicate (already in 'pro')".to_owned(),
            "Machine 'pro-a': type must be 'lxc' or 'vm', got 'container'".to_owned(),
            "Machine 'pro-a': IP 10.100.9.9 not in subnet 10.100.2.0/24".to_owned(),
            "network_policies[0]: must be a mapping".to_owned(),
            "network_policies[1]: 'from: nowhere' is not a known domain, machine, or 'host'"
                .to_owned(),
            "network_policies[1]: 'to: elsewhere' is not a known domain, machine, or 'host'"
                .to_owned(),
            "network_policies[1]: invalid port 0 (must be 1-65535)".to_owned(),
            "network_policies[1]: protocol must be 'tcp' or 'udp', got 'icmp'".to_owned(),
        ]
    );
}

#[test]
fn the_gpu_policy_is_checked_after_the_machines_and_before_the_policies() {
    let (_, report) = check(
        r"
        project_name: demo
        global: {}
        domains:
          pro:
            subnet_id: 1
            machines:
              a: {gpu: true}
              b: {gpu: true, ephemeral: 1}
        network_policies:
          - {from: host, to: c}
        ",
    );
    let messages: Vec<&str> = report.errors.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "Machine 'b': ephemeral must be a boolean, got int",
            "GPU policy is 'exclusive' but 2 instances have GPU access: a, b. Set global.gpu_policy: shared to allow this.",
            "network_policies[0]: 'to: c' is not a known domain, machine, or 'host'",
        ]
    );
}

#[test]
fn every_error_carries_a_location_in_the_input() {
    let (_, report) = check_in(MANY_ERRORS, &nested(Some(false), false));
    assert_eq!(report.errors.len(), 19);
    for error in &report.errors {
        let location = error.location.as_ref().expect("a location");
        assert_eq!(&*location.file, FILE);
        assert!(error.to_string().starts_with("infra.yml:"), "{error}");
    }
}

#[test]
fn errors_are_printed_with_their_exact_line_and_column() {
    let located: Vec<String> = check_in(MANY_ERRORS, &nested(Some(false), false))
        .1
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        located[..6],
        [
            "infra.yml:3:15: global.gpu_policy must be 'exclusive' or 'shared', got 'fair'"
                .to_owned(),
            "infra.yml:4:18: global.firewall_mode must be 'host' or 'vm', got 'cloud'".to_owned(),
            "infra.yml:6:3: Domain 'Lab': invalid name (lowercase alphanumeric + hyphen)"
                .to_owned(),
            "infra.yml:7:16: Domain 'Lab': subnet_id must be 0-254, got 300".to_owned(),
            "infra.yml:8:16: Domain 'Lab': ephemeral must be a boolean, got str".to_owned(),
            format!("infra.yml:22:11: Machine 'pro-b': {PRIVILEGED_MSG}"),
        ]
    );
    assert_eq!(
        located[11],
        "infra.yml:27:7: Machine 'pro-a': duplicate (already in 'pro')"
    );
    assert_eq!(
        located[14],
        "infra.yml:31:5: network_policies[0]: must be a mapping"
    );
    assert_eq!(
        located[15],
        "infra.yml:32:11: network_policies[1]: 'from: nowhere' is not a known domain, machine, or 'host'"
    );
}

#[test]
fn the_file_name_given_is_the_one_in_locations() {
    let (_, report) = load_str(
        "project_name: demo\nglobal: {gpu_policy: x}\ndomains: {}\n",
        "site/infra.yml",
        &NestingContext::default(),
    );
    assert_eq!(
        report.errors[0].to_string(),
        "site/infra.yml:2:22: global.gpu_policy must be 'exclusive' or 'shared', got 'x'"
    );
}

// --------------------------------------------------- §11 duplicate keys

#[test]
fn a_duplicate_domain_key_is_an_error_naming_the_key() {
    assert_eq!(
        located_errors(&with_domains(
            r"
            pro:
              subnet_id: 1
            pro:
              subnet_id: 2
            "
        )),
        ["infra.yml:6:3: duplicate key 'pro' (first defined at line 4)"]
    );
}

#[test]
fn duplicate_keys_are_reported_with_the_other_errors() {
    assert_eq!(
        errors(&with_domains(
            r"
            pro:
              subnet_id: 1
              machines:
                web:
                  ip: 10.100.1.10
                  ip: 10.100.1.11
                  type: docker
            "
        )),
        [
            "duplicate key 'ip' (first defined at line 8)",
            "Machine 'web': type must be 'lxc' or 'vm', got 'docker'",
        ]
    );
}

#[test]
fn a_duplicate_top_level_key_is_an_error() {
    assert_eq!(
        located_errors("project_name: a\nglobal: {}\nproject_name: b\ndomains: {}\n"),
        ["infra.yml:3:1: duplicate key 'project_name' (first defined at line 1)"]
    );
}

// ------------------------------------------------- §11 unknown-key hints

#[test]
fn a_misspelt_domain_key_is_warned_with_a_suggestion() {
    let report = report(&with_domains("pro:\n  subnetid: 1\n"));
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "infra.yml:5:5: unknown key 'subnetid' in domain 'pro', ignored (did you mean 'subnet_id'?)"
        ]
    );
    assert_eq!(report.errors[0].message, "Domain 'pro': missing subnet_id");
}

#[test]
fn unknown_keys_are_warned_everywhere_without_a_far_fetched_suggestion() {
    let text = r"
        project_name: demo
        global:
          gpu_polcy: shared
        domains:
          pro:
            subnet_id: 1
            machines:
              web:
                colour: red
                ephemral: true
        network_policy: []
        network_policies:
          - {from: host, to: pro, port: [22]}
        ";
    let (infra, report) = check(text);
    assert!(infra.is_some(), "{:?}", report.errors);
    let warnings: Vec<String> = report.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        [
            "infra.yml:11:1: unknown key 'network_policy' in the top level, ignored (did you mean 'network_policies'?)",
            "infra.yml:3:3: unknown key 'gpu_polcy' in global, ignored (did you mean 'gpu_policy'?)",
            "infra.yml:9:9: unknown key 'colour' in machine 'web', ignored",
            "infra.yml:10:9: unknown key 'ephemral' in machine 'web', ignored (did you mean 'ephemeral'?)",
            "infra.yml:13:27: unknown key 'port' in network_policies[0], ignored (did you mean 'ports'?)",
        ]
    );
}

// ------------------------------------------------------- typed model

#[test]
fn machines_get_the_contract_defaults() {
    let infra = valid(
        r"
        project_name: demo
        global:
          default_os_image: images:debian/13
        domains:
          pro:
            subnet_id: 1
            ephemeral: true
            machines:
              web: {}
              db:
                description: Database
                type: vm
                ip: 10.100.1.20
                ephemeral: false
                os_image: images:alpine/3.20
                roles: [base_system, postgres]
        ",
    );
    let pro = &infra.domains[0];
    assert_eq!(pro.description, "");
    assert!(pro.ephemeral);
    assert_eq!(infra.network(pro).subnet(), "10.100.1.0/24");
    assert_eq!(
        machine(&infra, "web"),
        &Machine {
            name: "web".into(),
            domain: "pro".into(),
            description: String::new(),
            instance_type: InstanceType::Lxc,
            ip: None,
            ip_written_empty: false,
            ephemeral: true,
            gpu: None,
            has_gpu_access: false,
            profiles: None,
            config: None,
            devices: None,
            storage_volumes: None,
            roles: None,
            os_image: Some("images:debian/13".into()),
            auto_created: false,
        }
    );
    let db = machine(&infra, "db");
    assert_eq!(db.description, "Database");
    assert_eq!(db.instance_type, InstanceType::Vm);
    assert_eq!(db.ip, Some(Ipv4Addr::new(10, 100, 1, 20)));
    assert!(!db.ephemeral);
    assert_eq!(db.os_image.as_deref(), Some("images:alpine/3.20"));
    assert_eq!(
        db.roles,
        Some(vec!["base_system".to_owned(), "postgres".to_owned()])
    );
    assert_eq!(
        infra.all_images(),
        ["images:alpine/3.20", "images:debian/13"]
    );
}

#[test]
fn without_a_default_image_a_machine_has_no_image() {
    let infra = valid(&with_domains(
        "pro:\n  subnet_id: 1\n  machines:\n    web: {}\n",
    ));
    assert_eq!(machine(&infra, "web").os_image, None);
}

#[test]
fn domains_and_machines_keep_the_input_order() {
    let infra = valid(&with_domains(
        r"
        zeta:
          subnet_id: 3
          machines:
            zz: {}
            aa: {}
        alpha:
          subnet_id: 1
          description: first letter
        ",
    ));
    let domains: Vec<&str> = infra.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(domains, ["zeta", "alpha"]);
    let machines: Vec<&str> = infra.machines().map(|m| m.name.as_str()).collect();
    assert_eq!(machines, ["zz", "aa"]);
    assert_eq!(infra.domains[1].description, "first letter");
}

#[test]
fn config_devices_and_profiles_are_kept_verbatim() {
    let infra = valid(&with_domains(
        r"
        pro:
          subnet_id: 1
          profiles:
            nvidia:
              devices:
                gpu0: {type: gpu}
          machines:
            web:
              profiles: [default, nvidia]
              config:
                limits.cpu: '2'
                boot.autostart: true
              devices:
                data: {type: disk, path: /srv}
              storage_volumes:
                data: {size: 10GiB}
        ",
    ));
    let pro = &infra.domains[0];
    assert_eq!(pro.profiles.len(), 1);
    assert_eq!(pro.profiles[0].name, "nvidia");
    assert_eq!(
        pro.profiles[0].body,
        Value::Map(vec![(
            Value::str("devices"),
            Value::Map(vec![(
                Value::str("gpu0"),
                Value::Map(vec![(Value::str("type"), Value::str("gpu"))])
            )])
        )])
    );
    let web = machine(&infra, "web");
    assert_eq!(
        web.profiles,
        Some(vec!["default".to_owned(), "nvidia".to_owned()])
    );
    assert!(web.has_gpu_access);
    assert_eq!(
        web.config,
        Some(Value::Map(vec![
            (Value::str("limits.cpu"), Value::str("2")),
            (Value::str("boot.autostart"), Value::Bool(true)),
        ]))
    );
    assert_eq!(
        web.devices
            .as_ref()
            .and_then(|d| d.get("data"))
            .and_then(|d| d.get("path")),
        Some(&Value::str("/srv"))
    );
    assert_eq!(
        web.storage_volumes
            .as_ref()
            .and_then(|v| v.get("data"))
            .and_then(|d| d.get("size")),
        Some(&Value::str("10GiB"))
    );
}

// ------------------------------------------------ §12 infra/ directory

const BASE: &str = r"
project_name: demo
global:
  base_subnet: '10.100'
domains:
  admin:
    subnet_id: 0
  pro:
    subnet_id: 1
network_policies:
  - from: host
    to: admin
";

#[test]
fn a_directory_without_base_yml_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    fs::create_dir(&dir).expect("mkdir");
    let error = load(&dir, &NestingContext::default()).expect_err("no base.yml");
    assert!(matches!(error, SourceError::MissingBase(_)), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!("{}/base.yml not found in infra directory.", dir.display())
    );
}

#[test]
fn domain_files_are_merged_after_base_in_file_name_order() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("domains/b-lab.yml"), "lab:\n  subnet_id: 3\n");
    write(
        &dir.join("domains/a-perso.yml"),
        "perso:\n  subnet_id: 2\nguest:\n  subnet_id: 4\n",
    );
    write(&dir.join("domains/notes.txt"), "ignored: {subnet_id: 9}\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert_eq!(loaded.source, InfraSource::Directory(dir.clone()));
    let infra = loaded.infra.expect("valid");
    let names: Vec<&str> = infra.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["admin", "pro", "perso", "guest", "lab"]);
    assert!(loaded.report.warnings.is_empty());
}

#[test]
fn a_redefined_domain_replaces_the_body_keeps_its_place_and_warns() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(
        &dir.join("domains/admin.yml"),
        "admin:\n  subnet_id: 5\n  machines:\n    ctl: {}\n",
    );
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    let infra = loaded.infra.expect("valid");
    let names: Vec<&str> = infra.domains.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["admin", "pro"]);
    assert_eq!(infra.domains[0].subnet_id, 5);
    assert_eq!(infra.domains[0].machines[0].name, "ctl");
    assert_eq!(loaded.report.warnings.len(), 1);
    let warning = &loaded.report.warnings[0];
    assert!(
        warning.message.starts_with("Domain 'admin' in ")
            && warning.message.contains("admin.yml")
            && warning.message.ends_with(" overrides existing definition."),
        "{warning}"
    );
    let location = warning.location.as_ref().expect("located");
    assert_eq!(
        (location.line, location.column),
        (1, 1),
        "at the redefinition"
    );
    assert!(location.file.ends_with("domains/admin.yml"), "{location}");
}

#[test]
fn the_override_warning_names_the_domain_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("domains/admin.yml"), "admin:\n  subnet_id: 5\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert_eq!(
        loaded.report.warnings[0].message,
        "Domain 'admin' in admin.yml overrides existing definition."
    );
}

#[test]
fn a_later_domain_file_overrides_an_earlier_one() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("domains/1.yml"), "lab:\n  subnet_id: 3\n");
    write(&dir.join("domains/2.yml"), "lab:\n  subnet_id: 4\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    let infra = loaded.infra.expect("valid");
    assert_eq!(infra.domain("lab").expect("lab").subnet_id, 4);
    assert_eq!(loaded.report.warnings.len(), 1);
    assert!(
        loaded.report.warnings[0]
            .message
            .starts_with("Domain 'lab' in ")
    );
}

#[test]
fn policies_yml_replaces_the_policies_of_base() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(
        &dir.join("policies.yml"),
        "network_policies:\n  - from: pro\n    to: host\n    ports: [22]\n",
    );
    let infra = load(&dir, &NestingContext::default())
        .expect("loads")
        .infra
        .expect("valid");
    let policies = infra.network_policies.expect("policies");
    assert_eq!(policies.len(), 1);
    assert_eq!(policies[0].from, Endpoint::Domain("pro".into()));
    assert_eq!(policies[0].to, Endpoint::Host);
    assert_eq!(policies[0].ports, Ports::List(vec![22]));
}

#[test]
fn the_directory_form_equals_the_single_file_form() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(
        &dir.join("base.yml"),
        "project_name: demo\nglobal:\n  default_os_image: images:debian/13\n",
    );
    write(
        &dir.join("domains/pro.yml"),
        "pro:\n  subnet_id: 1\n  machines:\n    web: {ip: 10.100.1.10}\n",
    );
    write(
        &dir.join("policies.yml"),
        "network_policies:\n  - {from: host, to: web, ports: [80]}\n",
    );
    let from_dir = load(&dir, &NestingContext::default())
        .expect("loads")
        .infra
        .expect("valid");
    let single = valid(
        r"
        project_name: demo
        global:
          default_os_image: images:debian/13
        domains:
          pro:
            subnet_id: 1
            machines:
              web: {ip: 10.100.1.10}
        network_policies:
          - {from: host, to: web, ports: [80]}
        ",
    );
    assert_eq!(from_dir, single);
}

#[test]
fn errors_in_a_domain_file_point_into_that_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("domains/lab.yml"), "lab:\n  subnet_id: 999\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert!(loaded.infra.is_none());
    let errors: Vec<String> = loaded
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [format!(
            "{}:2:14: Domain 'lab': subnet_id must be 0-254, got 999",
            dir.join("domains/lab.yml").display()
        )]
    );
}

#[test]
fn an_infra_yml_path_falls_back_to_the_infra_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    let loaded = load(&tmp.path().join("infra.yml"), &NestingContext::default()).expect("loads");
    assert_eq!(loaded.source, InfraSource::Directory(dir));
    assert_eq!(loaded.infra.expect("valid").domains.len(), 2);
}

#[test]
fn an_infra_directory_path_falls_back_to_infra_yml() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("infra.yml");
    write(&file, BASE);
    let loaded = load(&tmp.path().join("infra"), &NestingContext::default()).expect("loads");
    assert_eq!(loaded.source, InfraSource::File(file));
    assert_eq!(loaded.infra.expect("valid").domains.len(), 2);
}

#[test]
fn a_single_file_is_loaded_and_located_by_its_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = tmp.path().join("infra.yml");
    write(&file, &BASE.replace("subnet_id: 1", "subnet_id: 0"));
    let loaded = load(&file, &NestingContext::default()).expect("loads");
    let errors: Vec<String> = loaded
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [format!(
            "{}:8:16: Domain 'pro': subnet_id 0 already used by 'admin'",
            file.display()
        )]
    );
}

#[test]
fn a_path_that_is_neither_form_is_not_found() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let error =
        load(&tmp.path().join("infra.yml"), &NestingContext::default()).expect_err("nothing there");
    assert!(matches!(error, SourceError::NotFound(_)), "{error:?}");
}

#[test]
fn an_empty_base_yml_reports_the_missing_keys() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), "");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert!(loaded.infra.is_none());
    let messages: Vec<&str> = loaded
        .report
        .errors
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "Missing required key: project_name",
            "Missing required key: global",
            "Missing required key: domains",
        ]
    );
}

#[test]
fn an_empty_base_yml_with_domain_files_misses_project_name_and_global() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), "# nothing yet\n");
    write(&dir.join("domains/pro.yml"), "pro:\n  subnet_id: 1\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert!(loaded.infra.is_none());
    let messages: Vec<&str> = loaded
        .report
        .errors
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        messages,
        [
            "Missing required key: project_name",
            "Missing required key: global",
        ]
    );
}

#[test]
fn base_yml_may_leave_domains_to_the_domains_directory() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), "project_name: demo\nglobal: {}\n");
    write(&dir.join("domains/pro.yml"), "pro:\n  subnet_id: 1\n");
    let infra = load(&dir, &NestingContext::default())
        .expect("loads")
        .infra
        .expect("valid");
    assert_eq!(infra.domains.len(), 1);
}

#[test]
fn an_empty_domains_directory_means_no_domains() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), "project_name: demo\nglobal: {}\n");
    write(&dir.join("domains/empty.yml"), "");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    assert!(
        loaded.report.errors.is_empty(),
        "{:?}",
        loaded.report.errors
    );
    assert!(loaded.infra.expect("valid").domains.is_empty());
}

#[test]
fn a_domain_file_that_is_not_a_mapping_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("domains/lab.yml"), "- lab\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    let file = dir.join("domains/lab.yml");
    let errors: Vec<String> = loaded
        .report
        .errors
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [format!(
            "{0}:1:1: {0} must be a mapping of domain name to domain, got list",
            file.display()
        )]
    );
}

#[test]
fn a_policies_yml_without_network_policies_is_ignored_with_a_warning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("infra");
    write(&dir.join("base.yml"), BASE);
    write(&dir.join("policies.yml"), "policies: []\n");
    let loaded = load(&dir, &NestingContext::default()).expect("loads");
    let warnings: Vec<&str> = loaded
        .report
        .warnings
        .iter()
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        warnings,
        [format!(
            "{} has no network_policies key, ignored",
            dir.join("policies.yml").display()
        )]
    );
    let policies = loaded
        .infra
        .expect("valid")
        .network_policies
        .expect("base's");
    assert_eq!(policies[0].to, Endpoint::Domain("admin".into()));
}
