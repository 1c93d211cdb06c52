"""The package installer: installs wheels of the operator's store into a chat's packages folder.

The gateway runs it as the only process of a one-shot container (gateway/sandbox/installer.py):
the chat's image, uid and hardening, no network, the store read-only at STORE_DIR, the chat's
packages folder read-write at CHAT_PACKAGES_DIR, and nothing else of the chat. It is a container
of its own because that folder is on sys.path of the chat's kernel and must hold compiled
extensions that load: so it cannot be on the chats' noexec mount, and user code must never write
it (its sandbox mounts it read-only). No user code runs here: only pip, on wheels (never an
sdist, whose build would run its setup code).

    python -P -m sandbox_runner.install NAME[==VERSION] ...

pip's own output goes to stderr; the last line on stdout is the result, JSON:
{"installed": [{"name", "version"}], "satisfied": [...], "error": null or why, "reason": null or
one of "invalid", "missing" (not in the store), "conflict" (a package of the image), "failed"}.

pip installs with --target, which ignores what is installed: so it is asked first, with the
chat's folder on its path, what it would install (--dry-run --report), and then installs exactly
those, without dependencies. A project the image holds already is never installed again: a second
copy, of another version, would shadow or be shadowed by the image's (numpy under pandas' feet).
"""

import contextlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from shared.packages import (
    CHAT_PACKAGES_DIR,
    STORE_DIR,
    InvalidRequirement,
    Requirement,
    canonical_name,
    operator_command,
    parse_requirement,
)

# Options every pip call here gets: the store only, wheels only, no config or environment of
# anyone's (--isolated), no cache (the root file system is read-only).
_PIP = [
    sys.executable,
    "-m",
    "pip",
    "install",
    "--isolated",
    "--no-index",
    f"--find-links={STORE_DIR}",
    "--only-binary=:all:",
    "--no-cache-dir",
    "--disable-pip-version-check",
    "--no-input",
]
_TEMP_PREFIX = ".installing-"
_MISSING = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")


class InstallFailed(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def main(argv: list[str]) -> int:
    try:
        requirements = [parse_requirement(entry) for entry in argv]
        result = install(requirements, CHAT_PACKAGES_DIR)
    except InvalidRequirement as e:
        result = {"installed": [], "satisfied": [], "error": str(e), "reason": "invalid"}
    except InstallFailed as e:
        result = {"installed": [], "satisfied": [], "error": str(e), "reason": e.reason}
    print(json.dumps(result), flush=True)
    return 0 if result["error"] is None else 1


def install(requirements: list[Requirement], target: str) -> dict[str, Any]:
    _remove_leftovers(target)
    # pip's temporary folders on the target's file system: its final moves are then renames,
    # and a large wheel does not fill the container's small /tmp.
    temp = tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=target)
    try:
        planned = _plan(requirements, target, temp)
        if planned:
            _refuse_image_projects(planned)
            _pip(
                [
                    f"--target={target}",
                    "--upgrade",
                    "--no-deps",
                    *(f"{name}=={version}" for name, version in planned),
                ],
                temp,
            )
            _remove_replaced(target, planned)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    installed = {canonical_name(name) for name, _ in planned}
    return {
        "installed": [{"name": name, "version": version} for name, version in planned],
        "satisfied": [str(r) for r in requirements if r.key not in installed],
        "error": None,
        "reason": None,
    }


def _plan(requirements: list[Requirement], target: str, temp: str) -> list[tuple[str, str]]:
    """What pip would install for `requirements`, dependencies included, with the image's
    packages and the chat's (`target` on its path) counted as installed: (name, version)."""
    report = os.path.join(temp, "report.json")
    _pip(
        ["--dry-run", "--quiet", f"--report={report}", *map(str, requirements)],
        temp,
        python_path=target,
        requirements=requirements,
    )
    with open(report, encoding="utf-8") as f:
        planned = json.load(f).get("install", [])
    return [(item["metadata"]["name"], item["metadata"]["version"]) for item in planned]


def _refuse_image_projects(planned: list[tuple[str, str]]) -> None:
    """InstallFailed when pip would install another version of a project the image has."""
    for name, version in planned:
        try:
            held = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
        raise InstallFailed(
            "conflict",
            f"{name} {version} was asked for, but the sandbox image has {name} {held}, and a "
            "chat cannot replace a package of its image (it would break those built on it); "
            "ask for a version that works with it, or ask the operator for an image variant "
            "(SANDBOX_IMAGES) with the version you need",
        )


def _pip(
    args: list[str],
    temp: str,
    python_path: str | None = None,
    requirements: list[Requirement] | None = None,
) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": temp,
        "TMPDIR": temp,
        "PYTHONDONTWRITEBYTECODE": "1",
        **({"PYTHONPATH": python_path} if python_path else {}),
    }
    done = subprocess.run(
        [*_PIP, *args], env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    errors = done.stderr.decode("utf-8", "replace")
    sys.stderr.write(errors)
    if done.returncode == 0:
        return
    missing = _MISSING.findall(errors)
    if missing:
        asked = {r.key: r for r in requirements or []}
        wanted = [asked.get(canonical_name(name)) or parse_requirement(name) for name in missing]
        raise InstallFailed(
            "missing",
            f"not in the package store: {', '.join(map(str, wanted))}. Only packages the "
            f"operator put in the store can be installed; an operator adds them with: "
            f"{operator_command(wanted)}",
        )
    last = [line for line in errors.splitlines() if line.strip()][-5:]
    raise InstallFailed("failed", "pip failed: " + " / ".join(last)[-2000:])


def _remove_replaced(target: str, planned: list[tuple[str, str]]) -> None:
    """--target replaces a project's folders but leaves the metadata of its older version."""
    new = {canonical_name(name): version for name, version in planned}
    for entry in os.scandir(target):
        if not entry.name.endswith(".dist-info") or not entry.is_dir(follow_symlinks=False):
            continue
        name, _, version = entry.name.removesuffix(".dist-info").rpartition("-")
        if new.get(canonical_name(name), version) != version:
            shutil.rmtree(entry.path, ignore_errors=True)


def _remove_leftovers(target: str) -> None:
    """Temporary folders of an install that was killed."""
    for entry in os.scandir(target):
        if entry.name.startswith(_TEMP_PREFIX):
            with contextlib.suppress(OSError):
                shutil.rmtree(entry.path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
