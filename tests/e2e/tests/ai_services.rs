//! The AI service roles on real Debian containers (anklume-test-debian,
//! systemd), offline: stand-in artifacts (tests/e2e/fixtures/ai/
//! make_standins.py) served by a small HTTP server the test starts on its
//! own bridge's gateway address, through the variables a user sets for a
//! mirror. Ollama and Speaches sit in one domain, Open WebUI, LobeChat and
//! OpenCode in another; the infra's policies open 11434 and 8000 to them,
//! so anklume-gen wires the UIs to both. LobeChat is built once from its
//! release tarball with the release's pnpm (stand-ins of node, npm and
//! pnpm run the role's own build script). Each service enabled and answering,
//! the UIs reaching their servers, the secrets root-only and out of the
//! units, and a second run `changed=0`.
//!
//! Isolation is ON: the run applies anklume's table (`anklume-netd apply`,
//! one-shot) into the host's namespace, so the cross-domain flows work
//! only because the policies open them; a flow no policy opens is checked
//! to be dropped. The table is deleted afterwards. When the host already
//! has a table of someone else's, the test leaves it alone and runs with
//! isolation off (said on stderr), like `make demo`.

#[path = "support/ai.rs"]
mod ai;

use std::net::TcpListener;
use std::process::Command;

use ai::{HostTable, Server, http_get};
use anklume_e2e::{
    Infra, free_base_subnet, host_has_isolation_table, incus_exec, netd_bin, repo_root, tag,
};

const WEBUI_VERSION: &str = "0.12.4";
const SPEACHES_VERSION: &str = "0.8.3";
const LOBECHAT_VERSION: &str = "1.143.3";

