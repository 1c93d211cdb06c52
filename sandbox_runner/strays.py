"""Processes a kernel leaves behind when it is replaced.

User code can start processes that leave the kernel's process group and session
(`start_new_session=True`, a double fork), so killing that group misses them, and they would
outlive a reset or a restart with their hands still on the chat's folders and socket. Inside the
sandbox the executor owns its container's pid namespace, so it can end them all at once.
"""

import contextlib
import os
import signal

# Set by the sandbox image, where the executor runs under the container's init (pid 1). Never set
# elsewhere: on a host, "every other process" means the machine's.
OWNS_PID_NAMESPACE = "EXECUTOR_OWNS_PID_NAMESPACE"


def kill_strays() -> None:
    """SIGKILL every process of the sandbox except init and this executor.

    kill(-1) reaches every process the caller may signal in its pid namespace but itself and
    the namespace's init; the container's init then reaps them. A no-op outside the sandbox."""
    if os.environ.get(OWNS_PID_NAMESPACE) != "1" or os.getppid() != 1:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(-1, signal.SIGKILL)
