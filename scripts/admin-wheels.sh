#!/usr/bin/env bash
# Downloads admin_bootstrap's pinned Python packages (Ansible, ansible-lint,
# yamllint and their dependencies) as wheels for Debian 12's Python 3.11 on
# x86_64, into DIR (default /var/cache/anklume/wheels/admin), on a machine
# that reaches PyPI. An admin machine without PyPI is then provisioned from
# that directory: bootstrap.sh --wheels DIR (docs/lifecycle.md).
# Idempotent: pip skips wheels already there.
#   scripts/admin-wheels.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/cache/anklume/wheels/admin}
defaults=$here/ansible/roles/admin_bootstrap/defaults/main.yml
[ -f "$defaults" ] || defaults=/usr/share/anklume/ansible/roles/admin_bootstrap/defaults/main.yml
mapfile -t pins < <(sed -n '/^admin_bootstrap_pip_packages:/,/^[^ ]/ s/^  - //p' "$defaults")
[ ${#pins[@]} -gt 0 ] || { echo "ERROR: no admin_bootstrap_pip_packages in $defaults" >&2; exit 1; }
pip=pip3
command -v "$pip" >/dev/null || pip="python3 -m pip"
mkdir -p "$dir"
# Wheels only (no sdist to build offline), for the admin machine's Python.
$pip download --quiet --disable-pip-version-check --dest "$dir" --only-binary=:all: \
    --implementation cp --python-version 3.11 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    "${pins[@]}"
echo "$(find "$dir" -name '*.whl' | wc -l) wheels for ${pins[*]} in $dir"
