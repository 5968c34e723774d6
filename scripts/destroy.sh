#!/usr/bin/env bash
# `make destroy [D=<domain>] [YES=1]`: removes what apply built for the
# infra's domains (or the one named): instances, profiles, project, bridge.
# Lists it all first and asks for confirmation (YES=1 / --yes skips the
# question; without a terminal and without it, nothing is deleted).
# `make flush` (scripts/flush.sh) runs this too, with --keep-protected and
# --table; see docs/lifecycle.md.
#   scripts/destroy.sh [--yes] [--keep-protected] [--table] [--as NAME] BASE_DIR [DOMAIN...]
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

yes=no keep=no table=no as="make destroy"
while [ $# -gt 0 ]; do
    case "$1" in
        --yes) yes=yes ;;
        --keep-protected) keep=yes ;;
        --table) table=yes ;;
        --as) as=${2:?--as needs a name}; shift ;;
        *) break ;;
    esac
    shift
done
base=${1:?usage: $0 [--yes] [--keep-protected] [--table] [--as NAME] BASE_DIR [DOMAIN...]}
shift
if [ $# -gt 0 ]; then
    domains=("$@")
else
    mapfile -t domains < <(scripts/tree-domains.sh "$base") || exit 2
fi

# The host's isolation table, when asked: what to do with it (scripts/nft-table.sh).
table_action=none
[ "$table" = yes ] && table_action=$(scripts/nft-table.sh plan)

[ ${#domains[@]} -gt 0 ] || [ "$table_action" = delete ] || [ "$table_action" = netd ] ||
    { echo "No domains to destroy."; exit 0; }

found=0
kept=0
echo "$as would delete:"
for d in "${domains[@]}"; do
    case "$d" in ''|default|*[!a-z0-9-]*) echo "ERROR: refusing domain name '$d'" >&2; exit 2 ;; esac
    if incus project show "$d" >/dev/null 2>&1; then
        found=1
        echo "  domain $d: project $d"
        while IFS=, read -r name state ip; do
            [ -n "$name" ] || continue
            mark=""
            if [ "$keep" = yes ] &&
                [ "$(incus config get --project "$d" "$name" security.protection.delete 2>/dev/null)" = true ]; then
                mark=" — KEPT: protected (ephemeral: false); --force deletes it"
                kept=1
            fi
            echo "    instance $name ($state)${ip:+ $ip}$mark"
        done < <(incus list --project "$d" --format csv --columns ns4)
        incus profile list --project "$d" --format csv --columns n | grep -vx default |
            sed 's/^/    profile /'
    fi
    if incus network show "net-$d" >/dev/null 2>&1; then
        found=1
        echo "  domain $d: bridge net-$d"
    fi
done
case "$table_action" in
    delete|netd)
        if [ "$kept" = 1 ]; then
            table_action="kept-for-protected"
            echo "  (table inet anklume: kept, since protected machines stay and it isolates them)"
        elif [ "$table_action" = netd ]; then
            found=1
            echo "  the isolation table inet anklume, $(scripts/nft-table.sh why netd)"
        else
            found=1
            echo "  the isolation table inet anklume (its comment names an anklume ruleset)"
        fi ;;
    *) [ "$table_action" = none ] || echo "  (table inet anklume: $(scripts/nft-table.sh why "$table_action"))" ;;
esac
if [ "$found" = 0 ]; then
    echo "  nothing: none of ${domains[*]} exists in Incus."
    exit 0
fi

if [ "$yes" != yes ]; then
    if [ ! -t 0 ]; then
        echo "Not confirmed: nothing deleted. Run again with YES=1 (${as} ... YES=1) to delete it." >&2
        exit 1
    fi
    read -r -p "Delete all of this? Type 'yes': " answer
    [ "$answer" = yes ] || { echo "Nothing deleted."; exit 1; }
fi
status=0
if [ ${#domains[@]} -gt 0 ]; then
    keep_arg=()
    [ "$keep" = yes ] && keep_arg=(--keep-protected)
    scripts/teardown-domains.sh "${keep_arg[@]}" "${domains[@]}" || {
        echo "ERROR: some of it could not be deleted: Incus's messages are above." >&2
        status=1
    }
fi
case "$table_action" in
    delete) scripts/nft-table.sh delete || status=1 ;;
    netd) scripts/nft-table.sh withdraw || status=1 ;;
esac
[ "$status" = 0 ] || exit 1
echo "Deleted."
if [ "$table" != yes ]; then
    echo "The isolation table keeps entries for these bridges until the next"
    echo "apply of an infra without them; a bridge that no longer exists matches no packet."
fi
