#!/usr/bin/env bash
# bootstrap.sh: from a bare Debian 12 host to a working anklume admin
# domain. Run as root on the host; idempotent (a second run changes
# nothing); every step is printed as it happens. docs/quickstart.md.
set -euo pipefail

usage() {
    cat <<'EOF'
Usage: bootstrap.sh [--prod | --dev] [OPTIONS]

Takes this host from nothing to an admin domain that applies the rest of
the infra: nesting context, Incus, the host's infra, the admin machine,
its anklume-proxy socket, its provisioning. Idempotent.

Modes:
  --prod             a production host (default): Incus's storage pool
                     follows the root file system (btrfs, zfs, else dir)
  --dev              a development or test host: a dir storage pool
Options:
  --snapshot KIND    take a snapshot of / first: btrfs, zfs or snapper
                     (a missing tool is a warning, not an error)
  --YOLO             write yolo=true in the nesting context (privileged
                     LXC without a VM in the parent chain only warns)
  --import           write the running Incus as an infra
                     (anklume-gen import → /etc/anklume/infra.imported.yml)
                     and use it when there is no infra yet and no --infra
  --infra FILE       the host's infra (default: keep /etc/anklume/infra.yml,
                     or write a minimal admin-only one)
  --image ALIAS      the admin machine's image (default: the infra's
                     os_image; for the minimal infra images:debian/12)
  --wheels DIR       provision the admin machine offline: Ansible from this
                     directory of wheels (scripts/admin-wheels.sh fills one)
  --pip-index URL    provision from this package index (a PyPI mirror)
                     instead of https://pypi.org/simple
  --no-provision     skip provisioning (base_system and admin_bootstrap, run
                     inside the admin machine; needs its network, or
                     --wheels, and Debian's python3-venv there)
  -h, --help         this text

Environment: ANKLUME_CONTEXT_DIR (default /etc/anklume) holds the nesting
context and infra.yml; ANKLUME_STATE_DIR (default /var/lib/anklume/bootstrap)
the generated Ansible tree.
EOF
}

MODE=prod
SNAPSHOT=""
YOLO=false
IMPORT=false
INFRA_ARG=""
IMAGE=""
PROVISION=true
WHEELS=""
PIP_INDEX=""
while [ $# -gt 0 ]; do
    case "$1" in
        --prod) MODE=prod ;;
        --dev) MODE=dev ;;
        --snapshot)
            [ $# -ge 2 ] || { echo "ERROR: --snapshot needs btrfs, zfs or snapper" >&2; exit 2; }
            case "$2" in btrfs | zfs | snapper) SNAPSHOT=$2 ;; *)
                echo "ERROR: --snapshot $2: must be btrfs, zfs or snapper" >&2; exit 2 ;; esac
            shift ;;
        --YOLO) YOLO=true ;;
        --import) IMPORT=true ;;
        --infra)
            [ $# -ge 2 ] || { echo "ERROR: --infra needs a file" >&2; exit 2; }
            INFRA_ARG=$2; shift ;;
        --image)
            [ $# -ge 2 ] || { echo "ERROR: --image needs an image alias" >&2; exit 2; }
            IMAGE=$2; shift ;;
        --wheels)
            [ $# -ge 2 ] || { echo "ERROR: --wheels needs a directory" >&2; exit 2; }
            WHEELS=$2; shift ;;
        --pip-index)
            [ $# -ge 2 ] || { echo "ERROR: --pip-index needs a URL" >&2; exit 2; }
            PIP_INDEX=$2; shift ;;
        --no-provision) PROVISION=false ;;
        -h | --help) usage; exit 0 ;;
        *) echo "ERROR: unknown argument '$1' (bootstrap.sh --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$WHEELS" ] && ! compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "ERROR: --wheels $WHEELS: no .whl file there (scripts/admin-wheels.sh $WHEELS fills it)" >&2
    exit 2
fi
if [ -n "$INFRA_ARG" ] && [ ! -r "$INFRA_ARG" ]; then
    echo "ERROR: --infra $INFRA_ARG: no such readable file" >&2
    exit 2
fi

ETC=${ANKLUME_CONTEXT_DIR:-/etc/anklume}
STATE=${ANKLUME_STATE_DIR:-/var/lib/anklume/bootstrap}
INFRA="$ETC/infra.yml"
ADMIN_DOMAIN="admin"
INFRA_CHANGED=false
CHANGES=0
HERE=$(cd "$(dirname "$0")" && pwd)

