"""Whether a kernel killed by SIGKILL ran out of memory, from what its sandbox lets it see.

A SIGKILL alone says nothing about memory: user code can send it (`os.kill(os.getpid(), 9)`), and
so can anything else in the sandbox. Only the memory cgroup knows whether its OOM killer acted,
so the executor reads its own cgroup's OOM-kill counter, by the fixed paths a container mounts
it at, when a kernel starts and before each command, and again after a death.

What our sandboxes show (2026-12, Docker with cgroup v1 on Linux 6.x, gVisor release 20221219):
- runc: /sys/fs/cgroup/memory/ is the container's own memory cgroup; `memory.oom_control` has an
  `oom_kill N` line (kernels from 4.13) that counts each OOM kill in it. The kernel raises it
  before it sends the victim SIGKILL, so it has moved by the time the executor sees the death.
  A real OOM kills only the biggest process (the kernel); the executor lives on. (`failcnt`
  stayed 0 through one: with memory+swap limited alike, the memsw counters take the failures.)
  Under cgroup v2 the same count is `oom_kill` in /sys/fs/cgroup/memory.events.
- runsc (gVisor): /sys/fs/cgroup is an empty folder and /proc/self/cgroup is empty: no counter.
  There the host's OOM killer kills the gVisor kernel itself, so a real OOM stops the whole
  container, and the gateway says so from Docker's `State.OOMKilled`. /proc/meminfo's MemTotal is
  the container's memory limit.
Where no counter can be read, the kernel's own peak memory (from wait4) against the limit is the
evidence left: near the limit the message says it may have run out of memory and that this could
not be confirmed; well under it, the SIGKILL is reported as a plain signal, since an OOM killer
picks the biggest process and the kernel was not using much. Outside a sandbox (unit tests on a
host) these paths are the host's and the answers only as good as they are.
"""

import signal

_COUNTERS = (
    "/sys/fs/cgroup/memory.events",  # cgroup v2
    "/sys/fs/cgroup/memory/memory.oom_control",  # cgroup v1
)
_LIMITS = (
    "/sys/fs/cgroup/memory.max",
    "/sys/fs/cgroup/memory/memory.limit_in_bytes",
)
_MEMINFO = "/proc/meminfo"
# A cgroup v1 "no limit" is a page-rounded 2**63 - 1; anything this large is none.
_NO_LIMIT = 2**60
# Without a counter: a kernel killed after using at least this share of the limit may have been
# the OOM killer's choice; one using less was not (it would have killed something bigger).
_SUSPECT_SHARE = 0.5


def oom_kill_count() -> int | None:
    """How many processes the sandbox's memory cgroup has OOM-killed; None when it shows none."""
    for path in _COUNTERS:
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value)
    return None


def memory_limit() -> int | None:
    """The sandbox's memory limit in bytes: its cgroup's, else what /proc/meminfo calls the total
    (gVisor's is the container's limit); None when neither can be read."""
    for path in _LIMITS:
        try:
            with open(path) as f:
                value = f.read().strip()
        except OSError:
            continue
        if value.isdigit() and int(value) < _NO_LIMIT:
            return int(value)
    try:
        with open(_MEMINFO) as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def describe_sigkill(oom_killed: bool | None, peak_bytes: int | None) -> str:
    """Why a kernel got SIGKILL, as far as is known: `oom_killed` from the cgroup's counter
    (None: no counter), `peak_bytes` the kernel's own peak memory (None: not known)."""
    killed = f"the Python kernel was killed by SIGKILL (signal {signal.SIGKILL.value})"
    if oom_killed is False:
        return killed
    limit = memory_limit()
    of_limit = f" of {_size(limit)}" if limit is not None else ""
    if oom_killed:
        return (
            f"the Python kernel was killed by SIGKILL: it ran out of memory (the sandbox's "
            f"memory limit{of_limit} was reached)"
        )
    if peak_bytes is not None and limit is not None:
        if peak_bytes < limit * _SUSPECT_SHARE:
            return killed
        return (
            f"{killed}; its memory use had reached {_size(peak_bytes)} of the sandbox's "
            f"{_size(limit)}, so it may have run out of memory (this sandbox does not show "
            "whether its limit was reached)"
        )
    return (
        f"{killed}; whether the sandbox's memory limit{of_limit} was reached could not be checked"
    )


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"
