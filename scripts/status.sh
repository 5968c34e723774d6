#!/usr/bin/env bash
# `make status`: the infra's domains, instances and addresses, the
# isolation state (table in force vs the infra's) and snapshots, in one
# screen.
#   scripts/status.sh BASE_DIR INFRA NETD
set -uo pipefail
cd "$(dirname "$0")/.."
base=${1:?usage: $0 BASE_DIR INFRA NETD} infra=${2:?} netd=${3:?}

mapfile -t domains < <(scripts/tree-domains.sh "$base") || exit 2
echo "anklume status: $infra (tree: $base)"
printf '\n%-14s %-16s %-9s %-22s %-9s %-22s %s\n' DOMAIN BRIDGE "" INSTANCE STATE IPV4 SNAPSHOTS
for d in "${domains[@]}"; do
    if incus network show "net-$d" >/dev/null 2>&1; then bridge=present; else bridge=MISSING; fi
    rows=$(incus list --project "$d" --format csv --columns nsS4 2>/dev/null)
    if [ -z "$rows" ]; then
        printf '%-14s %-16s %-9s %s\n' "$d" "net-$d" "$bridge" "(no instance)"
        continue
    fi
    while IFS=, read -r name state snaps ipv4; do
        address=${ipv4%% *}
        if [ -z "$address" ]; then
            # Not up (yet): the address the infra declares, if any.
            address=$(sed -n "s/^instance_ip: *['\"]\{0,1\}\([0-9.]*\).*/\1/p" "$base/host_vars/$name.yml" 2>/dev/null)
            [ -n "$address" ] && address="$address (declared)"
        fi
        printf '%-14s %-16s %-9s %-22s %-9s %-22s %s\n' "$d" "net-$d" "$bridge" "$name" "$state" \
            "${address:--}" "${snaps:-0}"
    done <<<"$rows"
done

echo
in_force=$(nft list table inet anklume 2>/dev/null | grep -o 'anklume ruleset [0-9a-f]*' | cut -d' ' -f3)
wanted=$("$netd" preview --infra "$infra" 2>/dev/null | grep -o 'anklume ruleset [0-9a-f]*' | cut -d' ' -f3)
if [ -z "$wanted" ]; then
    echo "ISOLATION: cannot compute the infra's ruleset ($netd preview failed: run make netd-preview)"
elif [ -z "$in_force" ]; then
    echo "ISOLATION: NONE in force: the domains are NOT isolated (make apply)"
elif [ "$in_force" = "$wanted" ]; then
    echo "ISOLATION: in force, the infra's ruleset ${wanted:0:16}"
else
    echo "ISOLATION: DIFFERS: in force ${in_force:0:16}, the infra gives ${wanted:0:16} (make apply)"
fi
if busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    NameHasOwner s org.anklume.Network1 2>/dev/null | grep -qx 'b true'; then
    echo "anklume-netd: running (owns the table, follows uplinks live)"
else
    echo "anklume-netd: no daemon on the system bus (one-shot apply only)"
fi
