#!/usr/bin/env bash
# Installs and starts what the test suite needs on Debian 12, and nothing
# that is already there. Run by `make test`; safe to run again.
#   - a Rust toolchain (cargo >= 1.89) must already be present;
#   - python3-yaml: Ansible's YAML reader, to cross-check generated files;
#   - dbus-daemon, busctl, dbus-send, setpriv: private-bus D-Bus tests;
#   - strace: the snapshot registry test sees its fsyncs;
#   - nft, ip, ping, busybox nc: isolation tests in network namespaces;
#   - libnftnl-dev, libmnl-dev, pkg-config: anklume-netd links libnftnl to
#     write its table over netlink (needed to build the workspace);
#   - Incus (bookworm-backports), started with a storage pool and a local
#     busybox test image: tests/harness/incus.sh;
#   - Ansible, ansible-lint, yamllint in a venv (PyPI, pinned):
#     scripts/install-ansible.sh;
#   - a Debian 12 image with python3 and systemd, built once with
#     debootstrap and cached: scripts/debian-image.sh;
#   - admin_bootstrap's pinned Ansible as wheels (PyPI, cached in
#     /var/cache/anklume/wheels/admin): bootstrap.sh's system test
#     provisions its admin machine offline: scripts/admin-wheels.sh;
#   - cargo-deb (pinned, cached), lintian, dpkg-dev: the package that
#     make test builds (make deb) and the system test installs:
#     scripts/install-cargo-deb.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "ERROR: cargo not found. Install a Rust toolchain >= 1.89 (https://rustup.rs) and retry." >&2
    exit 1
fi

need=()
have() { command -v "$1" >/dev/null 2>&1; }
{ [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import yaml' 2>/dev/null; } || need+=(python3 python3-yaml)
have dbus-daemon || need+=(dbus-daemon)
have dbus-send || need+=(dbus-bin)
have busctl || need+=(systemd)
have setpriv || need+=(util-linux)
have strace || need+=(strace)
[ -x /bin/busybox ] || need+=(busybox-static)
have ping || need+=(iputils-ping)
have nft || need+=(nftables)
have ip || need+=(iproute2)
have pkg-config || need+=(pkg-config)
pkg-config --exists libnftnl 2>/dev/null || need+=(libnftnl-dev)
pkg-config --exists libmnl 2>/dev/null || need+=(libmnl-dev)

if [ ${#need[@]} -gt 0 ]; then
    echo "Installing Debian packages: ${need[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

tests/harness/incus.sh up
scripts/install-ansible.sh
scripts/debian-image.sh
scripts/admin-wheels.sh
scripts/install-cargo-deb.sh
echo "Test dependencies present."
