"""What a SIGKILL is called, from the memory cgroup files as cgroup v1, v2 and gVisor show them."""

from pathlib import Path

import pytest

from sandbox_runner import oom

MIB = 2**20
V1_OOM_CONTROL = "oom_kill_disable 0\nunder_oom 0\noom_kill {}\n"
V2_EVENTS = "low 0\nhigh 0\nmax 12\noom 1\noom_kill {}\noom_group_kill 0\n"


@pytest.fixture
def cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder standing for /sys/fs/cgroup (as gVisor shows it) and /proc/meminfo."""
    monkeypatch.setattr(
        oom, "_COUNTERS", (str(tmp_path / "memory.events"), str(tmp_path / "memory.oom_control"))
    )
    monkeypatch.setattr(
        oom, "_LIMITS", (str(tmp_path / "memory.max"), str(tmp_path / "memory.limit_in_bytes"))
    )
    monkeypatch.setattr(oom, "_MEMINFO", str(tmp_path / "meminfo"))
    return tmp_path


def test_counter_is_read_from_cgroup_v1_and_v2(cgroup: Path) -> None:
    assert oom.oom_kill_count() is None
    (cgroup / "memory.oom_control").write_text(V1_OOM_CONTROL.format(3))
    assert oom.oom_kill_count() == 3
    (cgroup / "memory.events").write_text(V2_EVENTS.format(5))
    assert oom.oom_kill_count() == 5


def test_limit_from_the_cgroup_else_from_meminfo(cgroup: Path) -> None:
    assert oom.memory_limit() is None
    (cgroup / "meminfo").write_text("MemTotal:         262144 kB\nMemFree:  1 kB\n")
    assert oom.memory_limit() == 256 * MIB
    (cgroup / "memory.limit_in_bytes").write_text("9223372036854771712\n")  # v1: no limit
    assert oom.memory_limit() == 256 * MIB
    (cgroup / "memory.max").write_text("max\n")  # v2: no limit
    assert oom.memory_limit() == 256 * MIB
    (cgroup / "memory.limit_in_bytes").write_text(f"{512 * MIB}\n")
    assert oom.memory_limit() == 512 * MIB


def test_a_counted_oom_kill_says_out_of_memory(cgroup: Path) -> None:
    (cgroup / "memory.limit_in_bytes").write_text(f"{256 * MIB}\n")
    text = oom.describe_sigkill(oom_killed=True, peak_bytes=None)
    assert "SIGKILL" in text and "out of memory" in text and "256 MiB" in text


@pytest.mark.parametrize("peak", [None, 250 * MIB])
def test_an_uncounted_sigkill_is_a_signal_whatever_the_peak(cgroup: Path, peak: int | None) -> None:
    (cgroup / "memory.limit_in_bytes").write_text(f"{256 * MIB}\n")
    text = oom.describe_sigkill(oom_killed=False, peak_bytes=peak)
    assert text == "the Python kernel was killed by SIGKILL (signal 9)"


def test_without_a_counter_the_peak_decides_how_much_is_said(cgroup: Path) -> None:
    (cgroup / "meminfo").write_text("MemTotal:         262144 kB\n")  # gVisor: the limit
    small = oom.describe_sigkill(oom_killed=None, peak_bytes=40 * MIB)
    assert small == "the Python kernel was killed by SIGKILL (signal 9)"
    near = oom.describe_sigkill(oom_killed=None, peak_bytes=222 * MIB)
    assert "222 MiB of the sandbox's 256 MiB" in near and "may have run out of memory" in near
    unknown = oom.describe_sigkill(oom_killed=None, peak_bytes=None)
    assert "could not be checked" in unknown and "256 MiB" in unknown
