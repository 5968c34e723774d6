#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""Reconcile the instances of one domain (project) in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: instances
short_description: Create, configure and start the instances of one Incus project
description:
  - Reads every instance of O(project) with one REST call, then does only
    the writes that are needed, in parallel (create from a local image
    alias, update config/devices/profiles/description, start, wait, write
    the nesting context files in /etc/anklume). Never deletes; instances
    of the project not in O(machines) are returned as RV(orphans).
options:
  project: {description: Incus project (the domain)., type: str, required: true}
  network: {description: The domain's bridge (eth0 of machines with an IP)., type: str, required: true}
  machines:
    description: The machines, as the instance_* variables anklume-gen
      writes (instance_name, instance_type, instance_os_image, instance_ip,
      instance_config, instance_devices, instance_profiles, instance_gpu,
      instance_ephemeral, instance_description).
    type: list
    elements: dict
    required: true
  known:
    description: Every machine of the domain in the inventory (with
      C(--limit), O(machines) holds only some); the other instances of the
      project are the orphans.
    type: list
    elements: str
    default: []
  context:
    description: Parent nesting context (absolute_level, relative_level,
      vm_nested, yolo) the instances' /etc/anklume files derive from.
    type: dict
    default: {}
  wait_timeout: {description: Seconds to wait until an instance runs., type: int, default: 60}
  agent_timeout: {description: Seconds to wait for a VM's incus-agent., type: int, default: 180}
author: anklume contributors
"""

EXAMPLES = r"""
- name: Instances of the domain
  anklume.incus.instances:
    project: pro
    network: net-pro
    machines:
      - {instance_name: pro-dev, instance_type: lxc, instance_os_image: anklume-test-busybox, instance_ip: 10.100.2.10}
"""

RETURN = r"""
actions:
  description: Per instance, what was done (created, updated, started, context).
  type: dict
  returned: always
orphans:
  description: Instances of the project that are not in O(machines).
  type: list
  elements: str
  returned: always
"""

import time
from concurrent.futures import ThreadPoolExecutor

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.anklume.incus.plugins.module_utils.incus_api import (
    IncusError,
    get_or_none,
    query,
)
from ansible_collections.anklume.incus.plugins.module_utils.instance_spec import (
    context_files,
    desired,
    differences,
    kept_devices,
)

# Writes each /etc/anklume/<name> whose content differs; prints the names written.
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


class Domain:
    def __init__(self, module):
        self.module = module
        self.p = module.params
        self.project = self.p["project"]
        self.actions = {}
        self.before = {}
        self.after = {}

    def url(self, path):
        return "%s%sproject=%s" % (path, "&" if "?" in path else "?", self.project)

    def note(self, name, action, before=None, after=None):
        self.actions.setdefault(name, []).append(action)
        if before:
            self.before.setdefault(name, {}).update(before)
        if after:
            self.after.setdefault(name, {}).update(after)

    def converge(self, want, cur):
        """Create or update one instance; return True when it must be started."""
        name = want["name"]
        base = "/1.0/instances/" + name
        if cur is None:
            self.note(name, "created", after=dict(want, source=want["source"]))
            if not self.module.check_mode:
                body = dict(want, start=True)
                query(self.url("/1.0/instances"), "POST", body, wait=True)
            return False
        if cur.get("type") != want["type"]:
            raise IncusError(
                "%s exists as %s but the infra says %s; delete it (incus delete --project %s %s) to change its type"
                % (name, cur.get("type"), want["type"], self.project, name)
            )
        fields = differences(want, cur)
        if fields:
            cur_cfg = cur.get("config") or {}
            before = {k: ({kk: cur_cfg.get(kk) for kk in v} if k == "config" else cur.get(k)) for k, v in fields.items()}
            self.note(name, "updated", before, fields)
            if not self.module.check_mode:
                body = {
                    "architecture": cur.get("architecture"),
                    "config": {
                        k: v
                        for k, v in dict(cur_cfg, **fields.get("config", {})).items()
                        if v is not None
                    },
                    "devices": kept_devices(want, cur),
                    "ephemeral": cur.get("ephemeral", False),
                    "profiles": want["profiles"],
                    "stateful": cur.get("stateful", False),
                    "description": want["description"],
                }
                query(self.url(base), "PUT", body, wait=True)
        if cur.get("status") != "Running":
            self.note(name, "started", {"status": cur.get("status")}, {"status": "Running"})
            return True
        return False

    def start(self, name):
        if not self.module.check_mode:
            query(self.url("/1.0/instances/%s/state" % name), "PUT", {"action": "start"}, wait=True)

    def wait_ready(self, want):
        """Until running, and for VMs until the agent answers."""
        name = want["name"]
        state_path = self.url("/1.0/instances/%s/state" % name)
        vm = want["type"] == "virtual-machine"
        timeout = self.p["wait_timeout"]
        what = "running"
        deadline = time.monotonic() + timeout
        while True:
            state = get_or_none(state_path) or {}
            if state.get("status") == "Running":
                if not vm or (state.get("processes") or -1) > 0:
                    return
                if what == "running":
                    what = "answering (incus-agent)"
                    timeout = self.p["agent_timeout"]
                    deadline = time.monotonic() + timeout
            if time.monotonic() >= deadline:
                raise IncusError("%s: not %s after %ss" % (name, what, timeout))
            time.sleep(0.5)

    def write_context(self, want):
        files = context_files(self.p["context"], want["type"] == "virtual-machine")
        argv = ["incus", "exec", "--project", self.project, want["name"], "--", "sh", "-c", CONTEXT_SCRIPT, "sh"]
        for key in sorted(files):
            argv += [key, files[key]]
        rc, out, err = self.module.run_command(argv)
        if rc != 0:
            raise IncusError("%s: writing /etc/anklume failed: %s" % (want["name"], err.strip()))
        written = out.split()
        if written:
            self.note(want["name"], "context", after={"context": written})

    def run(self):
        wants = [desired(m, self.p["network"]) for m in self.p["machines"]]
        listing = get_or_none(self.url("/1.0/instances?recursion=1")) or []
        current = {i["name"]: i for i in listing}
        names = {w["name"] for w in wants}
        orphans = sorted(set(current) - names - set(self.p["known"]))
        with ThreadPoolExecutor(max_workers=8) as pool:
            to_start = [w for w, s in zip(wants, pool.map(lambda w: self.converge(w, current.get(w["name"])), wants)) if s]
            list(pool.map(lambda w: self.start(w["name"]), to_start))
            if not self.module.check_mode:
                fresh = {w["name"] for w in to_start} | {w["name"] for w in wants if w["name"] not in current}
                list(pool.map(self.wait_ready, [w for w in wants if w["name"] in fresh or w["type"] == "virtual-machine"]))
                if self.p["context"]:
                    list(pool.map(self.write_context, wants))
        return orphans


def main():
    module = AnsibleModule(
        argument_spec={
            "project": {"type": "str", "required": True},
            "network": {"type": "str", "required": True},
            "machines": {"type": "list", "elements": "dict", "required": True},
            "known": {"type": "list", "elements": "str", "default": []},
            "context": {"type": "dict", "default": {}},
            "wait_timeout": {"type": "int", "default": 60},
            "agent_timeout": {"type": "int", "default": 180},
        },
        supports_check_mode=True,
    )
    domain = Domain(module)
    try:
        orphans = domain.run()
    except (IncusError, ValueError) as exc:
        module.fail_json(msg=str(exc), actions=domain.actions)
    module.exit_json(
        changed=bool(domain.actions),
        actions=domain.actions,
        orphans=orphans,
        diff={"before": domain.before, "after": domain.after},
    )


if __name__ == "__main__":
    main()
