"""The pipes between the executor server and its kernel: framing, every message, and their checks.

Two pipes of JSON lines, one object per line: commands from the server to the kernel (`op`), and
messages from the kernel to the server (`type`). Each kind is a TypedDict below, built only by the
constructor beside it and read only through `read_message` / `read_command`, so both sides agree
on one definition that mypy checks.

Kernel to server, while a cell runs (answering an ExecuteCommand):
    stdout/stderr (TextMessage), display, error, then one done;
    truncating when a stream passes the kernel's output limit.
Kernel to server, answering a request (VariableCommand, CsvCommand, LoadCsvCommand, LoadCommand):
    one reply; a CSV export sends stream, then chunks, then its reply.
Kernel to server, once at start: restoring before each saved name it loads, then ready.

Plain JSON lines rather than pickle (multiprocessing's Pipe) so a kernel that user code has
scribbled on can only send the server bad text, never objects to unpickle. User code can write to
the message pipe, so the server checks every message against its TypedDict (`read_message`)
before any code relies on its fields. TypedDicts and the stdlib rather than pydantic: the kernel
imports this module, and it must start in tens of milliseconds with no executor packages loaded
for user code to find.
"""

import functools
import json
import os
import types
import typing
from collections.abc import Callable, Iterable
from typing import Any, Literal, NotRequired, TypedDict, Union, cast

from shared.uploads import DataFormat

# The longest line the server takes from its kernel. The kernel keeps each message it sends far
# below this (outputs, errors and replies are capped where it builds them; the largest honest ones
# are a variable page or a figure of a few MiB), so a longer line is user code writing to the pipe
# and is refused as unreadable instead of being buffered. Generous, because the checkpoint report
# lists every changed variable: this is room for about 100,000 of them.
MAX_LINE_BYTES = 32 * 1024 * 1024

StreamName = Literal["stdout", "stderr"]
# How a cell ended, as the kernel sees it; the server adds "timeout" and "crashed".
CellStatus = Literal["ok", "error", "interrupted"]


# Records inside messages.


class VariableInfo(TypedDict):
    """The fields of shared.protocol.VariableInfo (a pydantic model the kernel cannot import);
    the server builds that model from it with `VariableInfo(**info)`, which mypy checks."""

    name: str
    type: str
    shape: list[int] | None
    size_bytes: int | None
    persisted: bool
    not_persisted_reason: str | None
    preview: str


class CheckpointReport(TypedDict, total=False):
    """What a checkpoint saved. Empty fields are left out: most cells change nothing."""

    variables_changed: list[str]
    variables_deleted: list[str]
    # Name -> why it could not be saved; "*" when the whole checkpoint failed.
    not_persisted: dict[str, str]
    checkpoint_ms: float
    # For the server's cached variable list: new or changed entries, and names to drop from it.
    variables: list[VariableInfo]
    variables_unlisted: list[str]


class RestoreReport(TypedDict):
    """What a new kernel brought back from the state folder: names, and name -> why not."""

    restored: list[str]
    restore_errors: dict[str, str]


# Kernel -> server.


class RestoringMessage(TypedDict):
    """Sent, and in the pipe, before the kernel loads this saved name: if loading it kills the
    kernel, the server knows which name to skip on the next start."""

    type: Literal["restoring"]
    name: str


class ReadyMessage(TypedDict):
    """The kernel restored what it could and reads commands now."""

    type: Literal["ready"]
    pid: int
    checkpoints: bool  # whether it has a state folder to checkpoint to
    restored: list[str]
    restore_errors: dict[str, str]
    variables: list[VariableInfo]


class TextMessage(TypedDict):
    """Printed text of the running cell (shared.protocol.StreamEvent)."""

    type: StreamName
    text: str


class DisplayMessage(TypedDict):
    """A rich output (shared.protocol.DisplayEvent): MIME type -> content (text, base64 for binary
    types, a JSON value for JSON types)."""

    type: Literal["display"]
    data: dict[str, Any]
    metadata: NotRequired[dict[str, Any]]
    is_result: NotRequired[bool]  # the cell's own result
    text: NotRequired[str]  # the cell's own result as text
    filename: NotRequired[str]  # a figure saved in the workspace
    chart: NotRequired[dict[str, Any]]  # a figure as chart data (sandbox_runner.charts)


class ErrorMessage(TypedDict):
    """The exception that ended the cell (shared.protocol.ErrorEvent)."""

    type: Literal["error"]
    ename: str
    evalue: str
    traceback: list[str]


