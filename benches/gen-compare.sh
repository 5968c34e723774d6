#!/usr/bin/env bash
# Before/after of two anklume-gen binaries (e.g. a build of the previous
# commit and of this one): validate, first sync and no-change re-sync of a
# 250-domain x 40-machine infra in which every machine has config, a
# host-path disk and a NIC on another bridge (so the project-restrictions
# derivation has work), on tmpfs, runs alternated, medians of 9, ratio B/A.
#
#   benches/gen-compare.sh BEFORE_BIN AFTER_BIN
#
# A base binary: git archive REV | tar -x -C /tmp/base &&
#   (cd /tmp/base && cargo build --release -p anklume-gen)
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 BEFORE_BIN AFTER_BIN" >&2; exit 2; }
dir=$(mktemp -d /dev/shm/anklume-gen-compare.XXXX)
trap 'rm -rf "$dir"' EXIT
python3 - "$dir/infra.yml" <<'PY'
import sys
out = ["project_name: bench", "global:", "  base_subnet: \"10.100\"",
       "  default_os_image: img", "  gpu_policy: shared", "domains:"]
for d in range(250):
    out += [f"  d{d}:", f"    subnet_id: {d}", "    profiles:", "      nest:",
            "        config:", "          security.nesting: true", "    machines:"]
    for m in range(40):
        out += [f"      d{d}-m{m}:", f"        ip: 10.100.{d}.{m + 1}",
                "        config: {limits.cpu: '1', limits.memory: 1GiB}",
                f"        devices: {{data: {{type: disk, source: /srv/d{d}/m{m}, path: /data}},"
                f" eth1: {{type: nic, network: net-d{(d + 1) % 250}}}}}"]
open(sys.argv[1], "w").write("\n".join(out) + "\n")
PY
ms() { local s e; s=$(date +%s%N); "$@" >/dev/null 2>&1; e=$(date +%s%N); echo $(((e - s) / 1000000)); }
export ANKLUME_CONTEXT_DIR=/nonexistent
for _ in $(seq 9); do
  for k in A B; do
    bin=$1; [ "$k" = B ] && bin=$2
    echo "$k validate $(ms "$bin" validate "$dir/infra.yml")"
    rm -rf "$dir/t"
    echo "$k sync $(ms "$bin" sync "$dir/infra.yml" --base-dir "$dir/t")"
    echo "$k resync $(ms "$bin" sync "$dir/infra.yml" --base-dir "$dir/t")"
  done
done >"$dir/times"
median() { grep "^$1 $2 " "$dir/times" | awk '{print $3}' | sort -n | sed -n 5p; }
printf '%-9s %10s %10s %7s\n' step "before ms" "after ms" ratio
for w in validate sync resync; do
  a=$(median A "$w"); b=$(median B "$w")
  printf '%-9s %10s %10s %7s\n' "$w" "$a" "$b" "$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.2f", b/a}')"
done
