"""Wire models of the executor protocol (HTTP over the sandbox's unix socket).

`POST /execute` answers with NDJSON: zero or more stdout/stderr/display/error events, then exactly
one `end` event. Each line parses with `EVENT_ADAPTER.validate_json`.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

SOCKET_NAME = "executor.sock"
SOCKET_DIR = "/run/executor"
WORKSPACE_DIR = "/workspace"
STATE_DIR = "/state"
# Every request carries `Authorization: Bearer <the sandbox's secret>`; every answer names the chat
# its executor serves in this header. Either side refuses a peer that is not the one it expects.
CHAT_HEADER = "X-Executor-Chat"

# What one cell may send back in all, in bytes of its NDJSON lines: stdout, stderr, displays,
# errors and tracebacks, and its EndEvent's file and variable lists. Past it the executor forwards
# no more output (the cell still runs to its end) and cuts the EndEvent's lists to fit, marking the
# cell `output_truncated`. Figures come as base64 PNG displays of 50-300 KB each: 8 MiB leaves room
# for a dozen large ones beside the text, and is what the gateway may hold per running cell.
CELL_OUTPUT_BUDGET_BYTES = 8 * 1024 * 1024
# The gateway cuts a cell's stream only this far past the executor's budget (which an honest
# executor never passes; the slack covers the events it adds when it fails itself), so only an
# executor that user code has replaced meets the gateway's cut.
GATEWAY_OUTPUT_SLACK_BYTES = 64 * 1024
# The largest JSON answer the gateway reads from an executor (a variable list or page). The kernel
# refuses a variable page of more than half of it (sandbox_runner.kernel.PAGE_LIMIT), so an honest
# executor stays below it.
MAX_REPLY_BYTES = 16 * 1024 * 1024

ExecStatus = Literal["ok", "error", "interrupted", "timeout", "crashed"]
# What happened to the kernel's variables during this request: "kept" (same kernel), "lost" (the
# kernel died or was killed and a fresh one started), "restored" (fresh kernel, state reloaded).
KernelState = Literal["kept", "lost", "restored"]


class ExecuteRequest(BaseModel):
    code: str
    timeout_s: float | None = Field(
        default=None, gt=0, description="overrides the executor default"
    )


class StreamEvent(BaseModel):
    type: Literal["stdout", "stderr"]
    text: str


class DisplayEvent(BaseModel):
    """A rich output: the last expression's value or a saved figure. `data` maps MIME type to
    content; binary types (image/png) are base64."""

    type: Literal["display"] = "display"
    data: dict[str, str]
    filename: str | None = None


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    ename: str
    evalue: str
    traceback: list[str] = []


class FileChange(BaseModel):
    path: str
    size: int
    change: Literal["created", "modified", "deleted"]


class KernelInfo(BaseModel):
    restarted: bool = False
    state: KernelState = "kept"
    reason: str | None = None
    # After a restart: the variables reloaded from /state, and those that could not be (name ->
    # why). A corrupt checkpoint loses only its own variable.
    restored: list[str] = []
    restore_errors: dict[str, str] = {}


class EndEvent(BaseModel):
    type: Literal["end"] = "end"
    status: ExecStatus
    execution_count: int
    duration_ms: float
    files: list[FileChange] = []
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # Some of the cell's output was cut: the cell passed CELL_OUTPUT_BUDGET_BYTES (later output
    # and part of the lists here were dropped), or one display or error was too large to send whole.
    output_truncated: bool = False
    kernel: KernelInfo = KernelInfo()
    # Variables this cell created, rebound or may have mutated (and were checkpointed), and those
    # it deleted. `not_persisted` maps each variable that cannot be checkpointed to the reason.
    variables_changed: list[str] = []
    variables_deleted: list[str] = []
    not_persisted: dict[str, str] = {}
    # Time the kernel spent checkpointing after this cell (change detection, pickling, writes).
    checkpoint_ms: float = 0


Event = Annotated[StreamEvent | DisplayEvent | ErrorEvent | EndEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    chat_id: str
    kernel_pid: int | None
    busy: bool
    execution_count: int
    # What the current kernel restored from /state when it started, and what it could not.
    restored: list[str] = []
    restore_errors: dict[str, str] = {}


class InterruptResult(BaseModel):
    interrupted: bool


class VariableInfo(BaseModel):
    name: str
    type: str
    shape: list[int] | None = None
    # Size of its checkpoint when persisted, else a shallow in-memory estimate.
    size_bytes: int | None = None
    persisted: bool
    not_persisted_reason: str | None = None
    preview: str


class VariableList(BaseModel):
    variables: list[VariableInfo]


class VariableValue(BaseModel):
    """One variable. `kind` says which fields are set: "json" -> value; "dataframe" and
    "series" -> columns, dtypes, rows (one page: offset, limit, total_rows); "repr" -> repr."""

    name: str
    type: str
    kind: Literal["json", "dataframe", "series", "repr"]
    value: object | None = None
    columns: list[str] | None = None
    dtypes: dict[str, str] | None = None
    rows: list[list[object]] | None = None
    offset: int = 0
    limit: int | None = None
    total_rows: int | None = None
    repr: str | None = None


class LoadCsvRequest(BaseModel):
    path: str = Field(description="file in the workspace, relative to it")
    variable: str = Field(description="a valid Python identifier")


class LoadCsvResult(BaseModel):
    variable: str
    path: str
    shape: list[int]
    columns: list[str]
    dtypes: dict[str, str]
    head: list[dict[str, object]]


class ResetResult(BaseModel):
    reset: bool = True
