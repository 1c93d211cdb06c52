"""A chat's package installer: a one-shot container (`ads-install-<chat id>`) that runs pip from
the package store into the chat's packages folder (sandbox_runner.install), then is removed.

It is made as the chat's sandbox is (SandboxContainers.hardening: the same image, uid, limits and
seccomp profile, no network), on the primitives of gateway.sandbox.containers; its name and
label live there, since removing a chat's sandbox removes its installer too.
"""

from dataclasses import dataclass

from docker.errors import ImageNotFound

from gateway.sandbox.containers import (
    INSTALLER_PREFIX,
    LABEL_INSTALLER,
    SandboxContainers,
    container_name,
)
from shared.errors import SandboxTimeout
from shared.packages import CHAT_PACKAGES_DIR, Requirement

# The longest an install may take (wheels of hundreds of MB unpack slowly under gVisor).
INSTALL_TIMEOUT_S = 300.0
# What is read of the installer's stdout (its one JSON line) and stderr (pip's output).
INSTALL_RESULT_BYTES = 64 * 1024
INSTALL_OUTPUT_BYTES = 32 * 1024


@dataclass(frozen=True)
class InstallOutcome:
    """What the installer said: its result line, and the end of pip's output (both capped)."""

    exit_code: int
    result: bytes
    output: str


def run(
    containers: SandboxContainers,
    chat_id: str,
    uid: int,
    image: str,
    requirements: list[Requirement],
) -> InstallOutcome:
    """Run the chat's installer (sandbox_runner/install.py) to its end and remove it: the
    sandbox's hardening, its image and uid, no network, the store read-only, and of the
    chat only its packages folder, read-write. pip and nothing else runs there. Blocking."""
    paths = containers.paths(chat_id)
    containers.remove_installer(chat_id)  # one left by a gateway that died during an install
    # The requirements were validated (shared.packages.parse_requirement): no option, URL
    # or path can be among them, and the installer checks them again.
    command = ["python", "-P", "-m", "sandbox_runner.install", *map(str, requirements)]
    try:
        container = containers.docker.containers.create(
            image,
            command,
            name=container_name(INSTALLER_PREFIX + chat_id),
            **containers.hardening(uid, {LABEL_INSTALLER: chat_id}),
            volumes={
                str(paths.packages): {"bind": CHAT_PACKAGES_DIR, "mode": "rw"},
                **containers.store_mount(),
            },
            working_dir="/tmp",
            environment={"HOME": "/tmp", "USER": "sandbox", "LOGNAME": "sandbox"},
        )
    except ImageNotFound as e:
        raise containers.image_missing(image) from e
    try:
        container.start()
        try:
            exit_code = int(container.wait(timeout=INSTALL_TIMEOUT_S)["StatusCode"])
        except Exception as e:  # the SDK's read timeout (requests') or a lost connection
            raise SandboxTimeout(
                f"the install did not finish within {INSTALL_TIMEOUT_S:.0f} s"
            ) from e
        # json-file logs are capped at 2 MB (SandboxContainers.hardening); only their ends
        # are kept.
        result = container.logs(stdout=True, stderr=False)[-INSTALL_RESULT_BYTES:]
        output = container.logs(stdout=False, stderr=True)[-INSTALL_OUTPUT_BYTES:]
    finally:
        containers.remove_installer(chat_id)
    return InstallOutcome(exit_code, result, output.decode("utf-8", "replace"))
