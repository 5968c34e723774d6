#!/usr/bin/env bash
# Runs anklume-gpud against the REAL NVML of this machine (an NVIDIA GPU and
# its driver needed; Incus and a system bus are not): builds gpud, starts a
# private dbus-daemon with the project's bus policy, serves gpud on it with
# --no-incus, then
#   1. lists the cards (gpud's ListGpus beside nvidia-smi -L),
#   2. claims and releases a card for a dummy instance name,
#   3. reads Processes while a small CUDA driver-API program (built here with
#      cc against libcuda.so.1, no CUDA toolkit needed) holds a context,
# and prints everything to paste into docs/gpu.md ("On real hardware").
# Everything it starts is stopped by PID on exit; it writes only under a
# temporary directory (and target/ for the build).
#
#   sudo scripts/gpu-check.sh              (root: the bus policy lets root own
#                                           org.anklume.Gpu1, and Claim needs root)
#   GPUD=/usr/bin/anklume-gpud sudo -E scripts/gpu-check.sh   (no build)
#   NVML_LIBRARY=/path/libnvidia-ml.so.1 ...                   (another NVML)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
INSTANCE=gpu-check-dummy
step() { printf '\n== %s\n' "$*"; }
die() { echo "gpu-check: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0): the bus policy lets only root or anklume-gpud own org.anklume.Gpu1, and Claim needs root without polkit"
for tool in dbus-daemon busctl cc; do
    command -v "$tool" >/dev/null || die "$tool is missing (apt install dbus systemd gcc)"
done

WORK=$(mktemp -d /tmp/anklume-gpu-check.XXXXXX)
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    echo "(logs and state kept in $WORK)"
}
trap cleanup EXIT

step "machine"
uname -srm
if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,pci.bus_id,driver_version --format=csv
else
    echo "nvidia-smi not found (the check still runs: gpud uses NVML directly)"
fi

if [ -z "${GPUD:-}" ]; then
    step "build anklume-gpud"
    (cd "$REPO" && cargo build --release -p anklume-gpud)
    GPUD=$REPO/target/release/anklume-gpud
fi
[ -x "$GPUD" ] || die "no gpud binary at $GPUD"

step "private bus"
includes=""
for policy in "$REPO"/policy/dbus-1/*.conf; do includes+="<include>$policy</include>"; done
sed -e "s|@SOCKET@|$WORK/bus.sock|" -e "s|@INCLUDES@|$includes|" \
    "$REPO/tests/harness/dbus-test-bus.conf" >"$WORK/bus.conf"
dbus-daemon --config-file="$WORK/bus.conf" --nofork --print-address=3 3>"$WORK/bus.address" 2>"$WORK/bus.log" &
PIDS+=($!)
for _ in $(seq 50); do [ -s "$WORK/bus.address" ] && break; sleep 0.1; done
[ -s "$WORK/bus.address" ] || die "dbus-daemon did not start (see $WORK/bus.log)"
export DBUS_SYSTEM_BUS_ADDRESS
DBUS_SYSTEM_BUS_ADDRESS=$(head -n1 "$WORK/bus.address")
echo "bus: $DBUS_SYSTEM_BUS_ADDRESS"
gpu() { busctl --system --no-pager "$@"; }
OBJ=(org.anklume.Gpu1 /org/anklume/Gpu1 org.anklume.Gpu1)

step "anklume-gpud serve --no-incus (real NVML)"
mkdir -p "$WORK/state" "$WORK/context"
cat >"$WORK/infra.yml" <<INFRA
project_name: gpu-check
global:
  base_subnet: "10.199"
  gpu_policy: exclusive
domains:
  gpucheck:
    subnet_id: 1
    machines:
      $INSTANCE:
        type: lxc
        gpu: true
INFRA
echo "{}" >"$WORK/anklume.conf.yml"
args=(serve --no-incus --state-dir "$WORK/state" --config "$WORK/anklume.conf.yml" --infra "$WORK/infra.yml")
[ -n "${NVML_LIBRARY:-}" ] && args+=(--nvml-library "$NVML_LIBRARY")
ANKLUME_CONTEXT_DIR=$WORK/context "$GPUD" "${args[@]}" 2>"$WORK/gpud.log" &
PIDS+=($!)
for _ in $(seq 100); do
    [ "$(gpu call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus NameHasOwner s org.anklume.Gpu1 2>/dev/null)" = "b true" ] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { cat "$WORK/gpud.log" >&2; die "anklume-gpud exited"; }
    sleep 0.1
done
cat "$WORK/gpud.log"
gpu get-property "${OBJ[@]}" LastError

step "1. ListGpus"
gpu call "${OBJ[@]}" ListGpus
"$GPUD" list

step "2. Claim and Release for $INSTANCE (Incus absent)"
gpu call "${OBJ[@]}" Claim ss "$INSTANCE" ""
"$GPUD" claims
gpu call "${OBJ[@]}" Release s "$INSTANCE"
"$GPUD" claims

step "3. Processes while a CUDA context is held"
cat >"$WORK/hold.c" <<'C'
/* Holds a CUDA context and 256 MiB on GPU 0 until killed (driver API via
 * dlopen: only the driver's libcuda.so.1 is needed). */
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW);
    if (!cuda) { fprintf(stderr, "%s\n", dlerror()); return 1; }
    int (*cuInit)(unsigned) = dlsym(cuda, "cuInit");
    int (*cuDeviceGet)(int *, int) = dlsym(cuda, "cuDeviceGet");
    int (*cuCtxCreate)(void **, unsigned, int) = dlsym(cuda, "cuCtxCreate_v2");
    int (*cuMemAlloc)(unsigned long long *, size_t) = dlsym(cuda, "cuMemAlloc_v2");
    int device, rc;
    void *context;
    unsigned long long memory;
    if (!cuInit || !cuDeviceGet || !cuCtxCreate || !cuMemAlloc) { fprintf(stderr, "libcuda lacks a symbol\n"); return 1; }
    if ((rc = cuInit(0)) || (rc = cuDeviceGet(&device, 0)) || (rc = cuCtxCreate(&context, 0, device)) ||
        (rc = cuMemAlloc(&memory, 256u << 20))) {
        fprintf(stderr, "CUDA error %d\n", rc);
        return 1;
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) pause();
}
C
cc -O1 -o "$WORK/hold" "$WORK/hold.c" -ldl
"$WORK/hold" >"$WORK/hold.out" 2>&1 &
HOLD=$!
PIDS+=("$HOLD")
for _ in $(seq 100); do grep -q ready "$WORK/hold.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$WORK/hold.out" || { cat "$WORK/hold.out"; die "the CUDA program did not get a context"; }
echo "CUDA context held by PID $HOLD"
command -v nvidia-smi >/dev/null && nvidia-smi --query-compute-apps=pid,used_memory,gpu_uuid --format=csv
gpu call "${OBJ[@]}" Processes
"$GPUD" processes
if gpu call "${OBJ[@]}" Processes | grep -qw "$HOLD"; then
    echo "OK: gpud sees PID $HOLD (a host process: instance \"\")"
else
    die "gpud's Processes does not list PID $HOLD"
fi

step "done"
echo "gpu-check: all three steps passed; paste this output into docs/gpu.md (On real hardware)."
