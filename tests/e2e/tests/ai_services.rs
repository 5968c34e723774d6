//! `examples/ai-tools` applied end to end on real Debian containers
//! (anklume-test-debian, systemd), offline: the example's own infra.yml
//! with only the substitutions the test setting forces and two declared
//! additions (a speech-to-text machine, the stand-ins' policy), listed in
//! support/ai_example.rs. Stand-in artifacts (tests/e2e/fixtures/ai/
//! make_standins.py) are served by a small HTTP server the test starts on
//! the AI domain's gateway address, through the variables a user sets for
//! a mirror. anklume-gen wires every UI (Open WebUI, LobeChat, OpenCode)
//! to ai-ollama, and Open WebUI to the STT server. LobeChat is built once from its release
//! tarball with the release's pnpm (stand-ins of node, npm and pnpm run the
//! role's own build script). Each service enabled and answering, the UIs
//! reaching Ollama through the URL they were given, the secrets root-only
//! and out of the units, and a second run `changed=0`.
//!
//! Isolation is ON: the run applies anklume's table (`anklume-netd apply`,
//! one-shot) into the host's namespace, so the example's policies are in
//! force: pro-dev reaches ai-ollama:11434 and ai-opencode:4096, which they
//! open, and not ai-openwebui:3000, which none opens. The table is deleted
//! afterwards. When the host already has a table of someone else's, the
//! test leaves it alone and runs with isolation off (said on stderr), like
//! `make demo`.

#[path = "support/ai.rs"]
mod ai;
#[path = "support/ai_example.rs"]
mod ai_example;

use std::net::TcpListener;
use std::process::Command;

use ai::{HostTable, Server, http_get};
use ai_example::Example;
use anklume_e2e::{
    Infra, free_base_subnet, host_has_isolation_table, incus_exec, netd_bin, repo_root, tag,
};

const WEBUI_VERSION: &str = "0.12.4";
const SPEACHES_VERSION: &str = "0.8.3";
const LOBECHAT_VERSION: &str = "1.143.3";

// The example's machines, and the test's STT machine.
const OLLAMA: &str = "ai-ollama";
const WEBUI: &str = "ai-openwebui";
const LOBE: &str = "ai-lobechat";
const CODE: &str = "ai-opencode";
const DEV: &str = "pro-dev";
const STT: &str = "ai-stt";

