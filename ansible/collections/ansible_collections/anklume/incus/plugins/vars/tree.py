# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""group_vars/ and host_vars/ beside an anklume-gen inventory/ directory."""

from __future__ import annotations

DOCUMENTATION = r"""
---
name: tree
short_description: Load anklume-gen's group_vars/ and host_vars/ next to inventory/
description:
  - anklume-gen writes C(inventory/), C(group_vars/) and C(host_vars/) side
    by side under its base directory. Ansible only looks for group_vars/
    beside an inventory source or the playbook, so with C(-i BASE/inventory)
    this plugin loads C(BASE/group_vars) and C(BASE/host_vars) exactly as
    host_group_vars would. Sources not named C(inventory) are ignored.
requirements:
  - Enabled in ansible.cfg (vars_plugins_enabled).
options:
  stage:
    ini:
      - key: stage
        section: vars_anklume_tree
    env:
      - name: ANSIBLE_VARS_PLUGIN_STAGE
extends_documentation_fragment:
  - vars_plugin_staging
author: anklume contributors
"""

import os

from ansible.plugins.loader import vars_loader
from ansible.plugins.vars import BaseVarsPlugin


class VarsModule(BaseVarsPlugin):
    def __init__(self):
        super().__init__()
        self._files = vars_loader.get("ansible.builtin.host_group_vars")

    def get_vars(self, loader, path, entities, cache=True):
        path = os.path.normpath(path)
        if os.path.basename(path) != "inventory":
            return {}
        return self._files.get_vars(loader, os.path.dirname(path), entities, cache)
