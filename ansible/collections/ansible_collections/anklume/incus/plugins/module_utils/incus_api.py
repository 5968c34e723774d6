# -*- coding: utf-8 -*-
# Copyright: anklume contributors
# GNU Affero General Public License v3.0+ (see https://www.gnu.org/licenses/agpl-3.0.txt)
"""Incus REST calls through `incus query`, shared by anklume.incus modules."""

from __future__ import annotations

import json
import subprocess


class IncusError(Exception):
    """An `incus query` call failed (message: Incus's own error)."""


class NotFound(IncusError):
    """The object does not exist (HTTP 404)."""


def query(path, method="GET", data=None, wait=False):
    """Run one REST call; return the decoded metadata (None when empty)."""
    argv = ["incus", "query", "-X", method]
    if wait:
        argv.append("--wait")
    if data is not None:
        argv += ["--data", json.dumps(data)]
    argv.append(path)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise IncusError("the incus command is not installed") from exc
    if proc.returncode != 0:
        msg = proc.stderr.strip().removeprefix("Error: ")
        if "not found" in msg.lower():
            raise NotFound(msg)
        raise IncusError("%s %s: %s" % (method, path, msg))
    out = proc.stdout.strip()
    return json.loads(out) if out else None


def get_or_none(path):
    """GET `path`; None when Incus answers 404."""
    try:
        return query(path)
    except NotFound:
        return None


def incus_str(value):
    """Incus stores every config value as a string; booleans lowercase."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return text.lower() if text.lower() in ("true", "false") else text


def str_map(mapping):
    """A config mapping with every value as Incus writes it back."""
    return {str(k): incus_str(v) for k, v in (mapping or {}).items()}


def str_devices(devices):
    """Devices (name -> mapping) with string values."""
    return {str(name): str_map(dev) for name, dev in (devices or {}).items()}


def with_project(path, project):
    if not project:
        return path
    sep = "&" if "?" in path else "?"
    return "%s%sproject=%s" % (path, sep, project)