#[test]
fn ai_tools_example_applies_offline() {
    let base = free_base_subnet();
    let isolate = !host_has_isolation_table();
    if !isolate {
        eprintln!(
            "the host already has table inet anklume (not this test's): it is left alone, \
             and this test runs with isolation off"
        );
    }
    let _table = HostTable { ours: isolate };
    // The stand-ins' server port, chosen now for the policies that open it.
    let port = TcpListener::bind(("0.0.0.0", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let example = Example::load(&tag(), &base, port);
    let (ai, pro) = (&example.ai, &example.pro);
    let infra = Infra::new(&example.yaml(), &example.domains());
    infra.sync();
    let ollama_url = format!("http://{}:11434", example.ip(OLLAMA));
    let stt_url = format!("http://{}:8000/v1", example.ip(STT));
    for ui in [WEBUI, LOBE, CODE] {
        let vars =
            std::fs::read_to_string(infra.tree().join(format!("host_vars/{ui}.yml"))).unwrap();
        assert!(
            vars.contains(&format!("ai_ollama_url: {ollama_url}\n")),
            "{ui}: {vars}"
        );
        assert_eq!(
            vars.contains(&format!("ai_stt_url: {stt_url}\n")),
            ui == WEBUI,
            "{ui}: {vars}"
        );
    }

    // Stand-ins, served on the AI domain's gateway (the host's address on
    // its bridge, which the apply creates; no NAT, nothing leaves this
    // machine).
    let gateway = example.gateway();
    let files = infra.dir.path().join("standins");
    let made = Command::new("python3")
        .arg(repo_root().join("tests/e2e/fixtures/ai/make_standins.py"))
        .arg(&files)
        .arg(WEBUI_VERSION)
        .arg(SPEACHES_VERSION)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", anklume_e2e::text(&made));
    let pip_wheel = String::from_utf8(made.stdout).unwrap().trim().to_owned();
    let sum = |name: &str| std::fs::read_to_string(files.join(name)).unwrap();
    let _server = Server::start(&files, &gateway, port);
    let mirror = format!("http://{gateway}:{port}");
    let mut vars = serde_json::json!({
        "ollama_server_archive_url": format!("{mirror}/ollama-linux-amd64.tgz"),
        "ollama_server_checksum": format!("sha256:{}", sum("ollama.sha256").trim()),
        "ollama_server_default_model": "tinyllama",
        "open_webui_wheel_dir": format!("{mirror}/wheels/"),
        "open_webui_pip_extra_args": ["--trusted-host", gateway],
        "open_webui_pip_wheel_url": format!("{mirror}/wheels/{pip_wheel}"),
        "stt_server_package": format!("speaches=={SPEACHES_VERSION}"),
        "stt_server_wheel_dir": format!("{mirror}/wheels/"),
        "stt_server_pip_extra_args": ["--trusted-host", gateway],
        "stt_server_pip_wheel_url": format!("{mirror}/wheels/{pip_wheel}"),
        "stt_server_compute_type": "float32",
        "opencode_server_tarball_url": format!("{mirror}/opencode-linux-x64.tgz"),
        "opencode_server_checksum": format!("sha512:{}", sum("opencode.sha512").trim()),
        "lobechat_registry_url": format!("{mirror}/npm"),
        "lobechat_tarball_url": format!("{mirror}/lobechat.tgz"),
        "lobechat_checksum": format!("sha512:{}", sum("lobechat.sha512").trim()),
        "lobechat_node_archive_url": format!("{mirror}/node-linux-x64.tar.gz"),
        "lobechat_node_checksum": format!("sha256:{}", sum("node.sha256").trim()),
    });
    let isolation = if isolate {
        serde_json::json!({
            "anklume_netd": netd_bin(),
            "anklume_infra": infra.dir.path().join("infra.yml"),
        })
    } else {
        serde_json::json!({"anklume_isolation": "off"})
    };
    vars.as_object_mut()
        .unwrap()
        .extend(isolation.as_object().unwrap().clone());
    let vars_file = infra.dir.path().join("ai-vars.json");
    std::fs::write(&vars_file, vars.to_string()).unwrap();
    let vars_arg = format!("@{}", vars_file.display());

    let first = infra.apply(&["-e", &vars_arg]);
    assert!(
        first
            .text
            .contains(&format!("Ollama on {OLLAMA}: no GPU visible")),
        "the role did not say GPU or CPU:\n{}",
        first.text
    );
    for (project, machine, unit) in [
        (ai, OLLAMA, "ollama"),
        (ai, WEBUI, "open-webui"),
        (ai, STT, "speaches"),
    ] {
        let state = incus_exec(
            project,
            machine,
            &format!("systemctl is-enabled {unit}; systemctl is-active {unit}"),
        );
        assert_eq!(state, "enabled\nactive\n", "{unit} on {machine}");
    }

    // Open WebUI, on its own address, reaches ai-ollama through the URL
    // the infra gave it and sees the pulled model; its STT server answers the transcription endpoint with the model and
    // compute type set.
    let settings = incus_exec(ai, WEBUI, "cat /etc/open-webui/open-webui.env");
    assert!(
        settings.contains(&format!("OLLAMA_BASE_URL={ollama_url}\n"))
            && settings.contains(&format!("AUDIO_STT_OPENAI_API_BASE_URL={stt_url}\n")),
        "{settings}"
    );
    let text = incus_exec(
        ai,
        WEBUI,
        &format!(
            "python3 -c 'import urllib.request as u; print(u.urlopen(\"{stt_url}/audio/transcriptions\", data=b\"RIFF\").read().decode())'"
        ),
    );
    assert!(
        text.contains("stand-in transcription")
            && text.contains("faster-whisper-small")
            && text.contains("float32"),
        "{text}"
    );
    let webui = format!("http://{}:3000", example.ip(WEBUI));
    let tags = http_get(ai, WEBUI, &format!("{webui}/ollama/api/tags"), "{}");
    assert!(tags.contains("tinyllama:latest"), "{tags}");

    // The secret: root only, and not in the unit.
    let secret = incus_exec(
        ai,
        WEBUI,
        "stat -c '%a %U' /etc/open-webui/secret.env; grep -c WEBUI_SECRET_KEY /etc/systemd/system/open-webui.service || true",
    );
    assert_eq!(secret, "600 root\n0\n");
    let key_before = incus_exec(ai, WEBUI, "cat /etc/open-webui/secret.env");

    // OpenCode: enabled, its Ollama provider on ai-ollama, its password
    // root-only and out of the unit, and required.
    let state = incus_exec(
        ai,
        CODE,
        "systemctl is-enabled opencode; systemctl is-active opencode; \
         stat -c '%a %U' /etc/opencode/secret.env; \
         grep -c OPENCODE_SERVER_PASSWORD= /etc/systemd/system/opencode.service || true",
    );
    assert_eq!(state, "enabled\nactive\n600 root\n0\n");
    let opencode = format!("http://{}:4096/config", example.ip(CODE));
    let config = incus_exec(
        ai,
        CODE,
        &format!(
            "python3 - <<'PY'
import base64, urllib.request as u, urllib.error as e
url = '{opencode}'
try:
    u.urlopen(url)
    print('open without a password')
except e.HTTPError as err:
    print('without password:', err.code)
pw = open('/etc/opencode/secret.env').read().strip().split('=', 1)[1]
auth = base64.b64encode(('opencode:' + pw).encode()).decode()
print(u.urlopen(u.Request(url, headers={{'Authorization': 'Basic ' + auth}})).read().decode())
PY"
        ),
    );
    assert!(config.contains("without password: 401"), "{config}");
    assert!(
        config.contains(&format!("\"baseURL\": \"{ollama_url}/v1\"")),
        "{config}"
    );
    let password_before = incus_exec(ai, CODE, "cat /etc/opencode/secret.env");

    // The example's policies, not an open network: pro-dev reaches the two
    // ports they open (OpenCode asks it for its password), and Open WebUI,
    // which answers in its own domain, is dropped from pro-dev.
    let from_dev = |url: &str| http_get(pro, DEV, url, "{}");
    let tags = from_dev(&format!("{ollama_url}/api/tags"));
    assert!(tags.contains("tinyllama:latest"), "{tags}");
    assert_eq!(from_dev(&opencode), "HTTP 401\n");
    let health = format!("{webui}/health");
    let same_domain = http_get(ai, LOBE, &health, "{}");
    assert!(same_domain.contains("status"), "{same_domain}");
    if isolate {
        let table = Command::new("nft")
            .args(["list", "table", "inet", "anklume"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(
            table.contains("comment \"anklume ruleset ")
                && table.contains(&format!("\"net-{pro}\""))
                && table.contains(&example.ip(DEV)),
            "no table, or not this infra's:\n{table}"
        );
        let across = from_dev(&health);
        assert!(
            across.starts_with("NO ANSWER"),
            "a flow no policy opens got through: {across}"
        );
    }

    // LobeChat: built once, as its own user, with the release's pnpm from
    // the registry given; its access code root-only and out of the unit;
    // its server reaches ai-ollama through the URL the infra gave it.
    let state = incus_exec(
        ai,
        LOBE,
        &format!(
            "systemctl is-enabled lobechat; systemctl is-active lobechat; \
             stat -c '%a %U' /etc/lobechat/secret.env; \
             grep -c ACCESS_CODE= /etc/systemd/system/lobechat.service || true; \
             cat /opt/lobechat/{LOBECHAT_VERSION}/app/BUILD-INFO; \
             test -e /opt/lobechat/{LOBECHAT_VERSION}/package/node_modules || echo cleaned; \
             stat -c %U /opt/lobechat/{LOBECHAT_VERSION}/app/.next/cache; \
             id -u lobechat"
        ),
    );
    let lobe_uid = state.lines().last().unwrap().to_owned();
    assert_eq!(
        state,
        format!(
            "enabled\nactive\n600 root\n0\n\
             pnpm 10.18.3 registry={mirror}/npm user={lobe_uid} npmrc-hoists-eslint=True\n\
             cleaned\nlobechat\n{lobe_uid}\n"
        )
    );
    assert_ne!(lobe_uid, "0", "the build ran as root");
    let settings = incus_exec(ai, LOBE, "cat /etc/lobechat/lobechat.env");
    let lobe_ip = example.ip(LOBE);
    assert!(
        settings.contains(&format!("OLLAMA_PROXY_URL={ollama_url}\n"))
            && settings.contains(&format!("HOSTNAME={lobe_ip}\nPORT=3210\n")),
        "{settings}"
    );
    let lobe_models = format!("http://{lobe_ip}:3210/webapi/models/ollama");
    assert_eq!(http_get(ai, LOBE, &lobe_models, "{}"), "HTTP 401\n");
    let code = incus_exec(ai, LOBE, "cut -d= -f2- /etc/lobechat/secret.env");
    let tags = http_get(
        ai,
        LOBE,
        &lobe_models,
        &format!("{{'X-Access-Code': '{}'}}", code.trim()),
    );
    assert!(tags.contains("tinyllama:latest"), "{tags}");
    let lobe_state = format!(
        "cat /etc/lobechat/secret.env; stat -c %Y /opt/lobechat/{LOBECHAT_VERSION}/app/.anklume-built"
    );
    let lobe_before = incus_exec(ai, LOBE, &lobe_state);

    let second = infra.apply(&["-e", &vars_arg]);
    assert_eq!(second.changed(), 0, "second run changed:\n{}", second.text);
    assert_eq!(
        incus_exec(ai, WEBUI, "cat /etc/open-webui/secret.env"),
        key_before,
        "the secret changed on the second run"
    );
    assert_eq!(
        incus_exec(ai, CODE, "cat /etc/opencode/secret.env"),
        password_before,
        "the password changed on the second run"
    );
    assert_eq!(
        incus_exec(ai, LOBE, &lobe_state),
        lobe_before,
        "LobeChat's access code or build changed on the second run"
    );
}