#[test]
fn ai_services_across_domains_offline() {
    let t = tag();
    let (dl, dw) = (format!("e2e{t}l"), format!("e2e{t}w"));
    let (ol, st, ui) = (format!("{dl}-ol"), format!("{dl}-st"), format!("{dw}-ui"));
    let (oc, lc) = (format!("{dw}-oc"), format!("{dw}-lc"));
    let base = free_base_subnet();
    let isolate = !host_has_isolation_table();
    if !isolate {
        eprintln!(
            "the host already has table inet anklume (not this test's): it is left alone, \
             and this test runs with isolation off"
        );
    }
    let _table = HostTable { ours: isolate };
    // The stand-ins' server, on the Ollama domain's gateway: its port is
    // chosen now, for the policies that open it to the test domains.
    let gateway = format!("{base}.5.254");
    let port = TcpListener::bind(("0.0.0.0", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let yaml = format!(
        "project_name: e2e
global:
  base_subnet: \"{base}\"
  default_os_image: anklume-test-debian
domains:
  {dl}:
    subnet_id: 5
    ephemeral: true
    machines:
      {ol}: {{type: lxc, ip: \"{base}.5.10\", roles: [ollama_server]}}
      {st}: {{type: lxc, ip: \"{base}.5.11\", roles: [stt_server]}}
  {dw}:
    subnet_id: 6
    ephemeral: true
    machines:
      {ui}: {{type: lxc, ip: \"{base}.6.10\", roles: [open_webui]}}
      {oc}: {{type: lxc, ip: \"{base}.6.11\", roles: [opencode_server]}}
      {lc}: {{type: lxc, ip: \"{base}.6.12\", roles: [lobechat]}}
network_policies:
  - {{from: {ui}, to: {ol}, ports: [11434], protocol: tcp}}
  - {{from: {dw}, to: {st}, ports: [8000], protocol: tcp}}
  - {{from: {oc}, to: {dl}, ports: [11434], protocol: tcp}}
  - {{from: {lc}, to: {ol}, ports: [11434], protocol: tcp}}
  - {{from: {dl}, to: host, ports: [{port}], protocol: tcp}}
  - {{from: {dw}, to: host, ports: [{port}], protocol: tcp}}
"
    );
    let infra = Infra::new(&yaml, &[&dl, &dw]);
    infra.sync();
    let host_vars =
        std::fs::read_to_string(infra.tree().join(format!("host_vars/{ui}.yml"))).unwrap();
    let ollama_url = format!("http://{base}.5.10:11434");
    assert!(
        host_vars.contains(&format!("ai_ollama_url: {ollama_url}\n")),
        "{host_vars}"
    );
    assert!(
        host_vars.contains(&format!("ai_stt_url: http://{base}.5.11:8000/v1\n")),
        "{host_vars}"
    );
    infra.apply(&["--tags", "infra", "-e", "anklume_isolation=off"]);

    // Stand-ins, served on the Ollama domain's gateway (the host's address
    // on the test bridge; no NAT, nothing leaves this machine).
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
    let sha256 = std::fs::read_to_string(files.join("ollama.sha256")).unwrap();
    let sha512 = std::fs::read_to_string(files.join("opencode.sha512")).unwrap();
    let lobe_sha512 = std::fs::read_to_string(files.join("lobechat.sha512")).unwrap();
    let node_sha256 = std::fs::read_to_string(files.join("node.sha256")).unwrap();
    let _server = Server(
        Command::new("python3")
            .args(["-m", "http.server", "--bind", &gateway, &port.to_string()])
            .arg("--directory")
            .arg(&files)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mirror = format!("http://{gateway}:{port}");
    let mut vars = serde_json::json!({
        "ollama_server_archive_url": format!("{mirror}/ollama-linux-amd64.tgz"),
        "ollama_server_checksum": format!("sha256:{}", sha256.trim()),
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
        "opencode_server_checksum": format!("sha512:{}", sha512.trim()),
        "lobechat_registry_url": format!("{mirror}/npm"),
        "lobechat_tarball_url": format!("{mirror}/lobechat.tgz"),
        "lobechat_checksum": format!("sha512:{}", lobe_sha512.trim()),
        "lobechat_node_archive_url": format!("{mirror}/node-linux-x64.tar.gz"),
        "lobechat_node_checksum": format!("sha256:{}", node_sha256.trim()),
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
            .contains(&format!("Ollama on {ol}: no GPU visible")),
        "the role did not say GPU or CPU:\n{}",
        first.text
    );

    let state = incus_exec(
        &dl,
        &ol,
        "systemctl is-enabled ollama; systemctl is-active ollama",
    );
    assert_eq!(state, "enabled\nactive\n");
    let state = incus_exec(
        &dw,
        &ui,
        "systemctl is-enabled open-webui; systemctl is-active open-webui",
    );
    assert_eq!(state, "enabled\nactive\n");

    let state = incus_exec(
        &dl,
        &st,
        "systemctl is-enabled speaches; systemctl is-active speaches",
    );
    assert_eq!(state, "enabled\nactive\n");

    // The UI, on its own address, reaches the Ollama of the other domain
    // through the URL the infra gave it, and sees the pulled model.
    let settings = incus_exec(&dw, &ui, "cat /etc/open-webui/open-webui.env");
    assert!(
        settings.contains(&format!("OLLAMA_BASE_URL={ollama_url}\n")),
        "{settings}"
    );
    let stt_url = format!("http://{base}.5.11:8000/v1");
    assert!(
        settings.contains(&format!("AUDIO_STT_OPENAI_API_BASE_URL={stt_url}\n")),
        "{settings}"
    );
    // From the UI's machine, the STT server of the other domain answers
    // the transcription endpoint with the model and compute type set.
    let text = incus_exec(
        &dw,
        &ui,
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
    let tags = incus_exec(
        &dw,
        &ui,
        &format!(
            "python3 -c 'import urllib.request as u; print(u.urlopen(\"http://{base}.6.10:3000/ollama/api/tags\").read().decode())'"
        ),
    );
    assert!(tags.contains("tinyllama:latest"), "{tags}");

    // The secret: root only, and not in the unit.
    let secret = incus_exec(
        &dw,
        &ui,
        "stat -c '%a %U' /etc/open-webui/secret.env; grep -c WEBUI_SECRET_KEY /etc/systemd/system/open-webui.service || true",
    );
    assert_eq!(secret, "600 root\n0\n");
    let key_before = incus_exec(&dw, &ui, "cat /etc/open-webui/secret.env");

    // OpenCode: enabled, its Ollama provider on the other domain's Ollama,
    // its password root-only and out of the unit, and required.
    let state = incus_exec(
        &dw,
        &oc,
        "systemctl is-enabled opencode; systemctl is-active opencode; \
         stat -c '%a %U' /etc/opencode/secret.env; \
         grep -c OPENCODE_SERVER_PASSWORD= /etc/systemd/system/opencode.service || true",
    );
    assert_eq!(state, "enabled\nactive\n600 root\n0\n");
    let config = incus_exec(
        &dw,
        &oc,
        &format!(
            "python3 - <<'PY'
import base64, urllib.request as u, urllib.error as e
url = 'http://{base}.6.11:4096/config'
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
    let password_before = incus_exec(&dw, &oc, "cat /etc/opencode/secret.env");

    // The policies, not an open network: the host has this infra's table,
    // and Open WebUI, which its own domain reaches, is dropped from the
    // Ollama domain (no policy opens dl -> dw).
    if isolate {
        let table = Command::new("nft")
            .args(["list", "table", "inet", "anklume"])
            .output()
            .unwrap();
        let table = String::from_utf8_lossy(&table.stdout);
        assert!(
            table.contains("comment \"anklume ruleset ")
                && table.contains(&format!("\"net-{dw}\""))
                && table.contains(&format!("{base}.6.12")),
            "no table, or not this infra's:\n{table}"
        );
        let health = format!("http://{base}.6.10:3000/health");
        let same_domain = http_get(&dw, &lc, &health, "{}");
        assert!(same_domain.contains("status"), "{same_domain}");
        let across = http_get(&dl, &ol, &health, "{}");
        assert!(
            across.starts_with("NO ANSWER"),
            "a flow no policy opens got through: {across}"
        );
    }

    // LobeChat: built once, as its own user, with the release's pnpm from
    // the registry given; its access code root-only and out of the unit;
    // its server reaches the other domain's Ollama through the URL the
    // infra gave it.
    let state = incus_exec(
        &dw,
        &lc,
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
    let settings = incus_exec(&dw, &lc, "cat /etc/lobechat/lobechat.env");
    assert!(
        settings.contains(&format!("OLLAMA_PROXY_URL={ollama_url}\n"))
            && settings.contains(&format!("HOSTNAME={base}.6.12\nPORT=3210\n")),
        "{settings}"
    );
    let lobe_models = format!("http://{base}.6.12:3210/webapi/models/ollama");
    assert_eq!(http_get(&dw, &lc, &lobe_models, "{}"), "HTTP 401\n");
    let code = incus_exec(&dw, &lc, "cut -d= -f2- /etc/lobechat/secret.env");
    let tags = http_get(
        &dw,
        &lc,
        &lobe_models,
        &format!("{{'X-Access-Code': '{}'}}", code.trim()),
    );
    assert!(tags.contains("tinyllama:latest"), "{tags}");
    let lobe_before = incus_exec(
        &dw,
        &lc,
        &format!(
            "cat /etc/lobechat/secret.env; stat -c %Y /opt/lobechat/{LOBECHAT_VERSION}/app/.anklume-built"
        ),
    );

    let second = infra.apply(&["-e", &vars_arg]);
    assert_eq!(second.changed(), 0, "second run changed:\n{}", second.text);
    assert_eq!(
        incus_exec(&dw, &ui, "cat /etc/open-webui/secret.env"),
        key_before,
        "the secret changed on the second run"
    );
    assert_eq!(
        incus_exec(&dw, &oc, "cat /etc/opencode/secret.env"),
        password_before,
        "the password changed on the second run"
    );
    assert_eq!(
        incus_exec(
            &dw,
            &lc,
            &format!(
                "cat /etc/lobechat/secret.env; stat -c %Y /opt/lobechat/{LOBECHAT_VERSION}/app/.anklume-built"
            ),
        ),
        lobe_before,
        "LobeChat's access code or build changed on the second run"
    );
}
