#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""Reconcile Incus projects, networks or profiles: one read, minimal writes."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: resource
short_description: Create or update Incus projects, networks or profiles
description:
  - Reads every object of O(kind) (in O(project)) with one REST call, then
    creates the missing items and updates the ones that differ. Config keys
    not named in an item are left alone; devices, when given, are replaced
    exactly. Never deletes anything.
options:
  kind:
    description: What the items are.
    type: str
    required: true
    choices: [project, network, profile]
  project:
    description: Incus project of profiles (ignored for projects and networks).
    type: str
  items:
    description: Desired objects, each with C(name), optional C(description),
      C(config) (mapping), C(devices) (profiles only) and C(type) (networks).
    type: list
    elements: dict
    default: []
  by_name:
    description: More desired objects as a mapping name -> body (as
      infra.yml writes a domain's profiles); added after O(items).
    type: dict
    default: {}
author: anklume contributors
"""

EXAMPLES = r"""
- name: Project for the domain
  anklume.incus.resource:
    kind: project
    items:
      - name: pro
        description: Client work
        config: {features.images: "false", features.profiles: "true"}
"""

RETURN = r"""
created:
  description: Names created.
  type: list
  elements: str
  returned: always
updated:
  description: Names updated.
  type: list
  elements: str
  returned: always
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.anklume.incus.plugins.module_utils.incus_api import (
    IncusError,
    NotFound,
    query,
    str_devices,
    str_map,
    with_project,
)

PATHS = {"project": "/1.0/projects", "network": "/1.0/networks", "profile": "/1.0/profiles"}


def desired_of(kind, item):
    want = {"description": item.get("description") or "", "config": str_map(item.get("config"))}
    if kind == "profile":
        want["devices"] = str_devices(item.get("devices"))
    return want


def differences(kind, want, cur):
    """Fields of `want` that `cur` does not have; empty when in sync."""
    diff = {}
    if (cur.get("description") or "") != want["description"]:
        diff["description"] = want["description"]
    cur_cfg = cur.get("config") or {}
    cfg = {k: v for k, v in want["config"].items() if cur_cfg.get(k) != v}
    if cfg:
        diff["config"] = cfg
    if kind == "profile" and (cur.get("devices") or {}) != want["devices"]:
        diff["devices"] = want["devices"]
    return diff


def main():
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": list(PATHS)},
            "project": {"type": "str"},
            "items": {"type": "list", "elements": "dict", "default": []},
            "by_name": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    kind = module.params["kind"]
    project = module.params["project"] if kind == "profile" else None
    base = PATHS[kind]
    created, updated, before, after = [], [], {}, {}
    try:
        try:
            listing = query(with_project(base + "?recursion=1", project)) or []
        except NotFound:
            # The project itself is missing (a dry run before it exists).
            listing = []
        current = {o["name"]: o for o in listing}
        wanted = list(module.params["items"])
        wanted += [dict(body or {}, name=name) for name, body in module.params["by_name"].items()]
        for item in wanted:
            name = item.get("name")
            if not name:
                module.fail_json(msg="%s item without a name: %r" % (kind, item))
            want = desired_of(kind, item)
            cur = current.get(name)
            if cur is None:
                body = dict(want, name=name)
                if kind == "network":
                    body["type"] = item.get("type") or "bridge"
                created.append(name)
                after[name] = want
                if not module.check_mode:
                    query(with_project(base, project), "POST", body)
                continue
            diff = differences(kind, want, cur)
            if not diff:
                continue
            updated.append(name)
            before[name] = {k: ({kk: (cur.get(k) or {}).get(kk) for kk in v} if k == "config" else cur.get(k)) for k, v in diff.items()}
            after[name] = diff
            if not module.check_mode:
                body = {
                    "description": want["description"],
                    "config": dict(cur.get("config") or {}, **want["config"]),
                }
                if kind == "profile":
                    body["devices"] = want["devices"]
                query(with_project("%s/%s" % (base, name), project), "PUT", body)
    except IncusError as exc:
        module.fail_json(msg=str(exc), created=created, updated=updated)
    module.exit_json(
        changed=bool(created or updated),
        created=created,
        updated=updated,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
