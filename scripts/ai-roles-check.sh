#!/usr/bin/env bash
# The AI service roles against the REAL upstream artifacts (the e2e test,
# tests/e2e/tests/ai_services.rs, uses offline stand-ins). For a host with
# internet access, Incus and the Ansible venv (scripts/install-ansible.sh);
# downloads about 4 GB (Ollama release, Open WebUI and its dependencies,
# OpenCode, Node.js and LobeChat's build dependencies; the LobeChat build
# takes minutes and about 8 GiB of memory). stt_server is left out: the pinned Speaches needs Python 3.12,
# which Debian 12 lacks (see docs/ai-services.md).
# Builds a throw-away domain with NAT (default: aichk, subnet 10.199.1.0/24)
# holding Ollama, Open WebUI, LobeChat and OpenCode machines, applies, checks
# that Ollama answers /api/tags, that Open WebUI answers /health and reaches
# Ollama, that LobeChat answers on 3210 wired to it,
# that a second run changes nothing, then removes the domain.
#
#   scripts/ai-roles-check.sh [--keep] [IMAGE]   (IMAGE: images:debian/12)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
keep=false
[ "${1:-}" = --keep ] && { keep=true; shift; }
image=${1:-images:debian/12}
domain=${AICHK_DOMAIN:-aichk}
base=${AICHK_BASE:-10.199}
venv=${ANKLUME_VENV:-/var/cache/anklume/venv}
gen=${ANKLUME_GEN:-$(command -v anklume-gen || echo "$root/target/release/anklume-gen")}
work=$(mktemp -d)

cleanup() {
    if ! $keep; then "$root/scripts/teardown-domains.sh" "$domain" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/infra.yml" <<YAML
project_name: ai-roles-check
global:
  base_subnet: "$base"
  default_os_image: "$image"
domains:
  $domain:
    subnet_id: 1
    ephemeral: true
    nat: true
    machines:
      $domain-ollama: {type: lxc, ip: "$base.1.10", roles: [base_system, ollama_server]}
      $domain-webui: {type: lxc, ip: "$base.1.20", roles: [base_system, open_webui]}
      $domain-lobe: {type: lxc, ip: "$base.1.30", roles: [base_system, lobechat]}
      $domain-code: {type: lxc, ip: "$base.1.40", roles: [base_system, opencode_server]}
YAML

"$gen" sync "$work/infra.yml" --base-dir "$work/tree"
grep -q "ai_ollama_url: http://$base.1.10:11434" "$work/tree/host_vars/$domain-webui.yml"

play() {
    ANSIBLE_CONFIG="$root/ansible/ansible.cfg" "$venv/bin/ansible-playbook" \
        -i "$work/tree/inventory" "$root/ansible/site.yml" \
        -e anklume_isolation=off -e ollama_server_default_model=all-minilm
}

start=$(date +%s)
play | tee "$work/first.log"
echo "first apply: $(( $(date +%s) - start )) s"

incus exec "$domain-ollama" --project "$domain" -- \
    python3 -c "import urllib.request as u; print(u.urlopen('http://$base.1.10:11434/api/tags').read().decode())" \
    | grep -q all-minilm
incus exec "$domain-webui" --project "$domain" -- \
    python3 -c "import urllib.request as u; print(u.urlopen('http://$base.1.20:3000/health').read().decode())"
incus exec "$domain-lobe" --project "$domain" -- systemctl is-active lobechat
incus exec "$domain-lobe" --project "$domain" -- grep -q "OLLAMA_PROXY_URL=http://$base.1.10:11434" /etc/lobechat/lobechat.env
incus exec "$domain-lobe" --project "$domain" -- \
    python3 -c "import urllib.request as u; print(u.urlopen('http://$base.1.30:3210/').status)"
incus exec "$domain-code" --project "$domain" -- grep -q "http://$base.1.10:11434/v1" /etc/opencode/opencode.json
incus exec "$domain-code" --project "$domain" -- systemctl is-active opencode
incus exec "$domain-webui" --project "$domain" -- grep -q "OLLAMA_BASE_URL=http://$base.1.10:11434" /etc/open-webui/open-webui.env

play | tee "$work/second.log"
if grep -E ' : ok=' "$work/second.log" | grep -vq 'changed=0 '; then
    echo "FAIL: the second run changed something" >&2
    exit 1
fi
echo "OK: ollama_server, open_webui, lobechat and opencode_server with the upstream artifacts"
