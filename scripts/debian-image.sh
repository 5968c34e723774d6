#!/usr/bin/env bash
# A Debian 12 container image with python3 and systemd, built locally with
# debootstrap (no image server is reachable on build machines) and cached:
#
#   scripts/debian-image.sh        import alias anklume-test-debian,
#                                        building the cached tarball first
#                                        when it is missing; idempotent
#   scripts/debian-image.sh rebuild  drop the cache and build again
#   scripts/debian-image.sh incus    import alias anklume-test-debian-incus:
#                                        the same image plus Incus from
#                                        bookworm-backports (bootstrap.sh's
#                                        system test: a nested Incus with no
#                                        network at run time); built from the
#                                        cached base tarball, cached too
#   scripts/debian-image.sh incus-mirror  print the directory of a local
#                                        Debian mirror (suites bookworm and
#                                        bookworm-backports, unsigned) that
#                                        holds exactly the .debs the base
#                                        image lacks for Incus: the ones the
#                                        incus image's chroot downloaded;
#                                        built once and cached too
#                                        (bootstrap_install.rs installs
#                                        Incus from it, offline)
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
# proves that `systemctl reload` works without it. git, python3-venv and
# python3-pip: admin_bootstrap's apt packages, so bootstrap.sh's system test
# provisions the admin machine offline (Ansible from a wheel directory).
EXTRA_PACKAGES="polkitd nftables git python3-venv python3-pip"
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

# import_alias ALIAS RECIPE TARBALL: ALIAS names the image of TARBALL
# (recipe RECIPE); nothing to do when it already does.
import_alias() {
    local alias=$1 recipe=$2 tarball=$3 fingerprint old
    if incus image show "$alias" >/dev/null 2>&1 &&
        [ "$(incus image get-property "$alias" anklume.recipe 2>/dev/null)" = "$recipe" ]; then
        return 0
    fi
    fingerprint=$(sha256sum "$tarball" | cut -d' ' -f1)
    incus image import "$tarball" >/dev/null 2>&1 || incus image show "$fingerprint" >/dev/null
    if incus image alias list --format csv | grep -q "^$alias,"; then
        echo "Image $alias is from another recipe: pointing it at recipe $recipe"
        old=$(incus image info "$alias" | awk '/^Fingerprint:/ {print $2}')
        incus image alias delete "$alias"
        incus image alias create "$alias" "$fingerprint"
        # The previous image goes unless something else names it.
        if [ -n "$old" ] && [ "$old" != "$fingerprint" ] && [ -z "$(incus image info "$old" | sed -n '/^Aliases:/,/^[A-Z]/p' | grep -- '- ')" ]; then
            incus image delete "$old" >/dev/null 2>&1 || true
        fi
    else
        incus image alias create "$alias" "$fingerprint"
    fi
    echo "Imported image $alias"
}

HERE=$(cd "$(dirname "$0")" && pwd)
# The Incus variant: the base tarball unpacked, Incus installed from
# bookworm-backports in a chroot (the host's network, at build time only),
# packed again with its own recipe id.
INCUS_ALIAS=${ANKLUME_TEST_DEBIAN_INCUS_IMAGE:-anklume-test-debian-incus}
# dnsmasq-base: a Recommends of incus-base that bridges need.
INCUS_PACKAGES="incus dnsmasq-base"
INCUS_RECIPE=$(printf '2 %s %s' "$RECIPE" "$INCUS_PACKAGES" | md5sum | cut -c1-8)
INCUS_TARBALL="$CACHE/debian-bookworm-incus-$INCUS_RECIPE.tar.gz"
INCUS_MIRROR="$CACHE/debian-bookworm-incus-$INCUS_RECIPE.mirror"

# incus_apt WORK [APT-ARGS...]: the base tree unpacked in WORK, Incus's
# packages installed there from bookworm-backports (the host's network, at
# build time only), APT-ARGS added (--download-only for the mirror alone).
incus_apt() {
    local work=$1
    shift
    as_root tar -C "$work" -xzf "$TARBALL"
    as_root cp /etc/resolv.conf "$work/rootfs/etc/resolv.conf"
    printf '#!/bin/sh\nexit 101\n' | as_root tee "$work/rootfs/usr/sbin/policy-rc.d" >/dev/null
    as_root chmod 755 "$work/rootfs/usr/sbin/policy-rc.d"
    echo "deb $MIRROR bookworm-backports main" | as_root tee "$work/rootfs/etc/apt/sources.list.d/backports.list" >/dev/null
    as_root mount -t proc proc "$work/rootfs/proc"
    { as_root chroot "$work/rootfs" apt-get update -q &&
        as_root chroot "$work/rootfs" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -q --no-install-recommends "$@" -t bookworm-backports $INCUS_PACKAGES; } \
        >"$work/apt.log" 2>&1 || { tail -20 "$work/apt.log" >&2; exit 1; }
    as_root umount "$work/rootfs/proc"
}

