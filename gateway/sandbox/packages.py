"""Packages for chats, without a network: the operator's store (PACKAGES_DIR, a folder of wheels
that `make packages` fills), and installing from it into one chat.

An install is checked here first (names, versions, that the store has them, the disk quota),
then run by the chat's installer container (gateway.sandbox.installer, sandbox_runner.install),
which writes the chat's packages folder; the chat's kernel has that folder on sys.path. Restart
clears it (SessionService.restart), deleting the chat removes it (SandboxManager.remove).
"""

import asyncio
import json
import os
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, WithJsonSchema

from gateway.chats.journal import DiskUsage, PackagesRecord
from gateway.chats.store import Chat, ChatStore
from gateway.sandbox.disk_usage import DiskQuota, UserDiskLimit
from gateway.sandbox.manager import SandboxManager
from gateway.settings import Settings
from shared.errors import ErrorCode, NotFound, SandboxFailed, Unprocessable
from shared.packages import (
    MAX_REQUIREMENTS,
    REQUIREMENT_PATTERN,
    InvalidRequirement,
    Requirement,
    canonical_name,
    operator_command,
    parse_requirement,
    wheel_of,
)

_LOCK_TTL_S = 600.0
# Wheels listed from the store at most: a store is a few hundred.
_MAX_STORE_ENTRIES = 10_000


class StorePackage(BaseModel):
    name: str
    versions: list[str]


class InstalledPackage(BaseModel):
    name: str = Field(max_length=200)
    version: str = Field(max_length=100)


# Documented, not enforced by FastAPI: parse_all refuses a bad entry with a sentence naming it.
_ENTRY = Annotated[
    str, WithJsonSchema({"type": "string", "maxLength": 200, "pattern": REQUIREMENT_PATTERN})
]


class InstallRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    packages: list[_ENTRY] = Field(
        min_length=1,
        max_length=MAX_REQUIREMENTS,
        description="names, each optionally with ==version: ['lifelines==0.27.8', 'xgboost']",
    )


class InstallResult(BaseModel):
    chat_id: str
    requested: list[str]
    # What was installed now (dependencies included), and what the chat had already.
    installed: list[InstalledPackage]
    satisfied: list[str]
    # pip's output, its end kept (see gateway.sandbox.installer.run).
    output: str
    disk: DiskUsage | None = None


class _InstallerAnswer(BaseModel):
    """The installer's result line (sandbox_runner.install), bounded."""

    installed: list[InstalledPackage] = Field(default=[], max_length=500)
    satisfied: list[str] = Field(default=[], max_length=MAX_REQUIREMENTS)
    error: str | None = Field(default=None, max_length=4000)
    reason: str | None = Field(default=None, max_length=20)


