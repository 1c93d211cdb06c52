"""CPU time of a process and all its descendants, read from /proc (no psutil).

The gateway with GATEWAY_WORKERS > 1 serves from uvicorn worker processes that are children of
`python -m gateway`, so its cost per query is the whole tree's utime+stime. A process's own
utime/stime cover all its threads (asyncio's to_thread pool included); cutime/cstime are left
out because they only count children that already exited and were waited for.
"""

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and
    parentheses, hence the split at the last ')'); None if the process is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rindex(")") + 2 :].split()


def descendants(root: int) -> set[int]:
    """`root` and every process below it, from one pass over /proc's parent pids."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo.extend(children.get(pid, []))
    return found


def tree_cpu_s(root: int) -> float:
    """Seconds of CPU (user + system) the tree under `root` has used so far."""
    ticks = 0
    for pid in descendants(root):
        # Fields after the name start at the state (field 3); utime, stime are fields 14, 15.
        if (fields := _stat_fields(pid)) is not None:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS_PER_S


def host_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine, all cores, from /proc/stat: busy over a
    load run says whether the machine, not the gateway, ran out of CPU (the sandboxes, Redis
    and wrk share the cores)."""
    ticks = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user and nice)
    total = sum(ticks[:8])
    return (total - ticks[3] - ticks[4]) / TICKS_PER_S, total / TICKS_PER_S
