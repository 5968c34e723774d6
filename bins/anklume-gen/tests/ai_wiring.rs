//! The AI services' URLs in host_vars: derived from the infra, inside the
//! managed block (a user's variables below it stay), and a warning naming
//! the policy to add when a UI cannot reach its Ollama.

mod common;

use common::Scratch;

const INFRA: &str = "project_name: t
global: {base_subnet: \"10.100\"}
domains:
  llm:
    subnet_id: 1
    machines:
      gpu-box: {ip: 10.100.1.10, roles: [ollama_server]}
  work:
    subnet_id: 2
    machines:
      chat: {ip: 10.100.2.10, roles: [open_webui]}
";

#[test]
fn sync_warns_without_the_policy_and_wires_with_it() {
    let s = Scratch::new();
    s.write("infra.yml", INFRA);
    let run = s.sync_ok(&[]);
    assert!(
        run.stderr.contains(
            "WARNING: Machine 'chat' needs ollama_server but no machine with it is in reach"
        ) && run
            .stderr
            .contains("{from: chat, to: gpu-box, ports: [11434], protocol: tcp}"),
        "{}",
        run.stderr
    );
    assert!(!s.read("out/host_vars/chat.yml").contains("ai_ollama_url"));

    // The user's own override below the managed block survives re-syncs.
    let chat = s.read("out/host_vars/chat.yml");
    s.write(
        "out/host_vars/chat.yml",
        &format!("{chat}open_webui_port: 8080\n"),
    );
    s.write(
        "infra.yml",
        &format!("{INFRA}network_policies:\n  - {{from: chat, to: gpu-box, ports: [11434]}}\n"),
    );
    let run = s.sync_ok(&[]);
    assert!(!run.stderr.contains("in reach"), "{}", run.stderr);
    let chat = s.read("out/host_vars/chat.yml");
    let end = chat.find("# === END MANAGED ===").unwrap();
    let url = chat
        .find("ai_ollama_url: http://10.100.1.10:11434\n")
        .unwrap();
    assert!(url < end, "{chat}");
    assert!(chat.ends_with("open_webui_port: 8080\n"), "{chat}");
    assert!(!s.read("out/host_vars/gpu-box.yml").contains("ai_"));
}

#[test]
fn sync_warns_when_the_ollama_across_domains_has_no_ip() {
    let s = Scratch::new();
    s.write(
        "infra.yml",
        &format!(
            "{}network_policies:\n  - {{from: chat, to: gpu-box, ports: [11434]}}\n",
            INFRA.replace("gpu-box: {ip: 10.100.1.10, ", "gpu-box: {")
        ),
    );
    let run = s.sync_ok(&[]);
    assert!(
        run.stderr.contains(
            "WARNING: Machine 'chat' reaches ollama_server on 'gpu-box' in another domain, but 'gpu-box' has no ip"
        ),
        "{}",
        run.stderr
    );
}