class TruncatingMessage(TypedDict):
    """The cell's output on this stream passed the kernel's limit; the rest is dropped."""

    type: Literal["truncating"]
    stream: StreamName


class DoneMessage(TypedDict):
    """The cell ended, and its checkpoint is taken."""

    type: Literal["done"]
    status: CellStatus
    stdout_truncated: bool
    stderr_truncated: bool
    output_truncated: bool  # a display or error was cut to its cap
    checkpoint: CheckpointReport


class StreamStartMessage(TypedDict):
    """A streamed answer (CSV) begins: its chunks follow, then its reply. The server sends its
    status line now, because the kernel has already checked that it can answer."""

    type: Literal["stream"]


class ChunkMessage(TypedDict):
    type: Literal["chunk"]
    text: str


class ReplyMessage(TypedDict):
    """The answer to a variable request: `status` 200 with `result` (the fields of the route's
    answer model, which the server checks), or an HTTP error status with `detail`."""

    type: Literal["reply"]
    status: int
    result: NotRequired[dict[str, Any]]
    detail: NotRequired[str]
    saved: NotRequired[CheckpointReport]  # a load bound variables and checkpointed them


OutputMessage = TextMessage | DisplayMessage | ErrorMessage
AnswerMessage = StreamStartMessage | ChunkMessage | ReplyMessage
KernelMessage = (
    RestoringMessage
    | ReadyMessage
    | OutputMessage
    | TruncatingMessage
    | DoneMessage
    | AnswerMessage
)


def restoring(name: str) -> RestoringMessage:
    return {"type": "restoring", "name": name}


def ready(
    pid: int, checkpoints: bool, restore: RestoreReport, variables: list[VariableInfo]
) -> ReadyMessage:
    return {
        "type": "ready",
        "pid": pid,
        "checkpoints": checkpoints,
        "restored": restore["restored"],
        "restore_errors": restore["restore_errors"],
        "variables": variables,
    }


def stream_text(stream: StreamName, text: str) -> TextMessage:
    return {"type": stream, "text": text}


def display(
    data: dict[str, Any],
    metadata: dict[str, Any] | None = None,
    *,
    filename: str | None = None,
    chart: dict[str, Any] | None = None,
) -> DisplayMessage:
    message: DisplayMessage = {"type": "display", "data": data}
    if metadata:
        message["metadata"] = metadata
    if filename is not None:
        message["filename"] = filename
    if chart is not None:
        message["chart"] = chart
    return message


def result(data: dict[str, Any], metadata: dict[str, Any] | None, text: str) -> DisplayMessage:
    """The cell's own result: its last expression's value."""
    message = display(data, metadata)
    message["is_result"] = True
    message["text"] = text
    return message


def error(ename: str, evalue: str, traceback: list[str]) -> ErrorMessage:
    return {"type": "error", "ename": ename, "evalue": evalue, "traceback": traceback}


def truncating(stream: StreamName) -> TruncatingMessage:
    return {"type": "truncating", "stream": stream}


def done(
    status: CellStatus,
    stdout_truncated: bool = False,
    stderr_truncated: bool = False,
    output_truncated: bool = False,
    checkpoint: CheckpointReport | None = None,
) -> DoneMessage:
    return {
        "type": "done",
        "status": status,
        "stdout_truncated": stdout_truncated,
        "stderr_truncated": stderr_truncated,
        "output_truncated": output_truncated,
        "checkpoint": checkpoint or {},
    }


def stream_start() -> StreamStartMessage:
    return {"type": "stream"}


def chunk(text: str) -> ChunkMessage:
    return {"type": "chunk", "text": text}


def reply(result: dict[str, Any], saved: CheckpointReport | None = None) -> ReplyMessage:
    message: ReplyMessage = {"type": "reply", "status": 200, "result": result}
    if saved is not None:
        message["saved"] = saved
    return message


def reply_error(status: int, detail: str) -> ReplyMessage:
    return {"type": "reply", "status": status, "detail": detail}


# Server -> kernel. `started_at` (time.monotonic(), one clock for both processes) lets the kernel
# tell an interrupt meant for this command from one that arrived late for the one before.


class ExecuteCommand(TypedDict):
    op: Literal["execute"]
    code: str
    count: int  # the cell's number, for its traceback's file name
    started_at: float
    # Set in os.environ while this cell runs, then put back as they were (checked by
    # shared.env: names, sizes, no NUL).
    env: dict[str, str]