step() { printf '==> %s\n' "$*"; }
say() { printf '    %s\n' "$*"; }
changed() { CHANGES=$((CHANGES + 1)); printf '    changed: %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "bootstrap.sh runs as root (it installs Incus and writes $ETC)"

[ -r "$HERE/scripts/bootstrap-admin.sh" ] || die "$HERE/scripts/bootstrap-admin.sh is missing (it comes with bootstrap.sh: checkout or package)"
GEN=$(command -v anklume-gen || true)
[ -n "$GEN" ] || { [ -x "$HERE/target/release/anklume-gen" ] && GEN="$HERE/target/release/anklume-gen"; } || true
[ -n "$GEN" ] || die "anklume-gen not found: install the anklume package (docs/install.md) or make install"
# A bad --infra stops the run before anything changes (every problem,
# FILE:LINE:COL).
if [ -n "$INFRA_ARG" ] && ! "$GEN" validate "$INFRA_ARG" >/dev/null 2>&1; then
    "$GEN" validate "$INFRA_ARG" >&2 || true
    die "$INFRA_ARG is not a valid infra: nothing was changed"
fi

# write_file PATH CONTENT: atomically, only when the content differs.
write_file() {
    if [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; then return 1; fi
    mkdir -p "$(dirname "$1")"
    printf '%s\n' "$2" >"$1.tmp.$$"
    mv "$1.tmp.$$" "$1"
}

# --- 1. A snapshot of / before anything changes -----------------------------
snapshot_root() {
    local stamp name
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    name="anklume-pre-bootstrap-$stamp"
    step "Snapshot of / ($SNAPSHOT)"
    case "$SNAPSHOT" in
        btrfs)
            command -v btrfs >/dev/null || { warn "btrfs not installed: no snapshot taken"; return; }
            [ "$(findmnt -no FSTYPE /)" = btrfs ] || { warn "/ is not btrfs: no snapshot taken"; return; }
            btrfs subvolume snapshot -r / "/.$name" >/dev/null && changed "read-only snapshot /.$name" ;;
        zfs)
            command -v zfs >/dev/null || { warn "zfs not installed: no snapshot taken"; return; }
            [ "$(findmnt -no FSTYPE /)" = zfs ] || { warn "/ is not zfs: no snapshot taken"; return; }
            zfs snapshot "$(findmnt -no SOURCE /)@$name" && changed "$(findmnt -no SOURCE /)@$name" ;;
        snapper)
            command -v snapper >/dev/null || { warn "snapper not installed: no snapshot taken"; return; }
            snapper create --description "$name" && changed "snapper snapshot '$name'" ;;
    esac
}
[ -z "$SNAPSHOT" ] || snapshot_root

# --- 2. Nesting context (ADR-020) --------------------------------------------
# Rule: when $ETC/absolute_level exists, the parent anklume wrote the four
# files when it created this machine (the anklume.incus collection, from
# its own level): they are kept as they are, so a child is counted once, by
# its parent. Otherwise they are detected here: no virtualisation → level 0;
# in a VM → absolute 1, relative 0, vm_nested true; in a container →
# absolute 1, relative 1, vm_nested true when a hypervisor shows under it
# (systemd-detect-virt --vm), else false. Levels above the one parent are
# not visible from inside. --YOLO only ever sets yolo to true.
step "Nesting context in $ETC"
if [ -f "$ETC/absolute_level" ]; then
    say "absolute_level $(cat "$ETC/absolute_level") already set (by the parent anklume or an earlier run): kept"
    for f in relative_level vm_nested yolo; do
        [ -f "$ETC/$f" ] || { case $f in relative_level) v=0 ;; *) v=false ;; esac
            write_file "$ETC/$f" "$v" && changed "$ETC/$f = $v (missing)"; }
    done
