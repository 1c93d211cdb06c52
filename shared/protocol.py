"""Wire models of the executor protocol (HTTP over the sandbox's unix socket).

`POST /execute` answers with NDJSON: zero or more stdout/stderr/display/error events, then exactly
one `end` event. Each line parses with `EVENT_ADAPTER.validate_json`.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, Field, JsonValue, TypeAdapter, field_validator

from shared.charts import Chart
from shared.env import MergedEnv
from shared.uploads import MAX_SHEETS, DataFormat, is_variable_name

SOCKET_NAME = "executor.sock"
SOCKET_DIR = "/run/executor"
WORKSPACE_DIR = "/workspace"
STATE_DIR = "/state"
# Every request carries `Authorization: Bearer <the sandbox's secret>`; every answer names the chat
# its executor serves in this header. Either side refuses a peer that is not the one it expects.
CHAT_HEADER = "X-Executor-Chat"
# A pooled sandbox starts serving "pool-<hex>" (no chat id looks like that) until the gateway
# claims it for a chat with POST /claim, once (gateway/sandbox/pool.py).
POOL_ID_PREFIX = "pool-"

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
    env: MergedEnv = Field(
        default={},
        description="environment variables the kernel sets for this cell only (the chat's and "
        "the run's, merged by the gateway), on top of its own",
    )


class StreamEvent(BaseModel):
    type: Literal["stdout", "stderr"]
    text: str


class DisplayEvent(BaseModel):
    """A rich output: the cell's own result (its last expression's value), a `display()` call or
    a saved figure. `data` maps MIME type to content, as IPython's formatters made it: text types
    are strings, binary ones (image/png, image/jpeg) base64, JSON ones (application/json,
    application/vnd.dataresource+json, application/vnd.plotly.v1+json) JSON values."""

    type: Literal["display"] = "display"
    data: dict[str, JsonValue]
    metadata: dict[str, JsonValue] = {}
    # The cell's own result, and its text: a string's own characters (not its repr), else the
    # value's text/plain.
    is_result: bool = False
    text: str | None = None
    # A saved matplotlib figure: its file in the workspace, and the figure as chart data.
    filename: str | None = None
    chart: Chart | None = None


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


class ClaimRequest(BaseModel):
    chat_id: str = Field(description="the chat this pooled sandbox serves from now on")


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


# Uploads of any data file (POST /load; the formats are in shared.uploads). What an answer may
# hold of its datasets' names, which the gateway journals and turns into code (the export): sheet
# names, which Excel caps at 31 characters, and variables made of the file's name.
_MAX_NAME_CHARS = 200
_VARIABLE_NAME = "^[A-Za-z][A-Za-z0-9_]*$"


class LoadRequest(BaseModel):
    path: str = Field(description="file in the workspace, relative to it")
    variable: str = Field(
        description="the name to bind (a workbook's sheets: this name and the sheet's); "
        "taken names get a suffix (_2, _3, ...) unless `overwrite`",
        pattern=_VARIABLE_NAME,
        max_length=_MAX_NAME_CHARS,
    )
    format: DataFormat
    delimiter: str | None = Field(
        default=None, min_length=1, max_length=1, description="CSV/TSV; None: detected"
    )
    encoding: str | None = Field(
        default=None,
        pattern="^[A-Za-z0-9_.-]{1,40}$",
        description="CSV/TSV/JSON text encoding; None: detected",
    )
    overwrite: bool = False
    keep: list[str] = Field(
        default=[],
        max_length=1000,
        description="variables never to replace, even with `overwrite`: those bound by the "
        "files before this one in the same upload",
    )

    @field_validator("variable")
    @classmethod
    def _bindable(cls, name: str) -> str:
        if not is_variable_name(name):
            raise ValueError(f"'{name}' is a Python keyword")
        return name


class ReaderOptions(BaseModel):
    """The keyword arguments, besides the path, of the pandas reader that loaded a dataset; the
    export writes them down as the code that loads it again. Unset ones are left out."""

    sep: str | None = Field(default=None, min_length=1, max_length=1)
    encoding: str | None = Field(default=None, pattern="^[A-Za-z0-9_.-]{1,40}$")
    sheet_name: str | None = Field(default=None, max_length=_MAX_NAME_CHARS)
    orient: Literal["records", "columns", "split", "values", "table"] | None = None
    lines: bool | None = None


class LoadedDataset(LoadCsvResult):
    """One DataFrame made from an uploaded file: a CSV's, or one sheet of a workbook."""

    variable: str = Field(pattern=_VARIABLE_NAME, max_length=_MAX_NAME_CHARS)
    sheet: str | None = Field(default=None, max_length=_MAX_NAME_CHARS)
    reader: Literal["read_csv", "read_excel", "read_parquet", "read_feather", "read_json"]
    options: ReaderOptions = ReaderOptions()


class LoadResult(BaseModel):
    """The datasets a file was loaded as, all bound; or none and `error`, why it was not loaded
    (it does not parse, too many sheets, loading it stopped the kernel): nothing was bound."""

    datasets: list[LoadedDataset] = Field(default=[], max_length=MAX_SHEETS)
    error: str | None = Field(default=None, max_length=2000)
