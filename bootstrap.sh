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
  --no-provision     skip the admin_bootstrap role (needs Ansible on the
                     host and network access in the admin machine)
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
        --no-provision) PROVISION=false ;;
        -h | --help) usage; exit 0 ;;
        *) echo "ERROR: unknown argument '$1' (bootstrap.sh --help)" >&2; exit 2 ;;
    esac
    shift
done
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
if ! incus_installed; then
    say "not installed: installing it from bookworm-backports"
    if ! grep -rqs '^deb .*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        echo "deb http://deb.debian.org/debian bookworm-backports main" >/etc/apt/sources.list.d/bookworm-backports.list
        changed "/etc/apt/sources.list.d/bookworm-backports.list"
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports incus
    changed "installed incus"
else
    say "installed: $(incus --version 2>/dev/null || echo '?')"
fi
for _ in $(seq 1 60); do incus info >/dev/null 2>&1 && break; sleep 0.5; done
incus info >/dev/null 2>&1 || die "incusd does not answer (systemctl status incus; or tests/harness/incus.sh up without systemd)"

if [ -n "$(incus storage list --format csv 2>/dev/null)" ]; then
    say "initialised (storage pools: $(incus storage list --format csv -c n | paste -sd, -)): left as it is"
    incus storage show default >/dev/null 2>&1 ||
        warn "no storage pool named 'default': anklume's profiles put root disks there (incus_profiles_storage_pool)"
else
    fs=$(findmnt -no FSTYPE /var/lib/incus 2>/dev/null || findmnt -no FSTYPE /)
    driver=dir source=""
    if [ "$MODE" = prod ]; then
        case "$fs" in
            btrfs) driver=btrfs; source=/var/lib/incus/storage-pools/default ;;
            zfs) driver=zfs; source="$(findmnt -no SOURCE / | cut -d/ -f1)/incus" ;;
        esac
    fi
    say "not initialised: preseed with a $driver storage pool 'default' (root file system: $fs, --$MODE)"
    incus admin init --preseed <<EOF
storage_pools:
- name: default
  driver: $driver
$([ -z "$source" ] || printf '  config:\n    source: %s\n' "$source")
profiles:
- name: default
  devices:
    root:
      path: /
      pool: default
      type: disk
EOF
    changed "Incus initialised (pool default: $driver)"
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

# --- 5. The admin domain and its machine ---------------------------------------
# yaml_value FILE KEY: a top-level scalar of a file anklume-gen wrote.
yaml_value() { sed -n "s/^$2: *'\{0,1\}\([^']*\)'\{0,1\}\$/\1/p" "$1" | head -1; }

[ -f "$STATE/group_vars/$ADMIN_DOMAIN.yml" ] || die "the infra has no domain '$ADMIN_DOMAIN' (the admin domain): add it (docs/quickstart.md)"
ADMIN=$(awk '/^      hosts:/ {h=1; next} h && /^        [^ ]/ {sub(/:.*/, ""); gsub(/ /, ""); print; exit}' "$STATE/inventory/$ADMIN_DOMAIN.yml")
[ -n "$ADMIN" ] || die "the domain '$ADMIN_DOMAIN' has no machine"
GV="$STATE/group_vars/$ADMIN_DOMAIN.yml"
HV="$STATE/host_vars/$ADMIN.yml"
PROJECT=$(yaml_value "$GV" incus_project)
NET=$(sed -n 's/^  name: //p' "$GV" | head -1)
GATEWAY=$(sed -n 's/^  gateway: //p' "$GV" | head -1)
TYPE=$(yaml_value "$HV" instance_type)
IP=$(yaml_value "$HV" instance_ip)
[ -n "$IMAGE" ] || IMAGE=$(yaml_value "$HV" instance_os_image)
NAT=$(yaml_value "$GV" domain_nat); NAT=${NAT:-true}

step "Admin domain '$ADMIN_DOMAIN' (project $PROJECT, bridge $NET, machine $ADMIN)"
if incus project show "$PROJECT" >/dev/null 2>&1; then
    say "project $PROJECT exists"
