#!/usr/bin/env bash
# Removes what `make apply` created for the named domains, by name only:
# their instances (lifting security.protection.delete first), their
# profiles, their project, their bridge net-<domain> and the log
# directories Incus leaves behind. Used by `make demo-clean`, the e2e tests
# and the bench. Missing objects are fine; it never touches other domains.
#
#   scripts/teardown-domains.sh DOMAIN...
set -uo pipefail

[ $# -gt 0 ] || { echo "usage: $0 DOMAIN..." >&2; exit 2; }
for d in "$@"; do
    case "$d" in ''|default|*[!a-z0-9-]*) echo "refusing domain name '$d'" >&2; exit 2 ;; esac
done

status=0
for d in "$@"; do
    if incus project show "$d" >/dev/null 2>&1; then
        for name in $(incus list --project "$d" --format csv --columns n); do
            incus config unset --project "$d" "$name" security.protection.delete >/dev/null 2>&1
            incus delete --force --project "$d" "$name" >/dev/null ||
                { echo "ERROR: cannot delete instance $name of project $d (Incus says why above)" >&2; status=1; }
        done
        for p in $(incus profile list --project "$d" --format csv --columns n); do
            [ "$p" = default ] || incus profile delete --project "$d" "$p" >/dev/null ||
                { echo "ERROR: cannot delete profile $p of project $d (above)" >&2; status=1; }
        done
        incus project delete "$d" >/dev/null ||
            { echo "ERROR: cannot delete project $d (above)" >&2; status=1; }
    fi
    if incus network show "net-$d" >/dev/null 2>&1; then
        incus network delete "net-$d" >/dev/null ||
            { echo "ERROR: cannot delete bridge net-$d (above)" >&2; status=1; }
    fi
    rm -rf /var/log/incus/"${d}"_* /var/log/incus/dnsmasq.net-"$d".log
done
# A container's monitor may write its log just after the delete returns.
sleep 0.3
for d in "$@"; do rm -rf /var/log/incus/"${d}"_*; done
exit $status