else
    virt=$(systemd-detect-virt 2>/dev/null) || virt=none
    vmn=false
    # In a container, --vm sees the hypervisor under the container's host.
    systemd-detect-virt --vm --quiet 2>/dev/null && vmn=true
    if [ "$virt" = none ]; then
        abs=0 rel=0
    elif systemd-detect-virt --container --quiet 2>/dev/null; then
        abs=1 rel=1
    else
        abs=1 rel=0
    fi
    say "systemd-detect-virt: $virt"
    write_file "$ETC/absolute_level" "$abs" && changed "$ETC/absolute_level = $abs"
    write_file "$ETC/relative_level" "$rel" && changed "$ETC/relative_level = $rel"
    write_file "$ETC/vm_nested" "$vmn" && changed "$ETC/vm_nested = $vmn"
    [ -f "$ETC/yolo" ] || { write_file "$ETC/yolo" false && changed "$ETC/yolo = false"; }
fi
if [ "$YOLO" = true ]; then
    write_file "$ETC/yolo" true && changed "$ETC/yolo = true (--YOLO)"
fi
say "level $(cat "$ETC/absolute_level") (relative $(cat "$ETC/relative_level")), vm_nested $(cat "$ETC/vm_nested"), yolo $(cat "$ETC/yolo")"
if [ "$MODE" = prod ] && [ "$(cat "$ETC/absolute_level")" != 0 ]; then
    warn "--prod on a nested host (level $(cat "$ETC/absolute_level")): --dev is meant for those"
fi

