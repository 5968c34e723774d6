#!/usr/bin/env bash
# Prints the current infra's domains, one a line, from the anklume_domains
# list anklume-gen writes in BASE_DIR/group_vars/all.yml.
#   scripts/tree-domains.sh BASE_DIR
set -euo pipefail
all="${1:?usage: $0 BASE_DIR}/group_vars/all.yml"
[ -f "$all" ] || { echo "ERROR: no $all: run make sync first" >&2; exit 2; }
sed -n '/^anklume_domains:/,/^[^ ]/p' "$all" | sed -n 's/^  - *//p'