build_incus_tarball() {
    local work
    work=$(as_root mktemp -d "$CACHE/build.XXXXXX")
    trap 'drop_work "$work"' EXIT
    echo "Building the Debian 12 + Incus image (once; cached in $INCUS_TARBALL)"
    incus_apt "$work"
    # The .debs the chroot downloaded: the mirror of incus-mirror.
    [ -d "$INCUS_MIRROR" ] || make_mirror "$work/rootfs/var/cache/apt/archives"
    # Nested Incus in an unprivileged container: its subordinate ids must
    # fit in the 10^9 ids the outer Incus maps (the package's default,
    # 1000000:1000000000, does not).
    echo "root:1000000:100000000" | as_root tee "$work/rootfs/etc/subuid" "$work/rootfs/etc/subgid" >/dev/null
    # Nested LXC on a cgroup v1 host: tests/system/anklume-test-cgroups.sh.
    as_root install -m 755 "$HERE/../tests/system/anklume-test-cgroups.sh" \
        "$work/rootfs/usr/local/sbin/anklume-test-cgroups"
    printf '[Unit]\nDescription=Mount missing cgroup v1 controllers (anklume test image)\nBefore=incus.service incus.socket\nDefaultDependencies=no\nAfter=local-fs.target\n\n[Service]\nType=oneshot\nExecStart=/usr/local/sbin/anklume-test-cgroups\n\n[Install]\nWantedBy=sysinit.target\n' |
        as_root tee "$work/rootfs/etc/systemd/system/anklume-test-cgroups.service" >/dev/null
    as_root mkdir -p "$work/rootfs/etc/systemd/system/sysinit.target.wants"
    as_root ln -sf /etc/systemd/system/anklume-test-cgroups.service \
        "$work/rootfs/etc/systemd/system/sysinit.target.wants/anklume-test-cgroups.service"
    as_root rm -f "$work/rootfs/usr/sbin/policy-rc.d" "$work/rootfs/etc/resolv.conf"
    as_root rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    as_root sed -i -e "s/^creation_date: .*/creation_date: $(date +%s)/" \
        -e "s/anklume.recipe: .*/anklume.recipe: \"$INCUS_RECIPE\"/" \
        -e "s/description: .*/description: anklume test image (Debian 12 debootstrap, python3 + systemd + Incus)/" \
        "$work/metadata.yaml"
    as_root tar -C "$work" -czf "$work/image.tar.gz" metadata.yaml rootfs
    as_root mv "$work/image.tar.gz" "$INCUS_TARBALL"
    drop_work "$work"
    trap - EXIT
}

