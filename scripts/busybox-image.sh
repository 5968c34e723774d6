#!/usr/bin/env bash
# Builds a tiny Incus container image from Debian's busybox-static and
# imports it under ALIAS (replacing an image of that alias): no image
# server is needed. Used by the test harness and by `make demo`.
#
#   scripts/busybox-image.sh ALIAS DESCRIPTION [--dhcp]
#
# Without --dhcp the instance only runs init (tests configure it through
# incus exec); with --dhcp, udhcpc keeps eth0 configured by the bridge's
# DHCP server (Incus's dnsmasq), so static IPs given as DHCP reservations
# apply.
set -euo pipefail

alias=${1:?usage: busybox-image.sh ALIAS DESCRIPTION [--dhcp]}
description=${2:?usage: busybox-image.sh ALIAS DESCRIPTION [--dhcp]}
dhcp=${3:-}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,root,run,var/log}
cp /bin/busybox "$root/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
ln -sf ../bin/busybox "$root/sbin/init"

if [ "$dhcp" = --dhcp ]; then
    mkdir -p "$root/usr/share/udhcpc"
    cat >"$root/usr/share/udhcpc/default.script" <<'DHCP'
#!/bin/sh
case "$1" in
    deconfig) ip link set "$interface" up; ip -4 addr flush dev "$interface" ;;
    bound|renew)
        ip -4 addr flush dev "$interface"
        ip addr add "$ip/${mask:-24}" dev "$interface"
        for r in $router; do ip route replace default via "$r" dev "$interface"; break; done ;;
esac
DHCP
    chmod +x "$root/usr/share/udhcpc/default.script"
    main='::sysinit:/bin/ip link set lo up
::respawn:/bin/udhcpc -f -i eth0 -t 30 -T 1 -A 1 -s /usr/share/udhcpc/default.script'
else
    main='::respawn:/bin/sleep 2147483647'
fi
cat >"$root/etc/inittab" <<INIT
::sysinit:/bin/mkdir -p /run /tmp
$main
::ctrlaltdel:/bin/poweroff -f
::shutdown:/bin/sync
INIT
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"
cat >"$work/metadata.yaml" <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: $description
  os: busybox
  release: anklume
META
tar -C "$work" -czf "$work/image.tar.gz" metadata.yaml rootfs
incus image delete "$alias" >/dev/null 2>&1 || true
incus image import "$work/image.tar.gz" --alias "$alias" >/dev/null
echo "Imported image $alias"
