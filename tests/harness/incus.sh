#!/usr/bin/env bash
# The real-Incus test environment, shared by the tests and CI.
#
#   tests/harness/incus.sh up      install Incus if missing (Debian
#                                  bookworm-backports), start incusd when no
#                                  daemon answers, give it a storage pool and
#                                  the test image; idempotent
#   tests/harness/incus.sh status  say whether Incus answers
#   tests/harness/incus.sh image   (re)build the test image only
#   tests/harness/incus.sh restart  stop the incusd this script started (its
#                                  pid file; SIGTERM leaves the instances
#                                  running, as `systemctl restart incus`
#                                  does) and start it again; refuses an
#                                  incusd it did not start (exit 3)
#   tests/harness/incus.sh clean PROJECT...
#                                  delete the projects' instances, the
#                                  projects, and the log directories Incus
#                                  6.0 leaves behind (tests call it on drop)
#
# The test image `anklume-test-busybox` is built here from Debian's
# busybox-static: no image server is reachable on build machines.
# Tests create their own projects (`anklume-t-*`) and remove them; this
# script never touches other projects, pools or images.
set -euo pipefail

IMAGE_ALIAS=${ANKLUME_TEST_IMAGE:-anklume-test-busybox}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
POOL=${ANKLUME_TEST_POOL:-default}
LOG=${ANKLUME_INCUSD_LOG:-/var/log/anklume-test-incusd.log}
# The pid of the incusd this script started (restart stops only that one).
PIDFILE=${ANKLUME_INCUSD_PIDFILE:-/run/anklume-test-incusd.pid}
SOCKET=${INCUS_SOCKET:-/var/lib/incus/unix.socket}

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

answers() { timeout 10 incus query /1.0 >/dev/null 2>&1; }

install_incus() {
    if command -v incus >/dev/null && [ -x /usr/libexec/incus/incusd ]; then
        return
    fi
    echo "Installing Incus from bookworm-backports..."
    if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
        as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get update -qq
    as_root apt-get install -y -qq -t bookworm-backports incus
}

start_incusd() {
    if answers; then
        return
    fi
    if [ -S "$SOCKET" ] && pgrep -x incusd >/dev/null; then
        echo "incusd runs but does not answer yet; waiting"
    else
        echo "Starting incusd (log: $LOG)"
        # No systemd here: start the daemon ourselves, detached, from /
        # (its helpers, rsync for snapshots among them, inherit its working
        # directory and fail once a checkout it was started from is gone).
        # Close every inherited descriptor above 2 first: the daemon
        # outlives its caller, and must not keep a caller's lock (a test
        # run under `flock`) or pipe open forever.
        # (bash: dash cannot name descriptors above 9.)
        as_root bash -c "cd / && for fd in \$(ls /proc/\$\$/fd); do [ \$fd -gt 2 ] && eval \"exec \$fd>&-\"; done; \
            nohup /usr/libexec/incus/incusd --group root >>'$LOG' 2>&1 & echo \$! >'$PIDFILE'"
    fi
    incus admin waitready --timeout 60
}

ensure_pool() {
    if ! incus storage show "$POOL" >/dev/null 2>&1; then
        incus storage create "$POOL" dir
    fi
    if ! incus profile device get default root pool >/dev/null 2>&1; then
        incus profile device add default root disk path=/ pool="$POOL"
    fi
}

build_image() {
    "$REPO/scripts/busybox-image.sh" "$IMAGE_ALIAS" "anklume test image (busybox-static)"
}

ensure_image() {
    incus image show "$IMAGE_ALIAS" >/dev/null 2>&1 || build_image
}

restart_incusd() {
    local pid
    pid=$(cat "$PIDFILE" 2>/dev/null) || true
    if [ -z "$pid" ] || [ "$(cat /proc/"$pid"/comm 2>/dev/null)" != incusd ]; then
        echo "incusd was not started by $0 (no live pid in $PIDFILE): not restarting it" >&2
        exit 3
    fi
    echo "Restarting incusd (pid $pid)"
    as_root kill -TERM "$pid"
    for _ in $(seq 300); do
        [ -d /proc/"$pid" ] || break
        sleep 0.1
    done
    [ ! -d /proc/"$pid" ] || { echo "incusd (pid $pid) did not stop" >&2; exit 1; }
    start_incusd
}

clean_projects() {
    local project name
    for project in "$@"; do
        for name in $(incus list --project "$project" --format csv --columns n 2>/dev/null); do
            incus delete --force --project "$project" "$name" >/dev/null 2>&1 || true
        done
        incus project delete "$project" >/dev/null 2>&1 || true
        rm -rf /var/log/incus/"${project}"_*
    done
    # The container's monitor may write its log a moment after the delete
    # returns, re-creating the directory: remove once more.
    sleep 0.3
    for project in "$@"; do rm -rf /var/log/incus/"${project}"_*; done
}

case "${1:-up}" in
    up)
        command -v busybox >/dev/null || [ -x /bin/busybox ] || {
            as_root apt-get install -y -qq busybox-static
        }
        install_incus
        start_incusd
        ensure_pool
        ensure_image
        echo "Incus ready: $(incus query /1.0 | sed -n 's/.*"server_version": *"\([^"]*\)".*/\1/p' | head -1)"
        ;;
    status) answers && echo "Incus answers" || { echo "Incus does not answer"; exit 1; } ;;
    image) build_image ;;
    restart) restart_incusd ;;
    clean) shift; clean_projects "$@" ;;
    *) echo "usage: $0 [up|status|image|restart|clean PROJECT...]" >&2; exit 2 ;;
esac
