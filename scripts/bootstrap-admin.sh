# shellcheck shell=bash
# Sourced by bootstrap.sh (its steps 5-7, split off by concern): the admin
# domain and its machine, anklume-proxy, provisioning. Uses bootstrap.sh's
# variables and functions (STATE, ETC, INFRA, GEN, IMAGE, ADMIN_DOMAIN,
# PROVISION, HERE; step, say, changed, warn, die); sets ADMIN and PROJECT.
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
    # Exactly the derived restrictions: they open proxy devices here, for
    # the device anklume-proxy attach gives the admin machine
    # (docs/lifecycle.md).
    args=(-c features.images=false -c features.profiles=true -c features.storage.volumes=true -c features.networks=false)
    while IFS= read -r kv; do
        key=${kv%%: *} value=${kv#*: }; value=${value//\'/}
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

# --- 7. Provisioning, from inside the admin machine --------------------------------
# Ansible runs in the admin machine itself (connection local), so the host
# needs none: first the admin_bootstrap role's pinned Ansible in its venv
# (pip only for pins not yet there, from --wheels, --pip-index or PyPI),
# then site.yml's provision plays for this machine (base_system,
# admin_bootstrap), which find it all in place.
step "Provisioning $ADMIN (base_system, admin_bootstrap), from inside it"
if [ "$PROVISION" = false ]; then
    say "skipped (--no-provision)"
else
    role=/usr/share/anklume/ansible/roles/admin_bootstrap
    defaults="$ANSIBLE_DIR/roles/admin_bootstrap/defaults/main.yml"
    venv=$(yaml_value "$defaults" admin_bootstrap_venv)
    mapfile -t pins < <(sed -n '/^admin_bootstrap_pip_packages:/,/^[^ ]/ s/^  - //p' "$defaults")
    if [ -z "$venv" ] || [ ${#pins[@]} -eq 0 ]; then die "no admin_bootstrap_venv or pins in $defaults"; fi
    source_vars=()
    if [ -n "$WHEELS" ]; then
        source_vars=(-e admin_bootstrap_wheel_dir=/var/cache/anklume/wheels)
    elif [ -n "$PIP_INDEX" ]; then
        source_vars=(-e "admin_bootstrap_index_url=$PIP_INDEX")
    fi
    if ! in_admin python3 -c 'import ensurepip' >/dev/null 2>&1; then
        say "python3-venv missing in $ADMIN: apt-get install python3-venv there"
        in_admin sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv' >"$STATE/provision.log" 2>&1 ||
            { tail -5 "$STATE/provision.log" >&2; die "$ADMIN cannot install python3-venv (no route to a Debian mirror? its domain's nat, or an image that has it)"; }
        changed "$ADMIN: python3-venv installed"
    fi
    if ! in_admin test -x "$venv/bin/python"; then
        in_admin python3 -m venv "$venv"
        changed "$ADMIN: venv $venv"
    fi
    missing=$(in_admin "$venv/bin/python" "$role/files/pins_missing.py" "${pins[@]}")
    if [ -z "$missing" ]; then
        say "Ansible in $venv: ${pins[*]}"
    else
        pip_source=(--index-url "${PIP_INDEX:-https://pypi.org/simple}")
        if [ -n "$WHEELS" ]; then
            find "$WHEELS" -maxdepth 1 -name '*.whl' -printf '%f\n' | tar -C "$WHEELS" -cf "$tarball" --no-recursion -T -
            in_admin sh -c 'mkdir -p /var/cache/anklume/wheels'
            incus file push -q "$tarball" "$ADMIN/tmp/anklume-wheels.tar" --project "$PROJECT"
            in_admin sh -c 'tar -C /var/cache/anklume/wheels -xf /tmp/anklume-wheels.tar && rm /tmp/anklume-wheels.tar'
            pip_source=(--no-index --find-links /var/cache/anklume/wheels)
            say "wheels from $WHEELS pushed to $ADMIN:/var/cache/anklume/wheels"
        fi
        # shellcheck disable=SC2086 # the missing pins, one word each
        in_admin "$venv/bin/pip" install -q --disable-pip-version-check "${pip_source[@]}" $missing >"$STATE/provision.log" 2>&1 ||
            { tail -10 "$STATE/provision.log" >&2; die "pip install in $ADMIN failed (--wheels DIR or --pip-index URL when it has no PyPI)"; }
        changed "$ADMIN: $missing"
    fi
    log="$STATE/provision.log"
    if in_admin env ANSIBLE_CONFIG=/usr/share/anklume/ansible/ansible.cfg ANSIBLE_NOCOLOR=1 sh -c \
        'cd /root/anklume && anklume-gen sync infra.yml >/dev/null && "$@"' sh \
        "$venv/bin/ansible-playbook" -i inventory /usr/share/anklume/ansible/site.yml \
        --limit "$ADMIN" --tags provision -e ansible_connection=local \
        -e ansible_python_interpreter=/usr/bin/python3 "${source_vars[@]}" >"$log" 2>&1; then
        recap=$(grep -E "^$ADMIN +:" "$log" || true)
        say "$recap"
        case "$recap" in *"changed=0"*) ;; *) changed "provisioned ($log)" ;; esac
    else
        tail -20 "$log" >&2
        die "provisioning failed (whole log: $log)"
    fi
fi
