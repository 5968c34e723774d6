#!/usr/bin/env bash
# `make demo` / `make demo-clean`: bring up the bundled demo infra
# (scripts/demo/infra.yml) on this machine, isolate it with anklume-netd
# when available, show what was built and a reachability matrix measured
# with real pings; then remove exactly what the demo created.
#
#   scripts/demo.sh up      install/start what is missing, sync, apply, show
#   scripts/demo.sh clean   remove the demo's domains, its image (if the
#                           demo built it) and its isolation table (if the
#                           demo loaded it)
#
# Environment: ANKLUME_GEN (generator), ANKLUME_NETD (netd binary; built
# from the checkout when cargo is there), ANKLUME_DEMO_DIR (state, default
# .demo in the checkout), ANKLUME_DEMO_INFRA (another infra to demo; its
# machines use the image anklume-demo-busybox; the e2e test uses this).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

INFRA=$(realpath "${ANKLUME_DEMO_INFRA:-$ROOT/scripts/demo/infra.yml}")
STATE=${ANKLUME_DEMO_DIR:-$ROOT/.demo}
IMAGE=anklume-demo-busybox
# Filled from the synced tree (up) or the state file (clean).
DOMAINS=()
BASE=""

say() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# A busybox image whose init asks the bridge's DHCP for the static address
# Incus reserved for it (ipv4.address on eth0).
build_image() {
    "$ROOT/scripts/busybox-image.sh" "$IMAGE" "anklume demo image (busybox-static, DHCP on eth0)" --dhcp
}

