"""Prints the pins (NAME==VERSION arguments) that this Python's environment
does not satisfy, space-separated; nothing when all are installed at
their pinned version. admin_bootstrap and bootstrap.sh run it with the
venv's python to decide whether pip must run (and reach an index) at all."""

import importlib.metadata
import sys

missing = []
for pin in sys.argv[1:]:
    name, _, version = pin.partition("==")
    try:
        if importlib.metadata.version(name) != version:
            missing.append(pin)
    except importlib.metadata.PackageNotFoundError:
        missing.append(pin)
print(" ".join(missing))
