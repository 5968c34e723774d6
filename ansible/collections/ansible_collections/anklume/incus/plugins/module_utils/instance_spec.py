# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""From anklume-gen's instance_* variables to the Incus instance wanted."""

from __future__ import annotations

import re

from ansible_collections.anklume.incus.plugins.module_utils.incus_api import (
    incus_str,
    str_devices,
    str_map,
)

TYPES = {"lxc": "container", "vm": "virtual-machine"}
MANAGED_KEYS = "user.anklume.managed-keys"


def local_alias(image):
    """images:debian/13 -> debian/13 (incus_images copies it so); alias -> alias."""
    return re.sub(r"^[^:]*:", "", image)


def desired(machine, network):
    """The instance body wanted for one machine (gen variables)."""
    name = machine.get("instance_name")
    if not name:
        raise ValueError("machine without instance_name: %r" % (machine,))
    itype = machine.get("instance_type") or "lxc"
    if itype not in TYPES:
        raise ValueError("%s: instance_type must be lxc or vm, got %r" % (name, itype))
    if not machine.get("instance_os_image"):
        raise ValueError("%s: no instance_os_image" % name)
    config = str_map(machine.get("instance_config"))
    ephemeral = incus_str(machine.get("instance_ephemeral", False)) == "true"
    config["security.protection.delete"] = "false" if ephemeral else "true"
    # The keys anklume sets, remembered on the instance: a key later removed
    # from the infra is unset, while keys Incus or the user set stay.
    config[MANAGED_KEYS] = ",".join(sorted(config))
    devices = str_devices(machine.get("instance_devices"))
    if machine.get("instance_ip"):
        eth0 = {"type": "nic", "name": "eth0", "network": network}
        eth0.update(devices.get("eth0", {}))
        eth0["ipv4.address"] = str(machine["instance_ip"])
        devices["eth0"] = eth0
    # No gpu device here for `gpu: true`: anklume-gpud adds one pinned to
    # the card the machine's claim holds (ansible/gpu.yml), see kept_devices.
    profiles = [str(p) for p in machine.get("instance_profiles") or []]
    if "default" not in profiles:
        profiles.insert(0, "default")
    return {
        "name": name,
        "type": TYPES[itype],
        "description": machine.get("instance_description") or "",
        "source": {"type": "image", "alias": local_alias(str(machine["instance_os_image"]))},
        "config": config,
        "devices": devices,
        "profiles": profiles,
    }


# The instance devices other anklume parts own, by name and type: the gpu
# device anklume-gpud pins for a claim, and the proxy device `anklume-proxy
# attach` gives an admin machine (its Incus socket). The infra does not
# declare them; dropping them would release the card, or cut the admin
# machine that runs this very play off its Incus socket.
GPUD_DEVICE = "gpu"
ATTACH_DEVICE = "anklume-incus"
OWNED_ELSEWHERE = {GPUD_DEVICE: "gpu", ATTACH_DEVICE: "proxy"}


def kept_devices(want, cur):
    """The devices an existing instance must have: the infra's, plus those
    another anklume part put there (OWNED_ELSEWHERE), unless the infra
    declares a device of that name itself."""
    devices = dict(want["devices"])
    for name, kind in OWNED_ELSEWHERE.items():
        held = (cur.get("devices") or {}).get(name)
        if name not in devices and held and held.get("type") == kind:
            devices[name] = held
    return devices


def differences(want, cur):
    """The fields of `want` an existing instance lacks. Config: the keys to
    set, and (as None) the keys anklume set before that the infra dropped."""
    fields = {}
    cur_cfg = cur.get("config") or {}
    cfg = {k: v for k, v in want["config"].items() if cur_cfg.get(k) != v}
    before = set(filter(None, (cur_cfg.get(MANAGED_KEYS) or "").split(",")))
    cfg.update({k: None for k in sorted(before - set(want["config"])) if k in cur_cfg})
    if cfg:
        fields["config"] = cfg
    devices = kept_devices(want, cur)
    if (cur.get("devices") or {}) != devices:
        fields["devices"] = devices
    if list(cur.get("profiles") or []) != want["profiles"]:
        fields["profiles"] = want["profiles"]
    if (cur.get("description") or "") != want["description"]:
        fields["description"] = want["description"]
    return fields


def context_files(parent, is_vm):
    """ADR-020: the instance's /etc/anklume files from its parent's context."""
    level = int(parent.get("absolute_level") or 0)
    relative = int(parent.get("relative_level") or 0)
    vm_nested = str(parent.get("vm_nested") or "false").strip().lower()
    yolo = str(parent.get("yolo") or "false").strip().lower()
    return {
        "absolute_level": str(level + 1),
        "relative_level": "0" if is_vm else str(relative + 1),
        "vm_nested": "true" if is_vm else vm_nested,
        "yolo": yolo,
    }
