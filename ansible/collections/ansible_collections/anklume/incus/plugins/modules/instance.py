#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""Reconcile one Incus instance: existence, config, devices, state, context."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: instance
short_description: Create, configure and start an Incus instance
description:
  - One read of the instance, then only the writes that are needed
    (create from a local image alias, update config/devices/profiles,
    start, wait, write the nesting context files). Never deletes.
options:
  name: {description: Instance name., type: str, required: true}
  project: {description: Incus project., type: str, required: true}
  type: {description: Instance type., type: str, choices: [lxc, vm], default: lxc}
  image: {description: Local image alias (or fingerprint)., type: str, required: true}
  description: {description: Instance description., type: str, default: ""}
  config: {description: Instance config keys (others are left alone)., type: dict, default: {}}
  devices: {description: Instance-local devices (replaced exactly)., type: dict, default: {}}
  profiles: {description: Profiles in order., type: list, elements: str, default: [default]}
  network: {description: Bridge eth0 is attached to when I(ip) is set., type: str}
  ip: {description: Static IPv4 address of eth0 (a DHCP reservation on the bridge)., type: str}
  protect: {description: Set security.protection.delete (non-ephemeral machines)., type: bool, default: false}
  wait_timeout: {description: Seconds to wait until the instance runs., type: int, default: 60}
  agent_timeout: {description: Seconds to wait for the VM agent (VMs only)., type: int, default: 180}
  gpu: {description: Add a C(gpu) device unless a local device already has type gpu., type: bool, default: false}
  context: {description: Files written under /etc/anklume (name -> content)., type: dict, default: {}}
author: anklume contributors
"""

EXAMPLES = r"""
- name: Instance
  anklume.incus.instance:
    name: pro-dev
    project: pro
    image: anklume-test-busybox
    network: net-pro
    ip: 10.100.2.10
"""

RETURN = r"""
actions:
  description: What was done (created, updated, started, context).
  type: list
  elements: str
  returned: always
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.anklume.incus.plugins.module_utils.incus_api import (
    IncusError,
    get_or_none,
    query,
    str_devices,
    str_map,
    with_project,
)

TYPES = {"lxc": "container", "vm": "virtual-machine"}

# Writes each /etc/anklume/<name> whose content differs; prints the changed names.
CONTEXT_SCRIPT = r"""
mkdir -p /etc/anklume
while [ $# -gt 1 ]; do
  f=/etc/anklume/$1
  if [ ! -f "$f" ] || [ "$(cat "$f")" != "$2" ]; then
    printf '%s\n' "$2" > "$f" && echo "$1"
  fi
  shift 2
done
"""


def desired_devices(p):
    devices = str_devices(p["devices"])
    if p["ip"]:
        eth0 = {"type": "nic", "name": "eth0", "network": p["network"]}
        eth0.update(devices.get("eth0", {}))
        eth0["ipv4.address"] = p["ip"]
        devices["eth0"] = eth0
    if p["gpu"] and not any(d.get("type") == "gpu" for d in devices.values()):
        devices["gpu"] = {"type": "gpu"}
    return devices


def wait_for(module, what, timeout, ready):
    deadline = time.monotonic() + timeout
    while True:
        if ready():
            return
        if time.monotonic() >= deadline:
            module.fail_json(msg="%s: not %s after %ss" % (module.params["name"], what, timeout))
        time.sleep(0.5)


