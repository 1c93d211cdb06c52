"""Deletes from a folder of wheels those of the sandbox image's own packages, at the versions its
lock holds: they came along as dependencies, and the image has them already.

Usage: python deploy/drop_image_wheels.py WHEEL_DIR CONSTRAINTS_FILE (lines name==version)
"""

import pathlib
import re
import sys


def key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


folder, constraints = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
held = set()
for line in constraints.read_text().splitlines():
    name, _, version = line.partition("==")
    held.add((key(name.strip()), version.strip()))
for wheel in folder.glob("*.whl"):
    name, version = wheel.name.split("-")[:2]
    if (key(name), version) in held:
        wheel.unlink()
