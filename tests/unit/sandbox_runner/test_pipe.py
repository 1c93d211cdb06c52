"""The pipe messages: what one side builds the other reads back, and what user code forges is
refused before the server relies on it."""

import json
import re
from typing import Any

import pytest

from sandbox_runner import pipe
from shared.protocol import VariableInfo

INFO: pipe.VariableInfo = {
    "name": "df",
    "type": "pandas.DataFrame",
    "shape": [3, 2],
    "size_bytes": 128,
    "persisted": True,
    "not_persisted_reason": None,
    "preview": "DataFrame 3 by 2: a, b",
}
REPORT: pipe.CheckpointReport = {
    "variables_changed": ["df"],
    "not_persisted": {"f": "a lambda"},
    "checkpoint_ms": 1.5,
    "variables": [INFO],
    "variables_unlisted": ["gone"],
}
MESSAGES: list[pipe.KernelMessage] = [
    pipe.restoring("df"),
    pipe.ready(7, True, {"restored": ["df"], "restore_errors": {"x": "broken"}}, [INFO]),
    pipe.stream_text("stdout", "hello\n"),
    pipe.stream_text("stderr", "\udcff lone surrogate"),
    pipe.display({"text/plain": "1"}),
    pipe.display({"image/png": "iVBOR", "text/plain": "<Figure>"}, filename="plot_1.png"),
    pipe.error("ValueError", "bad", ["Traceback", "ValueError: bad"]),
    pipe.truncating("stderr"),
    pipe.done("ok", stdout_truncated=True, checkpoint=REPORT),
    pipe.done("error"),
    pipe.stream_start(),
    pipe.chunk("a,b\n1,2\n"),
    pipe.reply({"name": "x", "type": "int", "kind": "json", "value": 1}),
    pipe.reply({"variable": "df"}, saved=REPORT),
    pipe.reply_error(404, "variable 'x' not found"),
]
COMMANDS: list[pipe.Command] = [
    pipe.execute("1 + 1", 3, 12.5, {}),
    pipe.execute("import os", 4, 13, {"TOKEN": "abc", "EMPTY": ""}),
    pipe.variable_request("df", 0, 100, 12.5),
    pipe.csv_request("df", 12),
    pipe.load_csv_request("/workspace/a.csv", "a.csv", "a", 12.5),
    pipe.load_request("/workspace/b.xlsx", "b.xlsx", "b", "excel", None, None, False, [], 12.5),
    pipe.load_request("/workspace/c.csv", "c.csv", "c", "csv", ";", "latin-1", True, ["a"], 1),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m["type"])
def test_every_message_the_kernel_builds_reads_back(message: pipe.KernelMessage) -> None:
    line = json.loads(pipe.encode(message))
    assert pipe.read_message(line) == line
    assert line == json.loads(json.dumps(message).replace("\\udcff", "?"))


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c["op"])
def test_every_command_the_server_builds_reads_back(command: pipe.Command) -> None:
    assert pipe.read_command(pipe.encode(command)) == command


def test_a_message_of_an_unknown_type_is_ignored() -> None:
    assert pipe.read_message({"type": "hello", "text": "x"}) is None
    assert pipe.read_message({"type": ["unhashable"]}) is None
    assert pipe.read_message({"text": "no type"}) is None


@pytest.mark.parametrize(
    ("forged", "problem"),
    [
        ({**pipe.done("ok"), "status": "fine"}, "whose status is 'fine', not one of"),
        ({"type": "done", "status": "ok"}, "a 'done' message lacks checkpoint, output_truncated"),
        ({"type": "stdout"}, "lacks text"),
        ({"type": "stdout", "text": 1}, "text is not str"),
        ({"type": "truncating", "stream": "stdin"}, "stream is 'stdin'"),
        ({"type": "display", "data": {}, "is_result": "yes"}, "is_result is not bool"),
        ({"type": "display", "data": {}, "text": 1}, "text is not str"),
        ({"type": "reply", "status": True}, "status is not int"),
        ({"type": "reply", "status": 200, "result": []}, "result is not an object"),
        (
            {**pipe.done("ok", checkpoint={"variables": [{**INFO, "shape": [1.5]}]})},
            "checkpoint.variables[0].shape",
        ),
        ({**pipe.restoring("x"), "name": None}, "name is not str"),
    ],
)
def test_a_malformed_message_is_refused(forged: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        pipe.read_message(forged)


def test_an_unknown_or_malformed_command_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown command"):
        pipe.read_command(b'{"op": "shutdown"}')
    with pytest.raises(ValueError, match="lacks count"):
        pipe.read_command(b'{"op": "execute", "code": "1", "started_at": 1.0}')
    forged = {"op": "execute", "code": "1", "count": 1, "started_at": 1.0, "env": {"A": 1}}
    with pytest.raises(ValueError, match=re.escape("env['A'] is not str")):
        pipe.read_command(json.dumps(forged).encode())


def test_the_kernels_variable_info_has_the_fields_of_the_protocols() -> None:
    assert set(pipe.VariableInfo.__annotations__) == set(VariableInfo.model_fields)
