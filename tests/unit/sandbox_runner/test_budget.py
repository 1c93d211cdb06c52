"""A cell's output budget in the executor: floods from user code are cut, not buffered, and the
kernel keeps working (or is replaced) afterwards."""

import os
from collections.abc import Iterator

import pytest

from sandbox_runner.cell_run import CUT_MARKER, STREAM_MARKER_ROOM
from sandbox_runner.pipe import LineReader, LineTooLong
from shared.protocol import CELL_OUTPUT_BUDGET_BYTES, EVENT_ADAPTER
from tests.unit.sandbox_runner.conftest import Cell, Executor

# Finds the kernel's message pipe as user code can: it is named on the kernel's command line.
FIND_PIPE = """
import json, os
args = open('/proc/self/cmdline').read().split('\\0')
fd = int([a for a in args if a.startswith('--message-fd=')][0].split('=')[1])
"""


def run_measured(executor: Executor, code: str) -> tuple[Cell, int]:
    """The cell's events and the bytes of its NDJSON body."""
    with executor.stream(code, timeout_s=60) as lines:
        raw = list(lines)
    size = sum(len(line.encode()) + 1 for line in raw)
    return Cell([EVENT_ADAPTER.validate_json(line) for line in raw]), size


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


@pytest.fixture
def pipe() -> Iterator[tuple[LineReader, int]]:
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    yield LineReader(read_fd, max_line=1000), write_fd
    os.close(read_fd)
    os.close(write_fd)


def test_line_reader_refuses_a_line_past_its_limit_before_it_ends(
    pipe: tuple[LineReader, int],
) -> None:
    reader, write_fd = pipe
    os.write(write_fd, b'{"type": "stdout", "text": "fits"}\n')
    assert reader.read_available() == [{"type": "stdout", "text": "fits"}]
    os.write(write_fd, b"x" * 1001)
    with pytest.raises(LineTooLong):
        reader.read_available()


def test_line_reader_refuses_a_complete_line_past_its_limit(
    pipe: tuple[LineReader, int],
) -> None:
    reader, write_fd = pipe
    os.write(write_fd, b'{"a": "' + b"x" * 1000 + b'"}\n{}\n')
    with pytest.raises(LineTooLong):
        reader.read_available()


def flood_of(message: str) -> str:
    """A cell writing `message` (Python building a dict) to the kernel's pipe, one JSON line
    at a time, three times the output budget over."""
    return FIND_PIPE + (
        f"line = (json.dumps({message}) + '\\n').encode()\n"
        f"for _ in range(3 * {CELL_OUTPUT_BUDGET_BYTES} // len(line)):\n"
        "    os.write(fd, line)\n"
    )


def test_valid_messages_written_to_the_kernel_pipe_are_cut_at_the_budget(
    executor: Executor,
) -> None:
    executor.run("kept = 'before'")
    flood = flood_of("dict(type='display', data={'text/plain': 'x' * 8000})")
    cell, size = run_measured(executor, flood)
    assert cell.end.status == "ok"
    assert cell.end.output_truncated
    assert size <= CELL_OUTPUT_BUDGET_BYTES
    assert "output truncated" in cell.stderr
    assert executor.value("kept") == "'before'"


def test_stdout_written_to_the_kernel_pipe_is_capped_like_printed_output(
    small_output_executor: Executor,
) -> None:
    cell, _ = run_measured(small_output_executor, flood_of("dict(type='stdout', text='x' * 800)"))
    assert cell.end.stdout_truncated
    assert cell.stdout == "x" * (1000 + STREAM_MARKER_ROOM) + CUT_MARKER


