# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""A domain project's restrictions (docs/defense-in-depth.md), applied in
two steps around the instances: first only what loosens (so an instance
that needs a new allowance can be created or updated), then exactly what
the infra derives (so what no instance needs any more is closed again)."""

from __future__ import annotations

# The keys anklume-gen derives (anklume_infra::restrictions::KEYS; a test
# checks that both lists agree). Only these are ever unset.
MANAGED = (
    "restricted",
    "restricted.backups",
    "restricted.cluster.target",
    "restricted.containers.interception",
    "restricted.containers.lowlevel",
    "restricted.containers.nesting",
    "restricted.containers.privilege",
    "restricted.devices.disk",
    "restricted.devices.disk.paths",
    "restricted.devices.gpu",
    "restricted.devices.infiniband",
    "restricted.devices.nic",
    "restricted.devices.pci",
    "restricted.devices.proxy",
    "restricted.devices.unix-block",
    "restricted.devices.unix-char",
    "restricted.devices.unix-hotplug",
    "restricted.devices.usb",
    "restricted.idmap.gid",
    "restricted.idmap.uid",
    "restricted.networks.access",
    "restricted.snapshots",
    "restricted.virtual-machines.lowlevel",
)

# Values from the tightest to the loosest; the first is also what Incus
# 6.0 assumes when the key is unset, except where DEFAULTS says.
LADDERS = {
    "restricted.containers.privilege": ("isolated", "unprivileged", "allow"),
    "restricted.containers.interception": ("block", "allow", "full"),
    "restricted.devices.nic": ("block", "managed", "allow"),
    "restricted.devices.disk": ("block", "managed", "allow"),
}
DEFAULTS = {
    "restricted.containers.privilege": "unprivileged",
    "restricted.devices.nic": "managed",
    "restricted.devices.disk": "managed",
}
# Lists where an empty value means "everything", and where it means "none".
ALL_WHEN_EMPTY = ("restricted.networks.access",)
NONE_WHEN_EMPTY = ("restricted.idmap.uid", "restricted.idmap.gid")
PATHS = "restricted.devices.disk.paths"


def is_restriction_key(key):
    return key == "restricted" or key.startswith("restricted.")


def _true(value):
    return str(value or "").lower() in ("true", "1", "yes", "on")


def _items(value):
    return [i.strip() for i in str(value or "").split(",") if i.strip()]


def _loosest_enum(key, a, b):
    ladder = LADDERS.get(key, ("block", "allow"))
    default = DEFAULTS.get(key, ladder[0])
    a, b = a or default, b or default
    rank = lambda v: ladder.index(v) if v in ladder else len(ladder)  # noqa: E731
    return a if rank(a) >= rank(b) else b


def _union(first, second):
    out = list(first)
    out += [i for i in second if i not in out]
    return out


def relaxed(cur, want):
    """The restriction keys to change so that the project allows what it
    allows now AND what `want` allows: key -> value (None: unset). Nothing
    while the project is not restricted yet (it is restricted after the
    instances, in `exact`)."""
    if not _true(cur.get("restricted")):
        return {}
    merged = {}
    keys = [k for k in MANAGED if k in want or k in cur]
    for key in keys:
        a, b = cur.get(key), want.get(key)
        if key == "restricted":
            merged[key] = "true"
        elif key in ALL_WHEN_EMPTY:
            merged[key] = "" if not a or not b else ",".join(_union(_items(b), _items(a)))
        elif key in NONE_WHEN_EMPTY:
            merged[key] = ",".join(_union(_items(b), _items(a)))
        elif key == PATHS:
            continue
        else:
            merged[key] = _loosest_enum(key, a, b)
    # Host paths count only where disks are allowed; empty paths = all.
    disk = "restricted.devices.disk"
    if merged.get(disk) == "allow":
        sides = [(cfg.get(disk) or DEFAULTS[disk], _items(cfg.get(PATHS))) for cfg in (want, cur)]
        if any(level == "allow" and not paths for level, paths in sides):
            merged[PATHS] = ""
        else:
            merged[PATHS] = ",".join(_union(*[paths if level == "allow" else [] for level, paths in sides]))
    elif PATHS in cur:
        merged[PATHS] = cur[PATHS]
    changes = {}
    for key, value in merged.items():
        value = value or None
        if (cur.get(key) or None) != value:
            changes[key] = value
    return changes


def exact(cur, want):
    """The changes that make the project's managed restriction keys exactly
    `want` (key -> value, None: unset)."""
    changes = {k: str(v) for k, v in want.items() if cur.get(k) != str(v)}
    changes.update({k: None for k in MANAGED if k in cur and k not in want})
    return changes


def apply_changes(config, changes):
    """`config` with `changes` applied (None unsets)."""
    out = dict(config)
    for key, value in changes.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def units(changes):
    """`changes` in groups that are safe to apply alone: the disk level and
    its paths together (unsetting the paths while disks stay allowed would
    allow every host path)."""
    disk = [k for k in ("restricted.devices.disk", PATHS) if k in changes]
    groups = [{k: changes[k] for k in disk}] if disk else []
    groups += [{k: v} for k, v in changes.items() if k not in disk]
    return groups