else
    # The derived restrictions, except restricted.devices.proxy: the admin
    # machine carries anklume-proxy's device (docs/lifecycle.md).
    args=(-c features.images=false -c features.profiles=true -c features.storage.volumes=true -c features.networks=false)
    while IFS= read -r kv; do
        key=${kv%%: *} value=${kv#*: }; value=${value//\'/}
        [ "$key" = restricted.devices.proxy ] && value=allow
        args+=(-c "$key=$value")
    done < <(sed -n '/^incus_project_restrictions:/,/^[^ ]/ s/^  \(restricted[^:]*: .*\)$/\1/p' "$GV")
    incus project create "$PROJECT" "${args[@]}" >/dev/null
    changed "project $PROJECT"
fi
if incus network show "$NET" >/dev/null 2>&1; then
    say "bridge $NET exists"
else
    incus network create "$NET" --type bridge ipv4.address="$GATEWAY/24" ipv4.nat="$NAT" \
        ipv4.dhcp=true ipv6.address=none ipv6.nat=false >/dev/null
    changed "bridge $NET ($GATEWAY/24, nat $NAT)"
fi
if incus profile device show default --project "$PROJECT" 2>/dev/null | grep -q "network: $NET"; then
    say "profile default of $PROJECT has its root disk and eth0"
else
    incus profile device add default root disk path=/ pool=default --project "$PROJECT" >/dev/null 2>&1 || true
    incus profile device add default eth0 nic name=eth0 network="$NET" --project "$PROJECT" >/dev/null
    changed "profile default of $PROJECT: root disk, eth0 on $NET"
fi
if incus info "$ADMIN" --project "$PROJECT" >/dev/null 2>&1; then
    say "machine $ADMIN exists"
else
    vm=(); [ "$TYPE" = vm ] && vm=(--vm)
    incus init "$IMAGE" "$ADMIN" --project "$PROJECT" "${vm[@]}" -c security.protection.delete=true >/dev/null
    incus config device override "$ADMIN" eth0 --project "$PROJECT" ipv4.address="$IP" >/dev/null
    changed "machine $ADMIN ($TYPE, $IMAGE, $IP)"
fi
if [ "$(incus list "$ADMIN" --project "$PROJECT" --format csv -c s)" != RUNNING ]; then
    incus start "$ADMIN" --project "$PROJECT"
    changed "started $ADMIN"
fi
in_admin() { incus exec "$ADMIN" --project "$PROJECT" -- "$@"; }
for _ in $(seq 1 120); do in_admin true >/dev/null 2>&1 && break; sleep 0.5; done
in_admin sh -c 'systemctl is-system-running --wait >/dev/null 2>&1 || true'

# Its nesting context: one level below this host (as the collection does).
cabs=$(($(cat "$ETC/absolute_level") + 1))
if [ "$TYPE" = vm ]; then crel=0 cvmn=true; else crel=$(($(cat "$ETC/relative_level") + 1)) cvmn=$(cat "$ETC/vm_nested"); fi
for kv in "absolute_level=$cabs" "relative_level=$crel" "vm_nested=$cvmn" "yolo=$(cat "$ETC/yolo")"; do
    f=${kv%%=*} v=${kv#*=}
    if [ "$(in_admin cat "/etc/anklume/$f" 2>/dev/null)" != "$v" ]; then
        # shellcheck disable=SC2016 # expanded by the machine's sh
        in_admin sh -c 'mkdir -p /etc/anklume && printf "%s\n" "$2" >"/etc/anklume/$1"' sh "$f" "$v"
        changed "$ADMIN:/etc/anklume/$f = $v"
    fi
done

# anklume-gen, the Ansible content and the infra inside the admin machine.
ANSIBLE_DIR=/usr/share/anklume/ansible
[ -d "$ANSIBLE_DIR" ] || ANSIBLE_DIR="$HERE/ansible"
push_if_changed() { # SRC DEST MODE
    if [ "$(in_admin sha256sum "$2" 2>/dev/null | cut -d' ' -f1)" != "$(sha256sum "$1" | cut -d' ' -f1)" ]; then
        in_admin mkdir -p "$(dirname "$2")"
        incus file push -q --mode "$3" "$1" "$ADMIN$2" --project "$PROJECT"
        changed "$ADMIN:$2"
    fi
}
step "anklume inside $ADMIN"
push_if_changed "$GEN" /usr/local/bin/anklume-gen 0755
# The incus client: Ansible's incus connection and the anklume.incus
# collection run it (through anklume-proxy's socket).
push_if_changed "$(command -v incus)" /usr/local/bin/incus 0755
push_if_changed "$INFRA" /root/anklume/infra.yml 0644
tarball=$(mktemp); trap 'rm -f "$tarball"' EXIT
tar -C "$ANSIBLE_DIR" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$tarball" .
if [ "$(in_admin cat /usr/share/anklume/.ansible.sha256 2>/dev/null)" != "$(sha256sum "$tarball" | cut -d' ' -f1)" ]; then
    in_admin sh -c 'rm -rf /usr/share/anklume/ansible && mkdir -p /usr/share/anklume/ansible'
    incus file push -q "$tarball" "$ADMIN/tmp/anklume-ansible.tar" --project "$PROJECT"
    in_admin sh -c 'tar -C /usr/share/anklume/ansible -xf /tmp/anklume-ansible.tar && rm /tmp/anklume-ansible.tar'
    in_admin sh -c "echo $(sha256sum "$tarball" | cut -d' ' -f1) >/usr/share/anklume/.ansible.sha256"
    changed "$ADMIN:/usr/share/anklume/ansible (from $ANSIBLE_DIR)"
else
    say "up to date"
fi

# --- 6. anklume-proxy --------------------------------------------------------------
step "anklume-proxy for $ADMIN"
if command -v anklume-proxy >/dev/null; then
    if [ -d /run/systemd/system ] && ! systemctl is-enabled --quiet "anklume-proxy@$ADMIN.socket" 2>/dev/null; then
        systemctl enable --now "anklume-proxy@$ADMIN.socket" >/dev/null 2>&1
        changed "anklume-proxy@$ADMIN.socket enabled and started"
    elif [ -d /run/systemd/system ] && ! systemctl is-active --quiet "anklume-proxy@$ADMIN.socket"; then
        systemctl start "anklume-proxy@$ADMIN.socket"; changed "anklume-proxy@$ADMIN.socket started"
    fi
    out=$(anklume-proxy attach "$ADMIN" --project "$PROJECT" 2>&1) || die "anklume-proxy attach: $out"
    case "$out" in *"already attached"*) say "$out" ;; *) changed "$out" ;; esac