class PackageService:
    def __init__(
        self,
        chats: ChatStore,
        sandboxes: SandboxManager,
        settings: Settings,
        user_disk_limit: UserDiskLimit | None = None,
    ) -> None:
        self._chats = chats
        self._sandboxes = sandboxes
        self._store = settings.packages_dir
        self._disk = DiskQuota(settings.sandbox_disk_limit, user_disk_limit)

    async def store(self) -> list[StorePackage]:
        """What the store offers, by project, each with its versions."""
        return await asyncio.to_thread(_list_store, self._store)

    async def installed(self, chat: Chat) -> list[InstalledPackage]:
        """What the chat installed (dependencies included), from its packages folder."""
        return await asyncio.to_thread(
            _list_installed, self._sandboxes.paths(chat.chat_id).packages
        )

    async def install(self, chat: Chat, entries: list[str]) -> InstallResult:
        """Install into a chat that runs nothing now (the route): holds its query lock."""
        requirements = parse_all(entries)  # refused before the chat is locked
        async with self._chats.query_lock(chat.chat_id, ttl_s=_LOCK_TTL_S):
            return await self.install_locked(chat, requirements)

    async def install_locked(self, chat: Chat, requirements: list[Requirement]) -> InstallResult:
        """Install, the caller holding the chat's query lock (the agent, during its query).
        Fails before anything runs when the store lacks a package asked for, or the chat is
        past its SANDBOX_DISK_LIMIT; journaled when it installed something."""
        await self._refuse_missing(requirements)
        paths = self._sandboxes.paths(chat.chat_id)
        await self._disk.room_for_upload(paths.measured, None, chat.chat_id, chat.user_id)
        outcome = await self._sandboxes.install(chat, requirements)
        answer = _answer_of(outcome.result)
        if answer.error is not None:
            code = ErrorCode.PACKAGE_NOT_FOUND if answer.reason == "missing" else None
            if code is not None:
                raise NotFound(answer.error, code)
            raise Unprocessable(answer.error, ErrorCode.INSTALL_FAILED)
        if outcome.exit_code != 0:
            raise SandboxFailed(f"the installer stopped with status {outcome.exit_code}")
        disk = await self._disk.after_run(
            chat.chat_id, paths.measured, changed=True, user_id=chat.user_id
        )
        if answer.installed:
            record = PackagesRecord(
                requested=[str(r) for r in requirements],
                installed=[f"{p.name}=={p.version}" for p in answer.installed],
            )
            await self._chats.append_message(chat.chat_id, record)
        return InstallResult(
            chat_id=chat.chat_id,
            requested=[str(r) for r in requirements],
            installed=answer.installed,
            satisfied=answer.satisfied,
            output=outcome.output,
            disk=disk,
        )

    async def _refuse_missing(self, requirements: list[Requirement]) -> None:
        """NotFound (`package_not_found`) naming every package asked for that the store lacks
        (at the version asked for), and the line an operator would run to add them."""
        offered = {p.name: set(p.versions) for p in await self.store()}
        missing = [
            r
            for r in requirements
            if r.key not in offered or (r.version is not None and r.version not in offered[r.key])
        ]
        if missing:
            raise NotFound(
                f"not in the package store: {', '.join(map(str, missing))}. Only packages the "
                f"operator put in the store (GET /packages) can be installed; an operator adds "
                f"them with: {operator_command(missing)}",
                ErrorCode.PACKAGE_NOT_FOUND,
            )


def parse_all(entries: list[str]) -> list[Requirement]:
    """Each entry as a requirement (shared.packages); Unprocessable naming the first bad one."""
    if not entries or len(entries) > MAX_REQUIREMENTS:
        raise Unprocessable(f"name between 1 and {MAX_REQUIREMENTS} packages")
    try:
        return [parse_requirement(entry) for entry in entries]
    except InvalidRequirement as e:
        raise Unprocessable(str(e)) from e


def _answer_of(stdout: bytes) -> _InstallerAnswer:
    lines = [line for line in stdout.decode("utf-8", "replace").splitlines() if line.strip()]
    try:
        return _InstallerAnswer.model_validate(json.loads(lines[-1]))
    except (IndexError, ValueError, ValidationError) as e:
        raise SandboxFailed("the installer ended without a result") from e


def _list_store(store: Path) -> list[StorePackage]:
    versions: dict[str, set[str]] = {}
    try:
        with os.scandir(store) as entries:
            for count, entry in enumerate(entries):
                if count >= _MAX_STORE_ENTRIES:
                    break
                wheel = wheel_of(entry.name)
                if wheel is not None:
                    versions.setdefault(wheel.name, set()).add(wheel.version)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [StorePackage(name=n, versions=sorted(v)) for n, v in sorted(versions.items())]


def _list_installed(folder: Path) -> list[InstalledPackage]:
    """The `<name>-<version>.dist-info` folders pip left at the top of the chat's packages
    folder, which only the installer writes (the chat's sandbox mounts it read-only)."""
    installed = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.endswith(".dist-info"):
                    name, _, version = entry.name.removesuffix(".dist-info").rpartition("-")
                    if name and version:
                        installed.append(
                            InstalledPackage(name=canonical_name(name)[:200], version=version[:100])
                        )
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(installed, key=lambda p: p.name)
