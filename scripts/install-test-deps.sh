#!/usr/bin/env bash
# Installs what the test suite needs on Debian 12, and nothing when it is
# already there. Run by `make test`; safe to run again.
#   - a Rust toolchain (cargo >= 1.89) must already be present;
#   - python3-yaml: Ansible's YAML reader, used to cross-check generated files.
set -euo pipefail

need_packages=()
[ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null || need_packages+=(python3 python3-yaml)

if ! command -v cargo >/dev/null 2>&1; then
    echo "ERROR: cargo not found. Install a Rust toolchain >= 1.89 (https://rustup.rs) and retry." >&2
    exit 1
fi

if [ ${#need_packages[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${need_packages[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need_packages[@]}"
fi
echo "Test dependencies present."
