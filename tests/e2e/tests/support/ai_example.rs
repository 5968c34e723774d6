//! `examples/ai-tools/infra.yml` as the AI services' end-to-end test
//! (ai_services.rs) applies it: read from the file, then only the
//! substitutions the test setting forces, each checked to still find what
//! it replaces (a changed example fails here, by name, not later):
//!
//! 1. `global.default_os_image` → `anklume-test-debian`, the cached test
//!    image (test hosts reach no image server);
//! 2. `global.base_subnet` and every address under it rebased onto the
//!    free base subnet the test was given (`free_base_subnet()`);
//! 3. the domains renamed to names of this run (`ai-tools` → `e2e<tag>ai`,
//!    `pro` → `e2e<tag>pro`), in the policies too: Incus projects and
//!    bridges are host-wide, and the harness tears the test's down by
//!    name. Machine names are kept (instances live in their project);
//! 4. the GPU taken out (no GPU on test hosts): `global.gpu_policy`,
//!    `ai-ollama`'s `gpu: true` and its `nvidia-compute` profile, which
//!    the domain declares; the Ollama role then says it runs on the CPU;
//! 5. the `admin` domain dropped: `admin_bootstrap` installs Ansible from
//!    PyPI (offline it needs a wheel directory, scripts/admin-wheels.sh),
//!    and it is no part of the AI stack; the bootstrap tests cover it.
//!
//! Then the test's declared additions:
//!
//! 6. a machine `ai-stt` (`stt_server`) in the AI domain: Open WebUI gets
//!    its speech-to-text URL wired (same domain: no policy needed);
//! 7. a policy opening the stand-ins' HTTP server (on the host, at the AI
//!    domain's gateway) to the AI domain, which fetches from it.
//!
//! `limits.memory` (16GiB on ai-ollama) is kept: for a container it is a
//! ceiling, not a reservation. The result is written as JSON, which is
//! YAML.

use serde_json::{Value, json};

use anklume_e2e::repo_root;

/// The example, substituted, and the names this run gave its domains.
pub struct Example {
    pub infra: Value,
    /// The base subnet it was moved onto.
    pub base: String,
    /// The example's `ai-tools` domain.
    pub ai: String,
    /// The example's `pro` domain.
    pub pro: String,
}

/// Host number of the test's speech-to-text machine (unused by the
/// example's AI domain).
const STT_HOST: u8 = 50;

impl Example {
    /// The example under run tag `tag` and base subnet `base`, with the
    /// stand-ins' server at port `mirror_port` of the AI domain's gateway.
    pub fn load(tag: &str, base: &str, mirror_port: u16) -> Self {
        let path = repo_root().join("examples/ai-tools/infra.yml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut infra: Value = serde_saphyr::from_str(&text).unwrap();
        let (ai, pro) = (format!("e2e{tag}ai"), format!("e2e{tag}pro"));
        let old_base = infra["global"]["base_subnet"].as_str().unwrap().to_owned();
        rebase(&mut infra, &old_base, base);

        let global = infra["global"].as_object_mut().unwrap();
        let image = global.insert("default_os_image".into(), json!("anklume-test-debian"));
        assert!(image.is_some(), "the example sets no default_os_image");
        let policy = global.remove("gpu_policy");
        assert!(policy.is_some(), "the example sets no gpu_policy");

        let domains = infra["domains"].as_object_mut().unwrap();
        assert!(domains.remove("admin").is_some(), "no admin domain");
        for (old, new) in [("ai-tools", &ai), ("pro", &pro)] {
            let domain = domains
                .remove(old)
                .unwrap_or_else(|| panic!("no domain {old}"));
            domains.insert(new.clone(), domain);
        }
        let tools = domains[&ai].as_object_mut().unwrap();
        let profiles = tools
            .remove("profiles")
            .expect("ai-tools declares no profile");
        assert_eq!(
            profiles.as_object().unwrap().keys().collect::<Vec<_>>(),
            ["nvidia-compute"],
            "ai-tools declares other profiles than the GPU's"
        );
        let ollama = tools["machines"]["ai-ollama"].as_object_mut().unwrap();
        assert_eq!(
            ollama.remove("gpu"),
            Some(json!(true)),
            "ai-ollama has no GPU"
        );
        let used = ollama["profiles"].as_array_mut().unwrap();
        used.retain(|p| p != "nvidia-compute");
        assert_eq!(*used, [json!("default")], "ai-ollama's other profiles");

        let subnet = &tools["subnet_id"];
        let stt = json!({
            "description": "Test addition: speech-to-text for Open WebUI",
            "type": "lxc",
            "ip": format!("{base}.{subnet}.{STT_HOST}"),
            "roles": ["stt_server"],
        });
        let machines = tools["machines"].as_object_mut().unwrap();
        assert!(machines.insert("ai-stt".into(), stt).is_none(), "ai-stt");

        let gateway = gateway(&infra, &ai, base);
        let policies = infra["network_policies"].as_array_mut().unwrap();
        for policy in policies.iter_mut() {
            for end in ["from", "to"] {
                let renamed = match policy[end].as_str() {
                    Some("ai-tools") => &ai,
                    Some("pro") => &pro,
                    _ => continue,
                };
                policy[end] = json!(renamed);
            }
        }
        policies.push(json!({
            "description": format!("Test addition: the stand-ins at {gateway}"),
            "from": ai, "to": "host", "ports": [mirror_port], "protocol": "tcp",
        }));
        Example {
            infra,
            base: base.to_owned(),
            ai,
            pro,
        }
    }

    /// The infra as written to the test's infra.yml.
    pub fn yaml(&self) -> String {
        format!(
            "# examples/ai-tools/infra.yml, substituted by tests/e2e/tests/support/ai_example.rs\n{}\n",
            serde_json::to_string_pretty(&self.infra).unwrap()
        )
    }

    /// Every domain of the infra (the test tears them down).
    pub fn domains(&self) -> Vec<&str> {
        self.infra["domains"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect()
    }

    /// The address of `machine`, wherever it is.
    pub fn ip(&self, machine: &str) -> String {
        self.infra["domains"]
            .as_object()
            .unwrap()
            .values()
            .find_map(|d| d["machines"][machine]["ip"].as_str())
            .unwrap_or_else(|| panic!("no machine {machine}"))
            .to_owned()
    }

    /// The gateway of the AI domain: where the stand-ins are served.
    pub fn gateway(&self) -> String {
        gateway(&self.infra, &self.ai, &self.base)
    }
}

/// The host's address on `domain`'s bridge.
fn gateway(infra: &Value, domain: &str, base: &str) -> String {
    format!("{base}.{}.254", infra["domains"][domain]["subnet_id"])
}

/// Every string equal to `old` or under `old.` moved to `new`.
fn rebase(value: &mut Value, old: &str, new: &str) {
    match value {
        Value::String(s) if s == old => *s = new.to_owned(),
        Value::String(s) if s.starts_with(&format!("{old}.")) => {
            *s = format!("{new}{}", &s[old.len()..]);
        }
        Value::Array(items) => items.iter_mut().for_each(|v| rebase(v, old, new)),
        Value::Object(map) => map.values_mut().for_each(|v| rebase(v, old, new)),
        _ => {}
    }
}
