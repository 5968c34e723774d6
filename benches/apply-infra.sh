#!/usr/bin/env bash
# Wall time of `make apply-infra` for D domains x M busybox containers
# (default 5 x 4) from nothing, and of the no-change re-run; per-resource
# cost. The baseline a faster reconciler has to beat.
#
#   benches/apply-infra.sh [DOMAINS] [MACHINES_PER_DOMAIN]
#
# Runs on the real Incus (tests/harness/incus.sh up); bridges without NAT;
# everything it creates is removed by name on exit, success or failure.
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-5}
M=${2:-4}

tests/harness/incus.sh up >/dev/null
scripts/install-ansible.sh
make -s build >/dev/null 2>&1

tag=$(head -c2 /dev/urandom | od -An -tx1 | tr -d ' \n')
used=$(incus network list --format csv --columns 4)
base=""
for i in $(seq 200 249); do
    case "$used" in *"10.$i."*) ;; *) base="10.$i"; break ;; esac
done
[ -n "$base" ] || { echo "no free 10.2xx subnet" >&2; exit 1; }

work=$(mktemp -d)
domains=()
for d in $(seq 1 "$D"); do domains+=("bn${tag}d$d"); done
cleanup() { scripts/teardown-domains.sh "${domains[@]}" || true; rm -rf "$work"; }
trap cleanup EXIT

{
    echo "project_name: bench"
    echo "global:"
    echo "  base_subnet: \"$base\""
    echo "  default_os_image: anklume-test-busybox"
    echo "domains:"
    for d in $(seq 1 "$D"); do
        echo "  bn${tag}d$d:"
        echo "    subnet_id: $d"
        echo "    ephemeral: true"
        echo "    machines:"
        for m in $(seq 1 "$M"); do
            echo "      bn${tag}d$d-m$m:"
            echo "        type: lxc"
            echo "        ip: \"$base.$d.$((10 + m))\""
        done
    done
} >"$work/infra.yml"

args=(-s BASE_DIR="$work/tree" INFRA="$work/infra.yml" A="-e incus_networks_ipv4_nat=false")
make "${args[@]}" sync >/dev/null 2>&1

run() { # label
    local t0 t1
    t0=$(date +%s.%N)
    make "${args[@]}" apply-infra >"$work/$1.log" 2>&1 || { tail -30 "$work/$1.log"; exit 1; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}

cold=$(run cold)
warm=$(run warm)
changed=$(grep -E ' : ok=' "$work/warm.log" | sed -E 's/.*changed=([0-9]+).*/\1/' | awk '{ s += $1 } END { print s + 0 }')
running=$(for d in "${domains[@]}"; do incus list --project "$d" --format csv --columns s; done | grep -c RUNNING)
resources=$((D * 3 + D * M))

echo
echo "make apply-infra, $D domains x $M containers ($resources resources: $D projects, $D bridges, $D default profiles, $((D * M)) instances)"
awk -v t="$cold" -v r="$resources" -v i=$((D * M)) -v n="$running" 'BEGIN {
    printf "  from nothing : %6.2f s  (%4.0f ms per resource, %4.0f ms per instance); %d instances running\n", t, t * 1000 / r, t * 1000 / i, n }'
awk -v t="$warm" -v r="$resources" -v c="$changed" 'BEGIN {
    printf "  no change    : %6.2f s  (%4.0f ms per resource); changed=%d\n", t, t * 1000 / r, c }'
[ "$running" -eq $((D * M)) ] && [ "$changed" -eq 0 ]