def test_a_line_without_end_on_the_kernel_pipe_replaces_the_kernel(executor: Executor) -> None:
    executor.run("kept = 'before'")
    executor_pid = executor.process.pid
    before = peak_rss_kb(executor_pid)
    flood = (
        FIND_PIPE
        + """
block = b'x' * (1 << 20)
for _ in range(256):
    os.write(fd, block)
"""
    )
    cell, size = run_measured(executor, flood)
    assert cell.end.status == "crashed"
    assert cell.end.output_truncated
    assert "too long to read" in cell.errors[-1].evalue
    assert size < 64 * 1024
    # 256 MiB were written; the executor read at most its line limit of them.
    assert peak_rss_kb(executor_pid) - before < 128 * 1024
    assert cell.end.kernel.restored == ["kept"]
    assert executor.value("kept") == "'before'"


def test_display_flood_is_cut_at_the_budget(executor: Executor) -> None:
    cell, size = run_measured(executor, "for i in range(5000):\n    display('x' * 4000)")
    assert cell.end.status == "ok"
    assert cell.end.output_truncated
    assert size <= CELL_OUTPUT_BUDGET_BYTES
    assert 0 < len(cell.displays) < 5000
    assert executor.value("1 + 1") == "2"


def test_huge_exception_message_is_capped(executor: Executor) -> None:
    cell, size = run_measured(executor, "raise ValueError('boom ' * 10_000_000)")
    assert cell.end.status == "error"
    assert cell.end.output_truncated
    (error,) = cell.errors
    assert error.ename == "ValueError" and error.evalue.startswith("boom boom")
    assert size < 256 * 1024
    assert executor.value("1 + 1") == "2"


def test_long_chain_of_exceptions_keeps_the_head_and_tail_of_its_traceback(
    executor: Executor,
) -> None:
    code = """
def fail(n):
    try:
        raise KeyError(f"level {n} " + "k" * 500)
    except KeyError:
        if n == 0:
            raise RuntimeError("the last one")
        fail(n - 1)
fail(300)
"""
    cell, size = run_measured(executor, code)
    assert cell.end.output_truncated
    (error,) = cell.errors
    assert error.traceback[0].startswith("Traceback")
    assert error.traceback[-1] == "RuntimeError: the last one"
    assert any("traceback truncated" in line for line in error.traceback)
    assert size < 256 * 1024


def test_file_list_is_cut_to_what_the_budget_leaves(executor: Executor) -> None:
    code = """
for i in range(2000):
    open(f"{i:04}-{'n' * 100}.txt", "w").close()
for i in range(5000):
    display('x' * 4000)
"""
    cell, size = run_measured(executor, code)
    assert cell.end.output_truncated
    assert size <= CELL_OUTPUT_BUDGET_BYTES
    assert 0 < len(cell.end.files) < 2000
    assert cell.end.files[0].path.startswith("0000-")


def test_a_variable_page_too_large_to_send_is_refused_and_the_kernel_lives_on(
    executor: Executor,
) -> None:
    executor.run(
        "import pandas as pd\nwide = pd.DataFrame({f'c{i}': ['x' * 200] * 100 for i in range(500)})"
    )
    kernel_pid = executor.health()["kernel_pid"]
    response = executor.client.get("/variables/wide", params={"limit": 100})
    assert response.status_code == 422
    assert "fewer rows" in response.json()["detail"]
    assert executor.client.get("/variables/wide", params={"limit": 5}).status_code == 200
    assert executor.health()["kernel_pid"] == kernel_pid


def test_csv_export_of_a_slice_larger_than_a_message_arrives_whole(executor: Executor) -> None:
    executor.run(
        "import pandas as pd\n"
        "wide = pd.DataFrame({f'c{i}': ['y' * 200] * 20_000 for i in range(9)})"
    )
    with executor.client.stream("GET", "/variables/wide", params={"format": "csv"}) as response:
        assert response.status_code == 200
        size = sum(len(chunk) for chunk in response.iter_bytes())
    row = ",".join(["y" * 200] * 9) + "\n"
    assert size == len("c0,c1,c2,c3,c4,c5,c6,c7,c8\n") + 20_000 * len(row)
