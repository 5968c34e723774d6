#!/usr/bin/env bash
# What `make deb` needs, installed once and only when missing: the pinned
# cargo-deb, built into a cache shared by every checkout (--path prints
# where), and from Debian lintian, dpkg-dev (dpkg-shlibdeps: the
# package's library Depends) and the build dependencies of the binaries
# (pkg-config, libnftnl-dev, libmnl-dev: anklume-netd links libnftnl).
set -euo pipefail
CARGO_DEB_VERSION=3.8.0
root=${ANKLUME_CARGO_DEB_ROOT:-/var/cache/anklume/cargo-deb-$CARGO_DEB_VERSION}
bin=$root/bin/cargo-deb
if [ "${1:-}" = --path ]; then echo "$bin"; exit 0; fi

need=()
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v dpkg-shlibdeps >/dev/null 2>&1 || need+=(dpkg-dev)
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists libnftnl 2>/dev/null || need+=(libnftnl-dev)
pkg-config --exists libmnl 2>/dev/null || need+=(libmnl-dev)
if [ ${#need[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    exit 0
fi
mkdir -p "$root"
echo "Installing cargo-deb $CARGO_DEB_VERSION into $root (once; a few minutes)"
cargo install cargo-deb --version "=$CARGO_DEB_VERSION" --locked --root "$root"
