"""Which OCI runtime runs the sandboxes: gVisor's runsc where the engine has it, else runc.

Under runc a sandbox's processes make their system calls to the host kernel (filtered by our
seccomp profile); under runsc they make them to gVisor's own kernel in user space, so a kernel bug
reachable from inside is no longer a way out. The runtime is fixed when a container is created;
the manager recreates a chat's container made under another runtime (its files and checkpoints
are in its folders and come back).
"""

from typing import Literal

import docker

from gateway.settings import SettingsError

Runtime = Literal["runsc", "runc"]
RUNTIMES: tuple[Runtime, ...] = ("runsc", "runc")


def registered_runtimes(client: docker.DockerClient) -> set[str]:
    """The runtimes the Docker engine knows, by name (`docker info`'s Runtimes)."""
    runtimes: dict[str, object] = client.info().get("Runtimes") or {}
    return set(runtimes)


def choose(setting: str, registered: set[str]) -> Runtime:
    """SANDBOX_RUNTIME resolved against what the engine has: `auto` prefers runsc. Asking for a
    runtime the engine lacks is a settings error, not a silent fallback to a weaker one."""
    if setting == "auto":
        return "runsc" if "runsc" in registered else "runc"
    for runtime in RUNTIMES:
        if runtime != setting:
            continue
        if runtime not in registered:
            raise SettingsError(
                f"SANDBOX_RUNTIME={runtime} but the Docker engine has no runtime of that name "
                f"(it has: {', '.join(sorted(registered)) or 'none'}); on Debian, as root, "
                "`make deps` installs gVisor's runsc and registers it, or set SANDBOX_RUNTIME=auto"
            )
        return runtime
    raise SettingsError(f"SANDBOX_RUNTIME must be auto, runsc or runc, not {setting!r}")