# anklume-netd links libnftnl and libmnl (found with pkg-config).
netd_build_deps() {
    local need=()
    command -v pkg-config >/dev/null || need+=(pkg-config)
    pkg-config --exists libnftnl 2>/dev/null || need+=(libnftnl-dev)
    pkg-config --exists libmnl 2>/dev/null || need+=(libmnl-dev)
    [ ${#need[@]} -eq 0 ] && return 0
    echo "Installing what anklume-netd builds with: ${need[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" \
        || echo "could not install ${need[*]}" >&2
}

netd_can_apply() { [ -n "${NETD:-}" ] && "$NETD" --help 2>/dev/null | grep -qw apply; }

find_netd() {
    NETD=${ANKLUME_NETD:-$(command -v anklume-netd || true)}
    if [ -z "$NETD" ] && [ -f "$ROOT/Cargo.toml" ] && command -v cargo >/dev/null; then
        netd_build_deps
        echo "Building anklume-netd (cargo build --release -p anklume-netd)"
        if cargo build --release -q -p anklume-netd; then
            NETD="$ROOT/target/release/anklume-netd"
        else
            echo "anklume-netd did not build; going on without isolation"
        fi
    fi
}

# Wait until every demo instance shows its DHCP address (at most 30 s).
wait_addresses() {
    local want=$1 i
    for i in $(seq 60); do
        [ "$(list_instances | awk -F'\t' '$4 != ""' | wc -l)" -ge "$want" ] && return 0
        sleep 0.5
    done
    echo "WARNING: not every instance got its address by DHCP" >&2
}

# domain <TAB> instance <TAB> state <TAB> eth0 IPv4
list_instances() {
    local d
    for d in "${DOMAINS[@]}"; do
        incus list --project "$d" --format csv --columns ns4 2>/dev/null |
            sed -E 's/ \(eth0\)//; s/,/\t/g' | awk -v d="$d" -F'\t' '{print d "\t" $1 "\t" $2 "\t" $3}'
    done
}

matrix() {
    local rows src dst sd sn dd dn dip tmp
    mapfile -t rows < <(list_instances)
    tmp=$(mktemp -d)
    for src in "${rows[@]}"; do
        IFS=$'\t' read -r sd sn _ _ <<<"$src"
        for dst in "${rows[@]}"; do
            IFS=$'\t' read -r dd dn _ dip <<<"$dst"
            [ "$sn" = "$dn" ] && continue
            ( if [ -n "$dip" ] && incus exec --project "$sd" "$sn" -- ping -c1 -W1 "$dip" >/dev/null 2>&1
              then echo yes; else echo no; fi >"$tmp/$sn.$dn" ) &
        done
    done
    wait
    printf '%-12s' "from \\ to"
    for dst in "${rows[@]}"; do IFS=$'\t' read -r _ dn _ _ <<<"$dst"; printf '%-11s' "$dn"; done
    echo
    local bad=0 expect got
    for src in "${rows[@]}"; do
        IFS=$'\t' read -r sd sn _ _ <<<"$src"
        printf '%-12s' "$sn"
        for dst in "${rows[@]}"; do
            IFS=$'\t' read -r dd dn _ _ <<<"$dst"
            if [ "$sn" = "$dn" ]; then printf '%-11s' "-"; continue; fi
            got=$(cat "$tmp/$sn.$dn")
            if [ "$sd" = "$dd" ]; then expect=yes; else expect=$ISOLATED_EXPECT; fi
            [ "$got" = "$expect" ] || bad=$((bad + 1))
            printf '%-11s' "$([ "$got" = yes ] && echo reach || echo BLOCKED)$([ "$got" = "$expect" ] || echo '!')"
        done
        echo
    done
    rm -rf "$tmp"
    echo
    if [ "$ISOLATED_EXPECT" = no ]; then
        echo "Expected: same domain reachable, other domains BLOCKED. Mismatches (!): $bad"
    else
        echo "Without isolation every instance reaches every other (routed by the host)."
        echo "Mismatches with that (!): $bad. Isolation needs anklume-netd apply."
    fi
    return "$bad"
}

up() {
    say "Incus (installed and started when missing)"
    tests/harness/incus.sh up
    say "Ansible (venv, pinned)"
    scripts/install-ansible.sh
    local venv
    venv=$(scripts/install-ansible.sh --path)
    mkdir -p "$STATE"
    if ! incus image show "$IMAGE" >/dev/null 2>&1; then
        say "Building the demo image $IMAGE (busybox, DHCP)"
        build_image
        echo image >>"$STATE/created"
    fi
    say "anklume-gen sync $INFRA --base-dir $STATE/tree"
    "${ANKLUME_GEN:-anklume-gen}" sync "$INFRA" --base-dir "$STATE/tree" --clean-orphans >"$STATE/sync.log" 2>&1 ||
        { cat "$STATE/sync.log" >&2; exit 1; }
    grep -vE '^\s*(Unchanged|Written):' "$STATE/sync.log" || true
    local f
    for f in "$STATE"/tree/inventory/*.yml; do DOMAINS+=("$(basename "$f" .yml)"); done
    BASE=$(sed -n "s/^base_subnet: *['\"]\{0,1\}\([0-9.]*\).*/\1/p" "$STATE/tree/group_vars/all.yml")
    local clash ours
    ours=$(printf 'net-%s,\n' "${DOMAINS[@]}")
    clash=$(incus network list --format csv --columns n4 | grep -F ",$BASE." | grep -vF "$ours" || true)
    if [ -n "$clash" ]; then
        echo "ERROR: $BASE.x.0/24 is already used by Incus network(s): $clash" >&2
        echo "Change global.base_subnet in $INFRA and retry." >&2
        exit 1
    fi
    for d in "${DOMAINS[@]}"; do grep -qx "domain $d" "$STATE/created" 2>/dev/null || echo "domain $d" >>"$STATE/created"; done

    find_netd
    # An isolation table the demo did not load (a real one) is left alone.
    local table_before=no
    nft list table inet anklume >/dev/null 2>&1 && table_before=yes
    grep -qx table "$STATE/created" 2>/dev/null && table_before=ours
    local netd_arg=()
    if netd_can_apply && [ "$table_before" != yes ]; then
        netd_arg=(-e "anklume_netd=$NETD")
    elif netd_can_apply; then
        echo "An isolation table (inet anklume) is already loaded here; the demo leaves it alone."
        netd_arg=(-e anklume_isolation=off)
    else
        echo "anklume-netd ${NETD:+($NETD) }has no 'apply' command yet: domains will NOT be isolated."
        netd_arg=(-e anklume_isolation=off)
    fi

    say "ansible-playbook ansible/site.yml (infra, provision, firewall)"
    local start=$SECONDS
    ANSIBLE_CONFIG="$ROOT/ansible/ansible.cfg" "$venv/bin/ansible-playbook" \
        -i "$STATE/tree/inventory" "$ROOT/ansible/site.yml" \
        -e incus_networks_ipv4_nat=false -e "anklume_infra=$INFRA" "${netd_arg[@]}" |
        sed -n '/PLAY RECAP/,$p'
    echo "(applied in $((SECONDS - start)) s)"
    ISOLATED_EXPECT=yes
    if [ "$table_before" != yes ] && nft list table inet anklume >/dev/null 2>&1; then
        [ "$table_before" = ours ] || echo table >>"$STATE/created"
        ISOLATED_EXPECT=no
        echo "Isolation: table inet anklume loaded by $NETD apply"
    fi

    wait_addresses "$(list_instances | wc -l)"
    say "What was built"
    printf '%-10s %-14s %-16s %-10s %-8s %s\n' DOMAIN BRIDGE GATEWAY INSTANCE STATE IPV4
    list_instances | while IFS=$'\t' read -r d n s ip; do
        printf '%-10s %-14s %-16s %-10s %-8s %s\n' "$d" "net-$d" "$(incus network get "net-$d" ipv4.address)" "$n" "$s" "$ip"
    done
    say "Reachability (ping -c1 -W1 from each instance to each other one)"
    matrix || true
    echo
    echo "Remove it all: make demo-clean"
}

clean() {
    if [ -f "$STATE/created" ]; then
        mapfile -t DOMAINS < <(sed -n 's/^domain //p' "$STATE/created")
    elif [ -z "${ANKLUME_DEMO_INFRA:-}" ]; then
        DOMAINS=(demo-work demo-home demo-lab)   # the bundled infra's
    fi
    if [ ${#DOMAINS[@]} -gt 0 ]; then
        say "Removing the demo's domains: ${DOMAINS[*]}"
        scripts/teardown-domains.sh "${DOMAINS[@]}"
    fi
    if grep -qx table "$STATE/created" 2>/dev/null; then
        echo "Removing the isolation table the demo loaded (inet anklume)"
        nft delete table inet anklume 2>/dev/null ||
            echo "WARNING: could not delete table inet anklume (owned by a running anklume-netd?)" >&2
    fi
    if grep -qx image "$STATE/created" 2>/dev/null; then
        echo "Removing the demo image $IMAGE"
        incus image delete "$IMAGE" >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE"
    echo "Done. (Incus itself and the cached venv stay installed.)"
}

case "${1:-up}" in
    up) up ;;
    clean) clean ;;
    *) echo "usage: $0 [up|clean]" >&2; exit 2 ;;
esac