class VariableCommand(TypedDict):
    """One page of a variable's value (shared.protocol.VariableValue)."""

    op: Literal["variable"]
    started_at: float
    name: str
    offset: int
    limit: int


class CsvCommand(TypedDict):
    """A DataFrame or Series as CSV: a streamed answer."""

    op: Literal["csv"]
    started_at: float
    name: str


class LoadCsvCommand(TypedDict):
    """Read a workspace file into a DataFrame variable (shared.protocol.LoadCsvResult)."""

    op: Literal["load_csv"]
    started_at: float
    file: str  # the absolute path, checked by the server
    path: str  # as the client gave it, for the answer
    variable: str


class LoadCommand(TypedDict):
    """Read a workspace data file into DataFrame variables, one per sheet of a workbook
    (shared.protocol.LoadResult; the fields of shared.protocol.LoadRequest)."""

    op: Literal["load"]
    started_at: float
    file: str  # the absolute path, checked by the server
    path: str  # as the client gave it, for the answer
    variable: str
    format: DataFormat
    delimiter: str | None
    encoding: str | None
    overwrite: bool
    keep: list[str]


RequestCommand = VariableCommand | CsvCommand | LoadCsvCommand | LoadCommand
Command = ExecuteCommand | RequestCommand


def execute(code: str, count: int, started_at: float, env: dict[str, str]) -> ExecuteCommand:
    return {"op": "execute", "code": code, "count": count, "started_at": started_at, "env": env}


def variable_request(name: str, offset: int, limit: int, started_at: float) -> VariableCommand:
    return {
        "op": "variable",
        "started_at": started_at,
        "name": name,
        "offset": offset,
        "limit": limit,
    }


def csv_request(name: str, started_at: float) -> CsvCommand:
    return {"op": "csv", "started_at": started_at, "name": name}


def load_csv_request(file: str, path: str, variable: str, started_at: float) -> LoadCsvCommand:
    return {
        "op": "load_csv",
        "started_at": started_at,
        "file": file,
        "path": path,
        "variable": variable,
    }


def load_request(
    file: str,
    path: str,
    variable: str,
    format: DataFormat,
    delimiter: str | None,
    encoding: str | None,
    overwrite: bool,
    keep: list[str],
    started_at: float,
) -> LoadCommand:
    return {
        "op": "load",
        "started_at": started_at,
        "file": file,
        "path": path,
        "variable": variable,
        "format": format,
        "delimiter": delimiter,
        "encoding": encoding,
        "overwrite": overwrite,
        "keep": keep,
    }


# Framing.


def encode(message: KernelMessage | Command) -> bytes:
    # `replace` turns lone surrogates (which user code can print) into "?" instead of failing.
    line = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return line.encode("utf-8", "replace") + b"\n"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineTooLong(ValueError):
    pass


class LineReader:
    """Splits what arrives on a non-blocking pipe into decoded JSON objects."""

    def __init__(self, fd: int, max_line: int = MAX_LINE_BYTES) -> None:
        self.fd = fd
        self.max_line = max_line
        self._buffer = bytearray()

    def read_available(self) -> list[dict[str, Any]] | None:
        """Objects completed by one read; None once the writer has closed the pipe. ValueError
        for a line that is not a JSON object; LineTooLong for one longer than `max_line` bytes,
        even before its end has arrived."""
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not data:
            return None
        self._buffer += data
        lines: list[bytearray] = []
        if b"\n" in data:
            *lines, rest = self._buffer.split(b"\n")
            self._buffer = bytearray(rest)
        if len(self._buffer) > self.max_line or any(len(line) > self.max_line for line in lines):
            raise LineTooLong(f"a message longer than {self.max_line} bytes")
        return [_decode(line) for line in lines if line]


def _decode(line: bytes | bytearray) -> dict[str, Any]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


# Reading: every field checked against its TypedDict.


def read_message(value: dict[str, Any]) -> KernelMessage | None:
    """A decoded line from the kernel as the message it claims to be; None for a `type` the
    server does not know (ignored: the kernel's own code never sends one). ValueError for a
    known type whose fields are missing or of the wrong type."""
    tag = value.get("type")
    kind = _message_kinds().get(tag) if isinstance(tag, str) else None
    if kind is None:
        return None
    _check(kind, value, f"a {tag!r} message")
    # The cast states what _check has just verified field by field.
    return cast(KernelMessage, value)


