#!/bin/sh
# On a cgroup v1 host with cpu and cpuacct as separate hierarchies (a host
# without systemd, like the build machines), an Incus container gets those
# two unmounted and nested LXC fails ("Failed to open 9/cpuacct"): mount
# every v1 controller of /proc/self/cgroup that is not mounted, before
# Incus starts. Nothing to do on cgroup v2. Installed in the
# anklume-test-debian-incus image (scripts/debian-image.sh incus) and run
# by the system test that installs Incus itself (bootstrap_install.rs).
for c in $(sed -n 's/^[0-9]*:\([a-z_,]*\):.*/\1/p' /proc/self/cgroup); do
    mountpoint -q "/sys/fs/cgroup/$c" && continue
    mount -o remount,rw /sys/fs/cgroup || exit 0
    rm -f "/sys/fs/cgroup/$c"
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || true
done
