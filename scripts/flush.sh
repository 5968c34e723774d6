#!/usr/bin/env bash
# `make flush [YES=1] [FORCE=1]`: removes everything anklume made for the
# current infra (the domains listed in BASE_DIR/group_vars/all.yml by the
# last sync): each domain's instances, profiles, project and bridge
# net-<domain>, then the isolation table inet anklume when it is anklume's
# (when anklume-netd runs and owns it, the daemon withdraws it over D-Bus
# and keeps none until its next Apply or reload; see scripts/nft-table.sh).
# Never the default project, nor a project, bridge or instance the infra
# does not name; never a file (infra, roles_custom/, the generated tree).
#
# Without --force:
#   - machines protected against deletion (ephemeral: false) stay, with
#     their domain's project, profiles and bridge, and the table;
#   - a production host (absolute nesting level 0) is refused. The level
#     is $ANKLUME_CONTEXT_DIR/absolute_level (default /etc/anklume); when
#     that file is missing, `systemd-detect-virt` answering "none" (bare
#     metal), or not being there to ask, means level 0.
# It lists what it will delete and asks for a typed "yes" (--yes skips).
#
#   scripts/flush.sh [--yes] [--force] BASE_DIR
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

yes=() force=no
while [ $# -gt 0 ]; do
    case "$1" in
        --yes) yes=(--yes) ;;
        --force) force=yes ;;
        -*) echo "usage: $0 [--yes] [--force] BASE_DIR" >&2; exit 2 ;;
        *) break ;;
    esac
    shift
done
base=${1:?usage: $0 [--yes] [--force] BASE_DIR}

# The absolute nesting level of this host (ADR-020).
level() {
    local file="${ANKLUME_CONTEXT_DIR:-/etc/anklume}/absolute_level" virt
    if [ -f "$file" ]; then
        tr -d '[:space:]' <"$file"
        return
    fi
    virt=$(systemd-detect-virt 2>/dev/null) || virt=none
    if [ "$virt" = none ]; then echo 0; else echo "1 ($virt, no $file)"; fi
}

lvl=$(level)
if [ "${lvl%% *}" = 0 ] && [ "$force" != yes ]; then
    echo "ERROR: this is a production host (absolute nesting level 0): make flush refuses here." >&2
    echo "  It would delete every domain of the infra. If that is what you want: make flush FORCE=1" >&2
    echo "  (FORCE=1 also deletes protected machines, ephemeral: false)." >&2
    exit 1
fi

keep=(--keep-protected)
[ "$force" = yes ] && keep=()
exec scripts/destroy.sh "${yes[@]}" "${keep[@]}" --table --as "make flush" "$base"