else
    warn "anklume-proxy is not installed: $ADMIN has no Incus socket yet (install the anklume package, then run bootstrap.sh again)"
fi

# --- 7. Provisioning: admin_bootstrap ------------------------------------------------
step "Provisioning $ADMIN (base_system, admin_bootstrap)"
PLAYBOOK=""
for p in ansible-playbook /var/cache/anklume/venv/bin/ansible-playbook; do
    command -v "$p" >/dev/null && { PLAYBOOK=$(command -v "$p"); break; }
done
if [ "$PROVISION" = false ]; then
    say "skipped (--no-provision)"
elif [ -z "$PLAYBOOK" ]; then
    warn "Ansible not found on this host: $ADMIN is not provisioned (scripts/install-ansible.sh, then run bootstrap.sh again; or --no-provision)"
else
    log="$STATE/provision.log"
    if ANSIBLE_CONFIG="$ANSIBLE_DIR/ansible.cfg" "$PLAYBOOK" -i "$STATE/inventory" "$ANSIBLE_DIR/site.yml" \
        --limit "$ADMIN" --tags provision >"$log" 2>&1; then
        recap=$(grep -E "^$ADMIN +:" "$log" || true)
        say "$recap"
        case "$recap" in *"changed=0"*) ;; *) changed "provisioned ($log)" ;; esac
    else
        tail -20 "$log" >&2
        die "provisioning failed (whole log: $log)"
    fi
fi

# --- Done -------------------------------------------------------------------------------
step "Done: $CHANGES change(s)"
cat <<EOF

Next, inside the admin machine (sync and apply the rest of the infra):

    incus exec --project $PROJECT $ADMIN -- sh -c 'cd /root/anklume && anklume-gen sync infra.yml && ansible-playbook -i inventory /usr/share/anklume/ansible/site.yml'

EOF
