#!/usr/bin/env bash
# The host's isolation table `inet anklume`, for `make flush`:
#   plan    prints what flush may do with it: none (no table), delete (the
#           table is anklume's: its comment names an anklume ruleset, and
#           anklume-netd does not run on the system bus), netd (anklume's,
#           and anklume-netd runs and owns it: withdraw it through the
#           daemon), foreign (a table of that name without anklume's
#           comment: never touched)
#   why A   one line that says why for plan's answer A
#   delete  deletes it, checking again first that it is anklume's
#   withdraw  asks anklume-netd to delete it and keep none until its next
#           Apply or reload (D-Bus org.anklume.Network1.Withdraw, as root
#           or with polkit org.anklume.network.withdraw); on failure the
#           table stays and the reason is printed
# Works in the network namespace it runs in (the daemon's, for withdraw).
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
            netd) echo "withdrawn through anklume-netd, which runs and owns it (D-Bus Withdraw: it keeps no table until its next Apply or reload)" ;;
            *) echo "$2" ;;
        esac ;;
    delete)
        ours || { echo "ERROR: table inet anklume is not anklume's (or is gone): not deleted" >&2; exit 1; }
        nft delete table inet anklume ||
            { echo "ERROR: cannot delete table inet anklume (nft says why above)" >&2; exit 1; } ;;
    withdraw)
        netd_runs || { echo "ERROR: anklume-netd does not run (no org.anklume.Network1 on the system bus): table inet anklume not withdrawn" >&2; exit 1; }
        if ! answer=$(busctl --system --timeout=120 call org.anklume.Network1 /org/anklume/Network1 \
            org.anklume.Network1 Withdraw 2>&1); then
            echo "ERROR: anklume-netd did not withdraw table inet anklume, which stays in force: ${answer#Call failed: }" >&2
            exit 1
        fi
        case "$answer" in
            "b true") echo "Table inet anklume withdrawn by anklume-netd." ;;
            "b false") echo "anklume-netd had no table inet anklume in force (withdrawn all the same)." ;;
            *) echo "ERROR: unexpected answer from anklume-netd's Withdraw: $answer" >&2; exit 1 ;;
        esac
        echo "  anklume-netd keeps no table until its next Apply (make netd-apply) or reload (systemctl reload anklume-netd)." ;;
    *) echo "usage: $0 plan | why ACTION | delete | withdraw" >&2; exit 2 ;;
esac
