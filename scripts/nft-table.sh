#!/usr/bin/env bash
# The host's isolation table `inet anklume`, for `make flush`:
#   plan    prints what flush may do with it: none (no table), delete (the
#           table is anklume's: its comment names an anklume ruleset, and
#           anklume-netd does not run on the system bus), netd (anklume-netd
#           runs and owns it), foreign (a table of that name without
#           anklume's comment: never touched)
#   why A   one line that says why for plan's answer A
#   delete  deletes it, checking again first that it is anklume's
# Works in the network namespace it runs in.
set -uo pipefail

netd_runs() {
    [ "$(busctl --system call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
        NameHasOwner s org.anklume.Network1 2>/dev/null)" = "b true" ]
}

ours() {
    # Read the whole listing first: with pipefail, `grep -q` closing the
    # pipe early would fail nft with SIGPIPE on a large table.
    local listing
    listing=$(nft list table inet anklume 2>/dev/null) || return 1
    grep -q '^[[:space:]]*comment "anklume ruleset ' <<<"$listing"
}

case "${1:-}" in
    plan)
        if ! nft list table inet anklume >/dev/null 2>&1; then echo none
        elif ! ours; then echo foreign
        elif netd_runs; then echo netd
        else echo delete
        fi ;;
    why)
        case "${2:-}" in
            none) echo "absent" ;;
            foreign) echo "kept: it has no 'anklume ruleset' comment, so anklume did not make it" ;;
            netd) echo "kept: anklume-netd runs and owns it (it enforces /etc/anklume/infra.yml); remove the domains there and run make netd-apply, or stop anklume-netd, then flush again" ;;
            *) echo "$2" ;;
        esac ;;
    delete)
        ours || { echo "ERROR: table inet anklume is not anklume's (or is gone): not deleted" >&2; exit 1; }
        nft delete table inet anklume ||
            { echo "ERROR: cannot delete table inet anklume (nft says why above)" >&2; exit 1; } ;;
    *) echo "usage: $0 plan | why ACTION | delete" >&2; exit 2 ;;
esac
