use std::path::Path;

use anklume_infra::{NestingContext, load_str, load_valid};

use super::*;

fn infra(text: &str) -> Infra {
    let (infra, report) = load_str(text, "infra.yml", &NestingContext::default());
    infra.unwrap_or_else(|| panic!("{:?}", report.errors))
}

fn example(name: &str) -> Infra {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(name)
        .join("infra.yml");
    load_valid(&path, &NestingContext::default()).unwrap()
}

fn vars(infra: &Infra, machine: &str) -> Vec<(&'static str, String)> {
    host_vars_entries(infra, infra.machine(machine).unwrap())
}

const TWO_DOMAINS: &str = "project_name: t
global: {base_subnet: \"10.100\"}
domains:
  llm:
    subnet_id: 1
    machines:
      gpu-box: {ip: 10.100.1.10, roles: [ollama_server]}
      speech: {ip: 10.100.1.11, roles: [stt_server]}
  work:
    subnet_id: 2
    machines:
      chat: {ip: 10.100.2.10, roles: [open_webui]}
      code: {ip: 10.100.2.11, roles: [opencode_server]}
";

#[test]
fn another_domain_without_a_policy_is_out_of_reach_and_named() {
    let infra = infra(TWO_DOMAINS);
    assert_eq!(vars(&infra, "chat"), []);
    let missing = unreachable(&infra);
    let text: Vec<String> = missing.iter().map(ToString::to_string).collect();
    assert_eq!(missing.len(), 3, "{text:?}");
    assert!(
        text[0].contains("Machine 'chat' needs ollama_server")
            && text[0].contains("{from: chat, to: gpu-box, ports: [11434], protocol: tcp}"),
        "{}",
        text[0]
    );
    assert!(
        text[1].contains("{from: chat, to: speech, ports: [8000], protocol: tcp}"),
        "{}",
        text[1]
    );
    assert!(text[2].starts_with("Machine 'code' needs ollama_server"));
}

#[test]
fn a_policy_that_opens_the_port_wires_across_domains() {
    let text = format!(
        "{TWO_DOMAINS}network_policies:
  - {{from: work, to: gpu-box, ports: [11434]}}
  - {{from: speech, to: chat, ports: all, bidirectional: true}}
"
    );
    let infra = infra(&text);
    assert_eq!(
        vars(&infra, "chat"),
        [
            ("ai_ollama_url", "http://10.100.1.10:11434".to_owned()),
            ("ai_stt_url", "http://10.100.1.11:8000/v1".to_owned()),
        ]
    );
    // opencode has no STT client role: only Ollama.
    assert_eq!(
        vars(&infra, "code"),
        [("ai_ollama_url", "http://10.100.1.10:11434".to_owned())]
    );
    assert_eq!(unreachable(&infra), []);
}

#[test]
fn wrong_port_protocol_or_direction_does_not_open() {
    for policy in [
        "{from: work, to: gpu-box, ports: [11435]}",
        "{from: work, to: gpu-box, ports: [11434], protocol: udp}",
        "{from: gpu-box, to: work, ports: [11434]}",
        "{from: host, to: gpu-box, ports: [11434]}",
    ] {
        let infra = infra(&format!("{TWO_DOMAINS}network_policies:\n  - {policy}\n"));
        assert_eq!(vars(&infra, "code"), [], "{policy}");
        assert!(
            unreachable(&infra).iter().any(|u| u.machine == "code"),
            "{policy}"
        );
    }
}

#[test]
fn same_machine_beats_same_domain_beats_a_policy() {
    let infra = infra(
        "project_name: t
global: {base_subnet: \"10.100\"}
domains:
  a:
    subnet_id: 1
    machines:
      far: {ip: 10.100.1.10, roles: [ollama_server]}
  b:
    subnet_id: 2
    machines:
      near: {ip: 10.100.2.10, roles: [ollama_server]}
      ui: {ip: 10.100.2.11, roles: [lobechat]}
      both: {roles: [ollama_server, open_webui]}
network_policies:
  - {from: b, to: a, ports: all}
",
    );
    assert_eq!(
        vars(&infra, "ui"),
        [("ai_ollama_url", "http://10.100.2.10:11434".to_owned())]
    );
    assert_eq!(
        vars(&infra, "both"),
        [("ai_ollama_url", "http://127.0.0.1:11434".to_owned())]
    );
}

#[test]
fn no_server_at_all_writes_nothing_and_warns_nothing() {
    let infra = infra(
        "project_name: t
global: {base_subnet: \"10.100\"}
domains:
  a:
    subnet_id: 1
    machines:
      ui: {roles: [open_webui]}
",
    );
    assert_eq!(vars(&infra, "ui"), []);
    assert_eq!(unreachable(&infra), []);
}

#[test]
fn the_examples_wire_every_ui_to_its_ollama() {
    let ai = example("ai-tools");
    for ui in ["ai-openwebui", "ai-lobechat", "ai-opencode"] {
        assert_eq!(
            vars(&ai, ui),
            [("ai_ollama_url", "http://10.100.1.10:11434".to_owned())],
            "{ui}"
        );
    }
    assert_eq!(vars(&ai, "ai-ollama"), []);
    assert_eq!(unreachable(&ai), []);
    // Every role it names is shipped (lobechat included): make apply
    // refuses none of them.
    assert_eq!(
        crate::roles::unknown_roles(&ai, Path::new("/nonexistent/roles_custom")),
        []
    );

    let pro = example("pro-workstation");
    assert_eq!(
        vars(&pro, "homelab-webui"),
        [("ai_ollama_url", "http://10.100.3.10:11434".to_owned())]
    );
    assert_eq!(unreachable(&pro), []);

    // No UI there: the supervisor calls the APIs itself, nothing to write.
    let sup = example("llm-supervisor");
    assert!(sup.machines().all(|m| vars(&sup, &m.name).is_empty()));
    assert_eq!(unreachable(&sup), []);
}

#[test]
fn lobechat_gets_its_ollama_across_domains_but_no_stt() {
    let text = format!(
        "{TWO_DOMAINS}      lobe: {{ip: 10.100.2.12, roles: [lobechat]}}
network_policies:
  - {{from: lobe, to: llm, ports: [11434, 8000]}}
"
    );
    let infra = infra(&text);
    assert_eq!(
        vars(&infra, "lobe"),
        [("ai_ollama_url", "http://10.100.1.10:11434".to_owned())]
    );
    // The policy names lobe only: the other UIs of its domain stay out.
    let all = unreachable(&infra);
    let missing: Vec<&str> = all.iter().map(|u| u.machine.as_str()).collect();
    assert!(!missing.contains(&"lobe"), "{missing:?}");
    assert!(missing.contains(&"chat"), "{missing:?}");

    // Without the policy: warned, with the policy to add.
    let infra = infra_without_policies(&text);
    let warning = unreachable(&infra)
        .into_iter()
        .find(|u| u.machine == "lobe")
        .expect("lobe not warned about");
    assert_eq!(warning.service, Service::Ollama);
    assert!(
        warning
            .to_string()
            .contains("{from: lobe, to: gpu-box, ports: [11434], protocol: tcp}"),
        "{warning}"
    );
}

fn infra_without_policies(text: &str) -> Infra {
    infra(&text[..text.find("network_policies:").unwrap()])
}

#[test]
fn a_server_without_ip_across_domains_is_named_and_one_in_the_domain_is_fine() {
    let text = "project_name: t
global: {base_subnet: \"10.100\"}
domains:
  llm:
    subnet_id: 1
    machines:
      gpu-box: {roles: [ollama_server]}
      speech: {roles: [stt_server]}
      near: {roles: [open_webui]}
  work:
    subnet_id: 2
    machines:
      chat: {ip: 10.100.2.10, roles: [open_webui]}
network_policies:
  - {from: work, to: llm, ports: [11434, 8000]}
";
    let infra = infra(text);
    // Wired by name all the same (a user may resolve it otherwise).
    assert_eq!(
        vars(&infra, "chat")[0],
        ("ai_ollama_url", "http://gpu-box:11434".to_owned())
    );
    let found = unaddressed(&infra);
    assert_eq!(
        found
            .iter()
            .map(|n| (n.machine.as_str(), n.service, n.server.as_str()))
            .collect::<Vec<_>>(),
        [
            ("chat", Service::Ollama, "gpu-box"),
            ("chat", Service::Stt, "speech")
        ],
        "the same-domain UI 'near' is not named"
    );
    let said = found[0].to_string();
    assert!(
        said.contains("give 'gpu-box' a static ip") && said.contains("host_vars/chat.yml"),
        "{said}"
    );
    // With an ip, nothing to say.
    assert_eq!(unaddressed(&example("ai-tools")), []);
}