# make_mirror DIR: $INCUS_MIRROR from the .debs in DIR, a Debian mirror
# as apt sees one: dists/bookworm (the .debs of bookworm) and
# dists/bookworm-backports (those with ~bpoN versions, its Release
# NotAutomatic as Debian's is), each main/binary-ARCH/Packages{,.gz} and a
# Release with their SHA256 sums. Unsigned: sources name it trusted.
make_mirror() {
    command -v dpkg-scanpackages >/dev/null || {
        echo "Installing dpkg-dev (dpkg-scanpackages)"
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends dpkg-dev
    }
    local arch tmp deb suite pool f
    arch=$(dpkg --print-architecture)
    tmp=$(as_root mktemp -d "$CACHE/mirror.XXXXXX")
    as_root mkdir -p "$tmp/pool/main" "$tmp/pool/backports"
    for deb in "$1"/*.deb; do
        pool=main
        case "$(dpkg-deb -f "$deb" Version)" in *~bpo*) pool=backports ;; esac
        # Named without the epoch's %3a: Filename fields stay plain.
        as_root cp "$deb" "$tmp/pool/$pool/$(dpkg-deb -f "$deb" Package)_$(dpkg-deb -f "$deb" Version | sed 's/^[0-9]*://')_$(dpkg-deb -f "$deb" Architecture).deb"
    done
    for suite in bookworm bookworm-backports; do
        pool=main; [ "$suite" = bookworm ] || pool=backports
        as_root mkdir -p "$tmp/dists/$suite/main/binary-$arch"
        (cd "$tmp" && dpkg-scanpackages --multiversion "pool/$pool" /dev/null 2>/dev/null) |
            as_root tee "$tmp/dists/$suite/main/binary-$arch/Packages" >/dev/null
        as_root sh -c "gzip -9nc '$tmp/dists/$suite/main/binary-$arch/Packages' >'$tmp/dists/$suite/main/binary-$arch/Packages.gz'"
        {
            printf 'Origin: Debian\nLabel: anklume test mirror\nSuite: %s\nCodename: %s\n' "$suite" "$suite"
            [ "$suite" = bookworm ] || printf 'NotAutomatic: yes\nButAutomaticUpgrades: yes\n'
            printf 'Date: %s\nArchitectures: %s\nComponents: main\nSHA256:\n' "$(LC_ALL=C date -u -R)" "$arch"
            for f in Packages Packages.gz; do
                printf ' %s %s main/binary-%s/%s\n' \
                    "$(sha256sum "$tmp/dists/$suite/main/binary-$arch/$f" | cut -d' ' -f1)" \
                    "$(stat -c %s "$tmp/dists/$suite/main/binary-$arch/$f")" "$arch" "$f"
            done
        } | as_root tee "$tmp/dists/$suite/Release" >/dev/null
    done
    as_root chmod -R a+rX "$tmp"
    as_root mv "$tmp" "$INCUS_MIRROR"
    echo "Built the mirror $INCUS_MIRROR ($(find "$INCUS_MIRROR/pool" -name '*.deb' | wc -l) packages)"
}

# The mirror alone, when the incus tarball is already cached: the same
# install as build_incus_tarball's, download only, in a scratch chroot.
build_incus_mirror() {
    local work
    work=$(as_root mktemp -d "$CACHE/build.XXXXXX")
    trap 'drop_work "$work"' EXIT
    echo "Downloading the Incus packages for the mirror (once; cached in $INCUS_MIRROR)"
    incus_apt "$work" --download-only
    make_mirror "$work/rootfs/var/cache/apt/archives"
    drop_work "$work"
    trap - EXIT
}

variant=base
case "${1:-up}" in
    up) ;;
    incus) variant=incus ;;
    incus-mirror)
        if [ ! -d "$INCUS_MIRROR" ]; then
            [ -s "$TARBALL" ] || build_tarball
            if [ -s "$INCUS_TARBALL" ]; then build_incus_mirror; else build_incus_tarball; fi
        fi >&2
        echo "$INCUS_MIRROR"
        exit 0 ;;
    rebuild) as_root rm -rf "$CACHE"/debian-bookworm*.tar.gz "$CACHE"/debian-bookworm*.mirror; incus image delete "$ALIAS" >/dev/null 2>&1 || true ;;
    *) echo "usage: $0 [up|incus|incus-mirror|rebuild]" >&2; exit 2 ;;
esac

if [ "$variant" = incus ]; then
    if ! { incus image show "$INCUS_ALIAS" >/dev/null 2>&1 &&
        [ "$(incus image get-property "$INCUS_ALIAS" anklume.recipe 2>/dev/null)" = "$INCUS_RECIPE" ]; }; then
        [ -s "$INCUS_TARBALL" ] || { [ -s "$TARBALL" ] || build_tarball; build_incus_tarball; }
        import_alias "$INCUS_ALIAS" "$INCUS_RECIPE" "$INCUS_TARBALL"
    fi
    exit 0
fi
# Built before the old image goes: other checkouts keep launching from the
# alias meanwhile. The alias then moves to the new image in one step.
if ! { incus image show "$ALIAS" >/dev/null 2>&1 &&
    [ "$(incus image get-property "$ALIAS" anklume.recipe 2>/dev/null)" = "$RECIPE" ]; }; then
    [ -s "$TARBALL" ] || build_tarball
    import_alias "$ALIAS" "$RECIPE" "$TARBALL"
fi
