#!/usr/bin/env bash
# Calls an anklume daemon on the system bus with busctl, after checking
# that it is there; when it is not, says why and how to start it, instead
# of busctl's "Failed to connect to bus". Used by the Makefile's snapshot-*
# and netd-* targets.
#
#   scripts/daemon-call.sh snapd|netd BUSCTL-ARGS...   (busctl --system ARGS)
#   scripts/daemon-call.sh snapd list [TARGET]         (the snapshot table)
#   scripts/daemon-call.sh gpud list|claims|processes  (anklume-gpud's tables)
set -uo pipefail

case "${1:-}" in
    snapd) name=org.anklume.Snapshot1 unit=anklume-snapd doc=docs/snapshots.md ;;
    netd) name=org.anklume.Network1 unit=anklume-netd doc=docs/network-isolation.md ;;
    gpud) name=org.anklume.Gpu1 unit=anklume-gpud doc=docs/gpu.md ;;
    *) echo "usage: $0 snapd|netd|gpud BUSCTL-ARGS..." >&2; exit 2 ;;
esac
shift

not_running() {
    echo "ERROR: $1" >&2
    echo "  Installed from the package:  systemctl start $unit   (then: systemctl status $unit)" >&2
    echo "  From a checkout, by hand:   see \"Running the daemon by hand\" in $doc" >&2
    exit 1
}

owner=$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
    NameHasOwner s "$name" 2>&1) ||
    not_running "no system D-Bus here (busctl: ${owner##*: }); $unit serves $name on the system bus."
[ "$owner" = "b true" ] || not_running "$unit is not running ($name has no owner on the system bus)."

if [ "$unit" = anklume-gpud ] && [[ "${1:-}" =~ ^(list|claims|processes)$ ]]; then
    # The table printer is gpud's own CLI (installed, or a checkout build).
    gpud=$(command -v anklume-gpud || echo target/release/anklume-gpud)
    [ -x "$gpud" ] || gpud=target/debug/anklume-gpud
    exec "$gpud" "$1"
fi

if [ "${1:-}" = list ]; then
    target=${2:-all}
    out=$(busctl --system --timeout=600 --json=short call "$name" /org/anklume/Snapshot1 "$name" List s "$target") ||
        exit 1
    printf '%s' "$out" | /usr/bin/python3 -c '
import json, sys, time
rows = json.load(sys.stdin)["data"][0]
print("%-12s %-24s %-36s %s" % ("DOMAIN", "INSTANCE", "SNAPSHOT", "TAKEN (UTC)"))
for d, i, s, t in rows:
    print("%-12s %-24s %-36s %s" % (d, i, s, time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))))
'
    exit
fi
exec busctl --system "$@"
