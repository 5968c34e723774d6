#!/usr/bin/env bash
# `make destroy [D=<domain>] [YES=1]`: removes what apply built for the
# infra's domains (or the one named): instances, profiles, project, bridge.
# Lists it all first and asks for confirmation (YES=1 / --yes skips the
# question; without a terminal and without it, nothing is deleted).
#   scripts/destroy.sh [--yes] BASE_DIR [DOMAIN...]
set -uo pipefail
cd "$(dirname "$0")/.."

yes=no
[ "${1:-}" = --yes ] && { yes=yes; shift; }
base=${1:?usage: $0 [--yes] BASE_DIR [DOMAIN...]}
shift
if [ $# -gt 0 ]; then
    domains=("$@")
else
    mapfile -t domains < <(scripts/tree-domains.sh "$base") || exit 2
fi
[ ${#domains[@]} -gt 0 ] || { echo "No domains to destroy."; exit 0; }

found=0
echo "make destroy would delete:"
for d in "${domains[@]}"; do
    case "$d" in ''|default|*[!a-z0-9-]*) echo "ERROR: refusing domain name '$d'" >&2; exit 2 ;; esac
    if incus project show "$d" >/dev/null 2>&1; then
        found=1
        echo "  domain $d: project $d"
        incus list --project "$d" --format csv --columns ns4 |
            awk -F, '{ printf "    instance %s (%s)%s\n", $1, $2, ($3 == "" ? "" : " " $3) }'
        incus profile list --project "$d" --format csv --columns n | grep -vx default |
            sed 's/^/    profile /'
    fi
    if incus network show "net-$d" >/dev/null 2>&1; then
        found=1
        echo "  domain $d: bridge net-$d"
    fi
done
if [ "$found" = 0 ]; then
    echo "  nothing: none of ${domains[*]} exists in Incus."
    exit 0
fi

if [ "$yes" != yes ]; then
    if [ ! -t 0 ]; then
        echo "Not confirmed: nothing deleted. Run again with YES=1 (make destroy ... YES=1) to delete it." >&2
        exit 1
    fi
    read -r -p "Delete all of this? Type 'yes': " answer
    [ "$answer" = yes ] || { echo "Nothing deleted."; exit 1; }
fi
scripts/teardown-domains.sh "${domains[@]}" || {
    echo "ERROR: some of it could not be deleted: Incus's messages are above." >&2
    exit 1
}
echo "Deleted. The isolation table keeps entries for these bridges until the next"
echo "apply of an infra without them; a bridge that no longer exists matches no packet."