# --- 3. Incus -----------------------------------------------------------------
step "Incus"
incus_installed() {
    command -v incus >/dev/null || return 1
    incus info >/dev/null 2>&1 && return 0
    local d
    for d in /usr/libexec/incus /usr/lib/incus /usr/sbin /usr/bin /opt/incus/bin; do
        [ -x "$d/incusd" ] && return 0
    done
    return 1
}
# backports_configured: an apt source for bookworm-backports, in one-line
# (sources.list, *.list) or deb822 (*.sources) form.
backports_configured() {
    grep -qsE '^deb[[:space:]].*[[:space:]]bookworm-backports([[:space:]]|$)' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list ||
        grep -qsE '^Suites:(.*[[:space:]])?bookworm-backports([[:space:]]|$)' /etc/apt/sources.list.d/*.sources
}
# fit_subids: in a container, root's subordinate ids (/etc/subuid,
# /etc/subgid), from which Incus maps its containers, must lie inside the
# ids this container has (/proc/self/uid_map): the package's default
# (root:1000000:1000000000) does not fit an unprivileged container's 10^9
# ("System doesn't have a functional idmap setup"). Run after a fresh
# install, before incusd first starts; the range is cut to what fits.
fit_subids() {
    local kind have start count fitted=false
    for kind in uid gid; do
        have=$(awk '$1 == 0 {print $3}' "/proc/self/${kind}_map")
        [ -n "$have" ] && [ "$have" -lt 4294967295 ] || continue
        start=$(sed -n 's/^root:\([0-9]*\):[0-9]*$/\1/p' "/etc/sub$kind" | head -1)
        count=$(sed -n 's/^root:[0-9]*:\([0-9]*\)$/\1/p' "/etc/sub$kind" | head -1)
        [ -n "$start" ] || { start=1000000 count=0; }
        if [ "$((start + count))" -gt "$have" ] || [ "$count" -eq 0 ]; then
            [ "$start" -lt "$((have - 65536))" ] || start=65536
            count=$((have - start))
            sed -i '/^root:/d' "/etc/sub$kind"
            echo "root:$start:$count" >>"/etc/sub$kind"
            changed "/etc/sub$kind: root:$start:$count (inside this container's $have ids)"
            fitted=true
        fi
    done
    # incusd reads them when it starts.
    if [ "$fitted" = true ] && [ -d /run/systemd/system ] && systemctl is-active --quiet incus.service; then
        systemctl restart incus.service
    fi
}
if ! incus_installed; then
    # shellcheck source=/dev/null
    codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
    export DEBIAN_FRONTEND=noninteractive
    if [ "$codename" = bookworm ]; then
        say "not installed: installing it from bookworm-backports"
        # A bookworm-backports source already there (Debian's, or a local
        # mirror's) is used as it is.
        if ! backports_configured; then
            echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/bookworm-backports.list
            changed "/etc/apt/sources.list.d/bookworm-backports.list"
        fi
        apt-get update -q || die "apt-get update failed (the sources above)"
        apt-get install -y -q -t bookworm-backports incus || die "apt-get install -t bookworm-backports incus failed"
    else
        # Later Debian releases (and Ubuntu's universe) have it in the
        # release itself.
        say "not installed: installing it with apt (${codename:-unknown release})"
        apt-get update -q || die "apt-get update failed (the sources above)"
        apt-get install -y -q incus ||
            die "apt-get install incus failed: install Incus (https://linuxcontainers.org/incus/docs/main/installing/), then run bootstrap.sh again"
    fi
    changed "installed incus $(dpkg-query -W -f '${Version}' incus 2>/dev/null)"
    fit_subids
    # The package starts incus.socket; socket activation starts incusd on
    # the first request. Started here where the package did not.
    if [ -d /run/systemd/system ] && ! systemctl is-active --quiet incus.socket; then
        systemctl enable --now incus.socket >/dev/null 2>&1 || warn "systemctl enable --now incus.socket failed"
    fi
else
    say "installed: $(incus --version 2>/dev/null || echo '?')"
fi
for _ in $(seq 1 60); do incus info >/dev/null 2>&1 && break; sleep 0.5; done
incus info >/dev/null 2>&1 || die "incusd does not answer (systemctl status incus; or tests/harness/incus.sh up without systemd)"

# incus_preseed MODE: sets PRESEED, the preseed of a fresh Incus, and
# POOL_DRIVER, and says what it chose. Pool 'default' follows the file
# system that holds /var/lib/incus (a separate /var counts) in --prod, when
# Incus can use it: btrfs (with btrfs-progs) → a subvolume under
# /var/lib/incus, as `incus admin init` makes there; zfs (with
# zfsutils-linux) → a dataset 'incus' of that zfs pool; else, and in --dev,
# a directory. The default profile's root disk goes on it.
incus_preseed() {
    local fs source=""
    fs=$(findmnt -no FSTYPE -T /var/lib/incus 2>/dev/null || findmnt -no FSTYPE -T /)
    POOL_DRIVER=dir
    if [ "$1" = prod ]; then
        case "$fs" in
            btrfs)
                if command -v btrfs >/dev/null; then
                    POOL_DRIVER=btrfs source=/var/lib/incus/storage-pools/default
                else
                    warn "/var/lib/incus is on btrfs but btrfs-progs is not installed: a dir pool (apt-get install btrfs-progs before a first run for a btrfs one)"
                fi ;;
            zfs)
                if command -v zfs >/dev/null; then
                    POOL_DRIVER=zfs
                    source="$({ findmnt -no SOURCE -T /var/lib/incus 2>/dev/null || findmnt -no SOURCE -T /; } | cut -d/ -f1)/incus"
                else
                    warn "/var/lib/incus is on zfs but zfsutils-linux is not installed: a dir pool"
                fi ;;
        esac
    fi
    say "not initialised: preseed with a $POOL_DRIVER storage pool 'default' (/var/lib/incus on $fs, --$1)"
    PRESEED="storage_pools:
- name: default
  driver: $POOL_DRIVER
${source:+  config:
    source: $source
}profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk"
}

if [ -n "$(incus storage list --format csv 2>/dev/null)" ]; then
    say "initialised (storage pools: $(incus storage list --format csv -c n | paste -sd, -)): left as it is"
    incus storage show default >/dev/null 2>&1 ||
        warn "no storage pool named 'default': anklume's profiles put root disks there (incus_profiles_storage_pool)"
else
    incus_preseed "$MODE"
    printf '%s\n' "$PRESEED" | incus admin init --preseed
    changed "Incus initialised (pool default: $POOL_DRIVER)"
fi

# --- 4. The host's infra --------------------------------------------------------

if [ "$IMPORT" = true ]; then
    step "Import of the running Incus"
    "$GEN" import -o "$ETC/infra.imported.yml.new" --force
    if [ -f "$ETC/infra.imported.yml" ] && cmp -s "$ETC/infra.imported.yml" "$ETC/infra.imported.yml.new"; then
        rm -f "$ETC/infra.imported.yml.new"; say "$ETC/infra.imported.yml: unchanged"
    else
        mv "$ETC/infra.imported.yml.new" "$ETC/infra.imported.yml"; changed "$ETC/infra.imported.yml written"
    fi
    if [ -z "$INFRA_ARG" ] && [ ! -f "$INFRA" ]; then
        INFRA_ARG="$ETC/infra.imported.yml"
        say "used as the host's infra (there was none)"
    else
        say "offered in $ETC/infra.imported.yml: the infra stays ${INFRA_ARG:-$INFRA} (--infra $ETC/infra.imported.yml to take it)"
    fi
fi

# free_base_subnet: the first 10.X (100..199) that no Incus network and no
# route of this host uses.
free_base_subnet() {
    local x used
    used="$(incus network list --format csv -c 4 2>/dev/null) $(ip -4 route 2>/dev/null)"
    for x in $(seq 100 199); do
        case "$used" in *"10.$x."*) ;; *) echo "10.$x"; return ;; esac
    done
    die "no free 10.X base subnet (100..199): give --infra FILE"
}

step "Host infra $INFRA"
if [ -n "$INFRA_ARG" ]; then
    "$GEN" validate "$INFRA_ARG" >/dev/null || { "$GEN" validate "$INFRA_ARG" || true; die "$INFRA_ARG is not a valid infra"; }
    if [ "$(realpath "$INFRA_ARG")" = "$(realpath -m "$INFRA")" ]; then
        say "already in place"
    elif [ -f "$INFRA" ] && cmp -s "$INFRA_ARG" "$INFRA"; then
        say "unchanged"
    else
        mkdir -p "$ETC"; cp "$INFRA_ARG" "$INFRA.tmp.$$"; mv "$INFRA.tmp.$$" "$INFRA"
        changed "installed from $INFRA_ARG"; INFRA_CHANGED=true
    fi
elif [ -f "$INFRA" ]; then
    say "present: kept (give --infra FILE to replace it)"
else
    base=$(free_base_subnet)
    write_file "$INFRA" "# The host's infra, written by bootstrap.sh: the admin domain only.
# Add your domains here (docs/quickstart.md), then apply from the admin
# machine.
project_name: anklume-host
global:
  base_subnet: \"$base\"
  default_os_image: ${IMAGE:-images:debian/12}
domains:
  $ADMIN_DOMAIN:
    description: \"Administration: anklume and Ansible\"
    subnet_id: 0
    machines:
      admin-ctl:
        type: lxc
        ip: \"$base.0.10\"
        roles: [base_system, admin_bootstrap]" && { changed "minimal admin-only infra written (base subnet $base)"; INFRA_CHANGED=true; }
fi
"$GEN" validate "$INFRA" >/dev/null || { "$GEN" validate "$INFRA" || true; die "$INFRA is not a valid infra"; }

step "Generated tree in $STATE"
mkdir -p "$STATE"
"$GEN" sync "$INFRA" --base-dir "$STATE" >"$STATE/sync.log" 2>&1 || { cat "$STATE/sync.log" >&2; die "anklume-gen sync failed"; }
if grep -q 'Written:' "$STATE/sync.log"; then
    say "$(grep -c 'Written:' "$STATE/sync.log") file(s) written"
else
    say "up to date"
fi

# The daemons read $INFRA: reloaded when it changed (those present).
if [ "$INFRA_CHANGED" = true ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    for unit in anklume-netd anklume-snapd anklume-gpud \
        $(systemctl list-units --plain --no-legend --state=active 'anklume-proxy@*.service' 2>/dev/null | cut -d' ' -f1); do
        if systemctl is-active --quiet "$unit"; then
            if systemctl reload "$unit" 2>/dev/null; then
                say "reloaded $unit"
            else
                warn "reload of $unit failed (systemctl status $unit)"
            fi
        fi
    done
fi

# --- 5-7. The admin domain, anklume-proxy, provisioning ------------------------
# scripts/bootstrap-admin.sh: beside this script in a checkout, and in the
# package (/usr/share/anklume/scripts/).
# shellcheck source=scripts/bootstrap-admin.sh
. "$HERE/scripts/bootstrap-admin.sh"

# --- Done -------------------------------------------------------------------------------
step "Done: $CHANGES change(s)"
cat <<EOF

Next, inside the admin machine (sync and apply the rest of the infra):

    incus exec --project $PROJECT $ADMIN -- sh -c 'cd /root/anklume && anklume-gen sync infra.yml && ANSIBLE_CONFIG=/usr/share/anklume/ansible/ansible.cfg ansible-playbook -i inventory /usr/share/anklume/ansible/site.yml'

EOF
