"""Kernel side: `%pip` in a sandbox that has no network.

A sandbox cannot install anything itself: its image's packages and the chat's installed ones are
read-only, and the folders it can write are mounted noexec, where no compiled extension loads.
Installing is the gateway's job (POST /chat/{id}/packages, or the assistant's install_packages
tool), from the operator's offline package store. So `%pip install` answers from that store: what
is installed already, what the store has and how to install it, what it lacks and how an operator
adds it. `%pip list`, `show` and `freeze` run pip, which reads only what is installed.
"""

import importlib.metadata
import os
import subprocess
import sys
from typing import Any

from shared.packages import (
    STORE_DIR,
    InvalidRequirement,
    Requirement,
    canonical_name,
    operator_command,
    parse_requirement,
    wheel_of,
)

_READING_COMMANDS = {"list", "show", "freeze", "check"}


def register(shell: Any) -> None:
    shell.register_magic_function(pip, "line", "pip")


def pip(line: str) -> None:
    """Install packages from this server's offline package store, or list what is installed."""
    words = line.split()
    command = words[0] if words else ""
    if command in _READING_COMMANDS:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "--no-input", "--disable-pip-version-check", *words],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            check=False,
        )
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        return
    if command != "install":
        print(
            "%pip here supports: install NAME[==VERSION] ..., list, show NAME, freeze",
            file=sys.stderr,
        )
        return
    print(answer(words[1:]))


def answer(entries: list[str]) -> str:
    """What `%pip install` says for these entries."""
    lines = ["This sandbox has no network: packages come from the server's package store."]
    store = _store_versions()
    missing: list[Requirement] = []
    available: list[str] = []
    for entry in entries:
        if entry.startswith("-"):
            lines.append(f"Ignored the option {entry}: installs take names only.")
            continue
        try:
            requirement = parse_requirement(entry)
        except InvalidRequirement as e:
            lines.append(str(e))
            continue
        installed = _installed_version(requirement.name)
        if installed is not None and requirement.version in (None, installed):
            lines.append(f"Requirement already satisfied: {requirement.name}=={installed}")
        elif store is not None and _in_store(requirement, store):
            available.append(str(requirement))
        else:
            missing.append(requirement)
    if available:
        names = ", ".join(f'"{entry}"' for entry in available)
        lines.append(
            f"In the package store, not yet installed in this chat: {', '.join(available)}. "
            f'Install with POST /chat/<this chat>/packages {{"packages": [{names}]}} '
            "or ask the assistant to install them; they are importable from the next cell on."
        )
    if missing:
        if store is None:
            lines.append("This server has no package store (PACKAGES_DIR).")
        lines.append(
            f"Not in the package store: {', '.join(map(str, missing))}. "
            f"An operator adds them with: {operator_command(missing)}"
        )
    return "\n".join(lines)


def _store_versions() -> dict[str, set[str]] | None:
    """The store's wheels: project -> versions; None when this sandbox has no store."""
    try:
        names = os.listdir(STORE_DIR)
    except OSError:
        return None
    versions: dict[str, set[str]] = {}
    for name in names[:100_000]:
        wheel = wheel_of(name)
        if wheel is not None:
            versions.setdefault(wheel.name, set()).add(wheel.version)
    return versions


def _in_store(requirement: Requirement, store: dict[str, set[str]]) -> bool:
    versions = store.get(requirement.key, set())
    return bool(versions) and (requirement.version is None or requirement.version in versions)


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(canonical_name(name))
    except importlib.metadata.PackageNotFoundError:
        return None
