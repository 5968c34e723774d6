#!/usr/bin/env bash
# A Debian 12 container image with python3 and systemd, built locally with
# debootstrap (no image server is reachable on build machines) and cached:
#
#   scripts/debian-image.sh        import alias anklume-test-debian,
#                                        building the cached tarball first
#                                        when it is missing; idempotent
#   scripts/debian-image.sh rebuild  drop the cache and build again
#
# Cache: $ANKLUME_TEST_CACHE (default /var/cache/anklume-test)/debian-bookworm-<recipe>.tar.gz
# The image carries what base_system needs offline (locales, tzdata,
# ca-certificates), so provisioning tests never reach a mirror.
set -euo pipefail

ALIAS=${ANKLUME_TEST_DEBIAN_IMAGE:-anklume-test-debian}
CACHE=${ANKLUME_TEST_CACHE:-/var/cache/anklume-test}
MIRROR=${ANKLUME_DEBIAN_MIRROR:-http://deb.debian.org/debian}
PACKAGES=python3,python3-apt,systemd,systemd-sysv,udev,dbus,locales,tzdata,ca-certificates,iproute2,iputils-ping
# Installed with apt inside the new tree (debootstrap cannot configure
# polkitd: its dependencies are not ordered). polkitd and nftables: the
# package's system test installs anklume offline (Depends and Recommends
# present) and inspects its table. procps stays out on purpose: the test
# proves that `systemctl reload` works without it.
EXTRA_PACKAGES="polkitd nftables"
# The recipe's id: a changed package list (or this version) builds anew.
RECIPE=$(printf '2 %s %s' "$PACKAGES" "$EXTRA_PACKAGES" | md5sum | cut -c1-8)
TARBALL="$CACHE/debian-bookworm-$RECIPE.tar.gz"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

drop_work() {
    local mnt
    for mnt in $(awk -v w="$1/" 'index($2, w) == 1 {print $2}' /proc/mounts | sort -r); do
        as_root umount -l "$mnt" || true
    done
    as_root rm -rf "$1"
}

build_tarball() {
    command -v debootstrap >/dev/null || {
        echo "Installing debootstrap"
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq debootstrap
    }
    as_root mkdir -p "$CACHE"
    local work
    work=$(as_root mktemp -d "$CACHE/build.XXXXXX")
    # Remove the half-built tree (and anything debootstrap mounted in it)
    # whatever happens.
    trap 'drop_work "$work"' EXIT
    echo "Building the Debian 12 image with debootstrap (once; cached in $TARBALL)"
    as_root debootstrap --variant=minbase --include="$PACKAGES" bookworm "$work/rootfs" "$MIRROR" \
        >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    as_root chroot "$work/rootfs" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends $EXTRA_PACKAGES \
        >>"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
    # systemd-networkd configures eth0 by DHCP (Incus hands out the
    # reserved static address; networkd needs udev to take the link).
    as_root mkdir -p "$work/rootfs/etc/systemd/network"
    printf '[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n' | as_root tee "$work/rootfs/etc/systemd/network/eth0.network" >/dev/null
    as_root ln -sf /lib/systemd/system/systemd-networkd.service \
        "$work/rootfs/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    as_root rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    as_root tee "$work/metadata.yaml" >/dev/null <<META
architecture: $(uname -m)
creation_date: $(date +%s)
properties:
  description: anklume test image (Debian 12 debootstrap, python3 + systemd)
  anklume.recipe: "$RECIPE"
  os: debian
  release: bookworm
META
    as_root tar -C "$work" -czf "$work/image.tar.gz" metadata.yaml rootfs
    # Tarballs of other recipes stay: checkouts on another recipe re-import
    # theirs without a new debootstrap.
    as_root mv "$work/image.tar.gz" "$TARBALL"
    drop_work "$work"
    trap - EXIT
}

case "${1:-up}" in
    up) ;;
    rebuild) as_root rm -f "$CACHE"/debian-bookworm*.tar.gz; incus image delete "$ALIAS" >/dev/null 2>&1 || true ;;
    *) echo "usage: $0 [up|rebuild]" >&2; exit 2 ;;
esac

if incus image show "$ALIAS" >/dev/null 2>&1 &&
    [ "$(incus image get-property "$ALIAS" anklume.recipe 2>/dev/null)" = "$RECIPE" ]; then
    exit 0
fi
# Built before the old image goes: other checkouts keep launching from the
# alias meanwhile. The alias then moves to the new image in one step.
[ -s "$TARBALL" ] || build_tarball
fingerprint=$(sha256sum "$TARBALL" | cut -d' ' -f1)
incus image import "$TARBALL" >/dev/null 2>&1 || incus image show "$fingerprint" >/dev/null
if incus image alias list --format csv | grep -q "^$ALIAS,"; then
    echo "Image $ALIAS is from another recipe: pointing it at recipe $RECIPE"
    old=$(incus image info "$ALIAS" | awk '/^Fingerprint:/ {print $2}')
    incus image alias delete "$ALIAS"
    incus image alias create "$ALIAS" "$fingerprint"
    # The previous image goes unless something else names it.
    if [ -n "$old" ] && [ "$old" != "$fingerprint" ] && [ -z "$(incus image info "$old" | sed -n '/^Aliases:/,/^[A-Z]/p' | grep -- '- ')" ]; then
        incus image delete "$old" >/dev/null 2>&1 || true
    fi
else
    incus image alias create "$ALIAS" "$fingerprint"
fi
echo "Imported image $ALIAS"
