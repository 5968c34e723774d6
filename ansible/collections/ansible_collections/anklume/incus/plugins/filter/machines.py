# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""machines: the anklume-gen host variables of some hosts, for one module call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: machines
short_description: The instance_* variables of the given hosts
description:
  - Returns, for each host name given, a mapping of the C(instance_*)
    variables anklume-gen wrote for it (host_vars), so that one
    anklume.incus.instances call can reconcile a whole domain.
positional: hostvars
options:
  _input:
    description: Host names.
    type: list
    elements: str
    required: true
  hostvars:
    description: The C(hostvars) magic variable.
    type: raw
    required: true
author: anklume contributors
"""

EXAMPLES = r"""
machines: "{{ ['pro-dev'] | anklume.incus.machines(hostvars) }}"
"""

RETURN = r"""
_value:
  description: One mapping of instance_* variables per host.
  type: list
  elements: dict
"""

KEYS = (
    "instance_name",
    "instance_type",
    "instance_description",
    "instance_ephemeral",
    "instance_os_image",
    "instance_ip",
    "instance_gpu",
    "instance_profiles",
    "instance_config",
    "instance_devices",
)


def machines(hosts, hostvars):
    out = []
    for host in hosts:
        hv = hostvars[host]
        out.append({key: hv[key] for key in KEYS if key in hv and hv[key] is not None})
    return out


class FilterModule:
    def filters(self):
        return {"machines": machines}
