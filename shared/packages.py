"""Packages a chat may install: what a request may name, and the operator's store of wheels.

Both sides check a request with `parse_requirement` before pip sees it: the gateway when it is
asked, and the installer in the sandbox image (sandbox_runner/install.py) again. Only a project
name, optionally with `==version`, gets through; so no pip option (`--index-url`,
`--extra-index-url`, `-e`), no URL or path (`name @ git+https://...`, `./pkg`), no extras or
markers can reach pip's command line. Stdlib only: the installer imports it too.
"""

import re
from dataclasses import dataclass

# The store, mounted read-only into every sandbox (and the installer) when PACKAGES_DIR exists.
STORE_DIR = "/packages"
# A chat's installed packages: read-only in its sandbox, on its kernel's sys.path; written only by
# the installer, a container of its own that runs pip and nothing else.
CHAT_PACKAGES_DIR = "/chat-packages"
# The most packages one request may name.
MAX_REQUIREMENTS = 20

# PEP 508 names, as packaging's canonical regex has them (case-insensitive): letters and digits,
# with ., _ and - inside only.
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,98}[A-Za-z0-9])?"
# PEP 440 public versions, without local parts (+...) and epochs (N!), which a wheelhouse of
# public wheels does not need: 1, 1.2.3, 1.0rc1, 1.0.post2, 2.0.dev3, 1.0a1.post1.dev2.
_VERSION = (
    r"[0-9]{1,9}(?:\.[0-9]{1,9}){0,6}"
    r"(?:(?:a|b|rc)[0-9]{1,9})?(?:\.post[0-9]{1,9})?(?:\.dev[0-9]{1,9})?"
)
_REQUIREMENT = re.compile(rf" *(?P<name>{_NAME})(?: *== *(?P<version>{_VERSION}))? *")
# The same as a JSON Schema pattern (ECMA-262), for the API's documentation.
REQUIREMENT_PATTERN = rf"^ *{_NAME}(?: *== *{_VERSION})? *$"
_SEPARATORS = re.compile(r"[-_.]+")


class InvalidRequirement(ValueError):
    """A package entry that is not `name` or `name==version`."""


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str | None = None

    @property
    def key(self) -> str:
        return canonical_name(self.name)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}=={self.version}"


def canonical_name(name: str) -> str:
    """PEP 503's normal form: `Scikit_Learn` and `scikit-learn` are one project."""
    return _SEPARATORS.sub("-", name).lower()


def parse_requirement(entry: str) -> Requirement:
    """`name` or `name==version`; InvalidRequirement, naming the entry, for anything else."""
    match = _REQUIREMENT.fullmatch(entry) if len(entry) <= 200 else None
    if match is None:
        shown = entry if len(entry) <= 80 else entry[:80] + "..."
        raise InvalidRequirement(
            f"{shown!r} is not a package name, or a name with ==version (like "
            "'lifelines' or 'lifelines==0.27.8'); options, URLs, paths, extras and other "
            "version operators are not accepted"
        )
    return Requirement(match["name"], match["version"])


@dataclass(frozen=True)
class Wheel:
    """A wheel of the store, as its file name (PEP 427) says."""

    name: str
    version: str
    filename: str


def wheel_of(filename: str) -> Wheel | None:
    """What a wheel file's name says, or None for a file that is not a wheel."""
    if not filename.endswith(".whl"):
        return None
    parts = filename[: -len(".whl")].split("-")
    # name-version(-build)?-python-abi-platform
    if len(parts) not in (5, 6) or not re.fullmatch(_NAME, parts[0]) or not parts[1]:
        return None
    return Wheel(name=canonical_name(parts[0]), version=parts[1], filename=filename)


def operator_command(requirements: list[Requirement]) -> str:
    """The line an operator runs to put these into the store (README: Installing packages)."""
    return f'make packages PKGS="{" ".join(map(str, requirements))}"'