def read_command(line: bytes) -> Command:
    """A line from the server as its command; ValueError if it is not one."""
    value = _decode(line)
    tag = value.get("op")
    kind = _command_kinds().get(tag) if isinstance(tag, str) else None
    if kind is None:
        raise ValueError(f"unknown command {tag!r}")
    _check(kind, value, f"a {tag!r} command")
    return cast(Command, value)  # verified by _check, as above


@functools.cache
def _message_kinds() -> dict[str, type]:
    return _by_tag(KernelMessage, "type")


@functools.cache
def _command_kinds() -> dict[str, type]:
    return _by_tag(Command, "op")


def _by_tag(union: Any, tag: str) -> dict[str, type]:
    """Each TypedDict of `union` under every value its Literal `tag` field can take."""
    kinds: dict[str, type] = {}
    for kind in typing.get_args(union):
        for value in typing.get_args(typing.get_type_hints(kind)[tag]):
            kinds[value] = kind
    return kinds


def _check(kind: type, value: dict[str, Any], what: str) -> None:
    try:
        _checker(kind)(value)
    except _Mismatch as e:
        path = "".join(reversed(e.path)).lstrip(".")
        where = f"{what} whose {path}" if path else what
        raise ValueError(f"{where} {e.problem}") from None


class _Mismatch(ValueError):
    """Where (the path, built as the error unwinds) and how a value differs from its type."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem
        self.path: list[str] = []  # innermost first


Check = Callable[[object], None]


@functools.cache
def _checker(hint: Any) -> Check:
    """A function raising _Mismatch unless a decoded JSON value has the type `hint` names. Built
    once per type, since a message can hold a list of many thousand records."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return _anything
    if typing.is_typeddict(hint):
        return _record_checker(hint)
    if origin is Literal:
        return _literal_checker(typing.get_args(hint))
    if origin is Union or origin is types.UnionType:
        return _union_checker(tuple(_checker(option) for option in typing.get_args(hint)))
    if origin is list or origin is dict:
        # The last argument is the item type: JSON object keys are always strings.
        return _items_checker(_checker(typing.get_args(hint)[-1]), mapping=origin is dict)
    if hint is float:
        return _number
    if hint in (int, bool, str, type(None)):
        return _exactly(hint)
    raise TypeError(f"no check for {hint!r}")  # a field type this module does not use yet


def _anything(value: object) -> None:
    pass


def _number(value: object) -> None:
    if type(value) is not float and type(value) is not int:
        raise _Mismatch("is not a number")


def _exactly(cls: type) -> Check:
    def check(value: object) -> None:
        if type(value) is not cls:  # not isinstance: True is an int
            raise _Mismatch(f"is not {'null' if cls is type(None) else cls.__name__}")

    return check


def _literal_checker(allowed: tuple[object, ...]) -> Check:
    def check(value: object) -> None:
        if not any(value == v and type(value) is type(v) for v in allowed):
            raise _Mismatch(f"is {value!r:.100}, not one of {allowed}")

    return check


def _union_checker(options: tuple[Check, ...]) -> Check:
    def check(value: object) -> None:
        problems = []
        for option in options:
            try:
                option(value)
                return
            except _Mismatch as e:
                problems.append(e.problem)
        raise _Mismatch(" and ".join(problems))

    return check


def _items_checker(item: Check, mapping: bool) -> Check:
    """dict[str, item] if `mapping`, else list[item]."""

    def check(value: object) -> None:
        if mapping and isinstance(value, dict):
            pairs: Iterable[tuple[object, object]] = value.items()
        elif not mapping and isinstance(value, list):
            pairs = enumerate(value)
        else:
            raise _Mismatch("is not an object" if mapping else "is not a list")
        for key, element in pairs:
            try:
                item(element)
            except _Mismatch as e:
                e.path.append(f"[{key!r:.100}]")
                raise

    return check


def _record_checker(kind: Any) -> Check:
    required = frozenset(kind.__required_keys__)
    fields = [(key, _checker(hint)) for key, hint in typing.get_type_hints(kind).items()]

    def check(value: object) -> None:
        if type(value) is not dict:
            raise _Mismatch("is not an object")
        missing = required.difference(value)
        if missing:
            raise _Mismatch(f"lacks {', '.join(sorted(missing))}")
        for key, field in fields:
            if key in value:
                try:
                    field(value[key])
                except _Mismatch as e:
                    e.path.append(f".{key}")
                    raise

    return check
