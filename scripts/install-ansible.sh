#!/usr/bin/env bash
# Installs the controller's Ansible (pinned in ansible/requirements.txt:
# ansible with its bundled community.general, ansible-lint, yamllint) into
# a venv, from PyPI; nothing from Ansible Galaxy. Idempotent: a venv whose
# stamp matches the requirements is left alone.
#
#   scripts/install-ansible.sh           install or update the venv
#   scripts/install-ansible.sh --path    print the venv's directory
#
# The venv: $ANKLUME_VENV, default /var/cache/anklume/venv (root) or
# ~/.cache/anklume/venv.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${ANKLUME_VENV:-}" ]; then
    if [ "$(id -u)" -eq 0 ]; then ANKLUME_VENV=/var/cache/anklume/venv
    else ANKLUME_VENV="${XDG_CACHE_HOME:-$HOME/.cache}/anklume/venv"; fi
fi
if [ "${1:-}" = "--path" ]; then
    echo "$ANKLUME_VENV"
    exit 0
fi

REQ=ansible/requirements.txt
STAMP="$ANKLUME_VENV/.anklume-requirements"
if [ -x "$ANKLUME_VENV/bin/ansible-playbook" ] && cmp -s "$REQ" "$STAMP"; then
    exit 0
fi

if ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then
    echo "Installing python3-venv"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-venv
fi
echo "Installing Ansible into $ANKLUME_VENV (pinned in $REQ)"
mkdir -p "$(dirname "$ANKLUME_VENV")"
/usr/bin/python3 -m venv "$ANKLUME_VENV"
"$ANKLUME_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
cp "$REQ" "$STAMP"
echo "Ansible ready: $("$ANKLUME_VENV/bin/ansible-playbook" --version | head -1)"