def agent_ready(path):
    state = get_or_none(path + "/state") or {}
    return (state.get("processes") or -1) > 0


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "project": {"type": "str", "required": True},
            "type": {"type": "str", "choices": list(TYPES), "default": "lxc"},
            "image": {"type": "str", "required": True},
            "description": {"type": "str", "default": ""},
            "config": {"type": "dict", "default": {}},
            "devices": {"type": "dict", "default": {}},
            "profiles": {"type": "list", "elements": "str", "default": ["default"]},
            "network": {"type": "str"},
            "ip": {"type": "str"},
            "protect": {"type": "bool", "default": False},
            "wait_timeout": {"type": "int", "default": 60},
            "agent_timeout": {"type": "int", "default": 180},
            "context": {"type": "dict", "default": {}},
            "gpu": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    p = module.params
    if p["ip"] and not p["network"]:
        module.fail_json(msg="%s: ip given without network" % p["name"])
    name, project, itype = p["name"], p["project"], TYPES[p["type"]]
    path = "/1.0/instances/%s" % name
    config = str_map(p["config"])
    config["security.protection.delete"] = "true" if p["protect"] else "false"
    devices = desired_devices(p)
    actions, before, after = [], {}, {}
    try:
        cur = get_or_none(with_project(path, project))
        if cur is None:
            actions.append("created")
            after = {"type": itype, "image": p["image"], "config": config, "devices": devices, "profiles": p["profiles"]}
            if module.check_mode:
                module.exit_json(changed=True, actions=actions, diff={"before": {}, "after": after})
            body = {
                "name": name,
                "type": itype,
                "description": p["description"],
                "source": {"type": "image", "alias": p["image"]},
                "config": config,
                "devices": devices,
                "profiles": p["profiles"],
                "start": True,
            }
            query(with_project("/1.0/instances", project), "POST", body, wait=True)
            cur = query(with_project(path, project))
        else:
            if cur.get("type") != itype:
                module.fail_json(
                    msg="%s exists as %s but the infra says %s; delete it (incus delete --project %s %s) to change its type"
                    % (name, cur.get("type"), itype, project, name)
                )
            cur_cfg = cur.get("config") or {}
            cfg_diff = {k: v for k, v in config.items() if cur_cfg.get(k) != v}
            fields = {}
            if cfg_diff:
                fields["config"] = cfg_diff
            if (cur.get("devices") or {}) != devices:
                fields["devices"] = devices
            if list(cur.get("profiles") or []) != p["profiles"]:
                fields["profiles"] = p["profiles"]
            if (cur.get("description") or "") != p["description"]:
                fields["description"] = p["description"]
            if fields:
                actions.append("updated")
                before = {k: (cur.get(k) if k != "config" else {kk: cur_cfg.get(kk) for kk in v}) for k, v in fields.items()}
                after = dict(fields)
                if not module.check_mode:
                    body = {
                        "architecture": cur.get("architecture"),
                        "config": dict(cur_cfg, **config),
                        "devices": devices,
                        "ephemeral": cur.get("ephemeral", False),
                        "profiles": p["profiles"],
                        "stateful": cur.get("stateful", False),
                        "description": p["description"],
                    }
                    query(with_project(path, project), "PUT", body, wait=True)
        if cur.get("status") != "Running":
            actions.append("started")
            before.setdefault("status", cur.get("status"))
            after["status"] = "Running"
            if module.check_mode:
                module.exit_json(changed=True, actions=actions, diff={"before": before, "after": after})
            query(with_project(path + "/state", project), "PUT", {"action": "start"}, wait=True)
        if not module.check_mode:
            state_path = with_project(path + "/state", project)
            wait_for(module, "running", p["wait_timeout"],
                     lambda: (get_or_none(state_path) or {}).get("status") == "Running")
            if itype == "virtual-machine":
                wait_for(module, "answering (incus-agent)", p["agent_timeout"],
                         lambda: agent_ready(with_project(path, project)))
        if p["context"] and not module.check_mode:
            argv = ["incus", "exec", "--project", project, name, "--", "sh", "-c", CONTEXT_SCRIPT, "sh"]
            for key in sorted(p["context"]):
                argv += [key, str(p["context"][key])]
            rc, out, err = module.run_command(argv)
            if rc != 0:
                module.fail_json(msg="%s: writing /etc/anklume failed: %s" % (name, err.strip()))
            written = out.split()
            if written:
                actions.append("context")
                after["context"] = written
    except IncusError as exc:
        module.fail_json(msg="%s: %s" % (name, exc), actions=actions)
    module.exit_json(changed=bool(actions), actions=actions, diff={"before": before, "after": after})


if __name__ == "__main__":
    main()
