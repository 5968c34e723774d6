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
  - Projects may carry C(restrictions), the project restrictions anklume-gen
    derives (docs/defense-in-depth.md). A new project is created with them.
    On an existing one, O(restrictions_phase=relax) only loosens (the
    loosest of what the project allows now and what is wanted, so that
    instances needing a new allowance can then be created), and
    O(restrictions_phase=tighten) makes the derived keys exact, unsetting
    the derived keys no longer wanted (run it after the instances).
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
      C(config) (mapping), C(devices) (profiles only), C(type) (networks) and
      C(restrictions) (projects; mapping of restricted* keys, null to leave
      the project's restrictions alone).
    type: list
    elements: dict
    default: []
  restrictions_phase:
    description: What to do with project C(restrictions) (see above); with
      C(tighten), only the restrictions are reconciled.
    type: str
    choices: [relax, tighten]
    default: relax
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
refused:
  description: With O(restrictions_phase=tighten), the restriction changes
    Incus refused (C(project), C(keys), Incus's C(message)) because something
    in the project still uses what they would close; the rest is applied.
  type: list
  elements: dict
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
from ansible_collections.anklume.incus.plugins.module_utils.restrictions import (
    apply_changes,
    exact,
    relaxed,
    units,
)

PATHS = {"project": "/1.0/projects", "network": "/1.0/networks", "profile": "/1.0/profiles"}


def desired_of(kind, item):
    want = {"description": item.get("description") or "", "config": str_map(item.get("config"))}
    if kind == "profile":
        want["devices"] = str_devices(item.get("devices"))
    if kind == "project" and item.get("restrictions") is not None:
        want["restrictions"] = str_map(item.get("restrictions"))
    return want


def differences(kind, want, cur, phase):
    """Fields of `want` that `cur` does not have; empty when in sync. Config
    values of None are keys to unset (restrictions only)."""
    diff = {}
    cur_cfg = cur.get("config") or {}
    cfg = {}
    if phase == "relax":
        if (cur.get("description") or "") != want["description"]:
            diff["description"] = want["description"]
        cfg = {k: v for k, v in want["config"].items() if cur_cfg.get(k) != v}
        if kind == "profile" and (cur.get("devices") or {}) != want["devices"]:
            diff["devices"] = want["devices"]
    if "restrictions" in want:
        step = relaxed if phase == "relax" else exact
        cfg.update(step(cur_cfg, want["restrictions"]))
    if cfg:
        diff["config"] = cfg
    return diff


def main():
    module = AnsibleModule(
        argument_spec={
            "kind": {"type": "str", "required": True, "choices": list(PATHS)},
            "project": {"type": "str"},
            "items": {"type": "list", "elements": "dict", "default": []},
            "by_name": {"type": "dict", "default": {}},
            "restrictions_phase": {"type": "str", "default": "relax", "choices": ["relax", "tighten"]},
        },
        supports_check_mode=True,
    )
    kind = module.params["kind"]
    phase = module.params["restrictions_phase"]
    project = module.params["project"] if kind == "profile" else None
    base = PATHS[kind]
    created, updated, before, after, refused = [], [], {}, {}, []
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
                if phase == "tighten":
                    continue  # created by the relax step (or a dry run)
                body = {"name": name, "description": want["description"], "config": dict(want["config"])}
                if kind == "profile":
                    body["devices"] = want["devices"]
                # A new project is restricted before anything is put in it.
                body["config"].update(want.get("restrictions") or {})
                if kind == "network":
                    body["type"] = item.get("type") or "bridge"
                created.append(name)
                after[name] = want
                if not module.check_mode:
                    query(with_project(base, project), "POST", body)
                continue
            diff = differences(kind, want, cur, phase)
            if not diff:
                continue
            updated.append(name)
            before[name] = {k: ({kk: (cur.get(k) or {}).get(kk) for kk in v} if k == "config" else cur.get(k)) for k, v in diff.items()}
            after[name] = diff
            if not module.check_mode:
                body = {
                    "description": diff.get("description", cur.get("description") or ""),
                    "config": apply_changes(cur.get("config") or {}, diff.get("config", {})),
                }
                if kind == "profile":
                    body["devices"] = want["devices"]
                path = with_project("%s/%s" % (base, name), project)
                try:
                    query(path, "PUT", body)
                except IncusError:
                    if phase != "tighten":
                        raise
                    # Something of the project still uses what the infra no
                    # longer declares: tighten what can be, report the rest.
                    applied = dict(cur.get("config") or {})
                    done = {}
                    for unit in units(diff.get("config", {})):
                        try:
                            query(path, "PUT", dict(body, config=apply_changes(applied, unit)))
                        except IncusError as exc:
                            refused.append({"project": name, "keys": sorted(unit), "message": str(exc)})
                            continue
                        applied = apply_changes(applied, unit)
                        done.update(unit)
                    after[name] = {"config": done} if done else {}
                    if not done:
                        updated.remove(name)
                        del before[name], after[name]
    except IncusError as exc:
        module.fail_json(msg=str(exc), created=created, updated=updated)
    module.exit_json(
        changed=bool(created or updated),
        created=created,
        updated=updated,
        refused=refused,
        diff={"before": before, "after": after},
    )


if __name__ == "__main__":
    main()
