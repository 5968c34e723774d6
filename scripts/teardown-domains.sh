#!/usr/bin/env bash
# Removes what `make apply` created for the named domains, by name only:
# their instances (lifting security.protection.delete first), their
# profiles, their project, their bridge net-<domain> and the log
# directories Incus leaves behind. Used by `make destroy`, `make flush`,
# `make demo-clean`, the e2e tests and the bench. Missing objects are
# fine; it never touches other domains, nor the default project.
#
# --keep-protected (make flush without --force): instances whose
# security.protection.delete is true (the infra's `ephemeral: false`
# machines) are kept, and so are their domain's profiles, project and
# bridge, which they still use.
#
#   scripts/teardown-domains.sh [--keep-protected] DOMAIN...
set -uo pipefail

keep=no
[ "${1:-}" = --keep-protected ] && { keep=yes; shift; }
[ $# -gt 0 ] || { echo "usage: $0 [--keep-protected] DOMAIN..." >&2; exit 2; }
for d in "$@"; do
    case "$d" in ''|default|*[!a-z0-9-]*) echo "refusing domain name '$d'" >&2; exit 2 ;; esac
done

# Whether instance $2 of project $1 is protected against deletion.
protected() {
    [ "$(incus config get --project "$1" "$2" security.protection.delete 2>/dev/null)" = true ]
}

status=0
gone=()
for d in "$@"; do
    kept=0
    if incus project show "$d" >/dev/null 2>&1; then
        for name in $(incus list --project "$d" --format csv --columns n); do
            if [ "$keep" = yes ] && protected "$d" "$name"; then
                echo "  Kept (protected, ephemeral: false): instance $name of project $d"
                kept=1
                continue
            fi
            incus config unset --project "$d" "$name" security.protection.delete >/dev/null 2>&1
            incus delete --force --project "$d" "$name" >/dev/null ||
                { echo "ERROR: cannot delete instance $name of project $d (Incus says why above)" >&2; status=1; }
        done
        if [ "$kept" = 1 ]; then
            echo "  Kept: project $d, its profiles and bridge net-$d (its protected machines use them)"
            continue
        fi
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
    gone+=("$d")
done
# A container's monitor may write its log just after the delete returns.
sleep 0.3
for d in "${gone[@]}"; do rm -rf /var/log/incus/"${d}"_*; done
exit $status
