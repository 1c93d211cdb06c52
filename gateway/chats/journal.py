"""A chat's history: one typed record per message, as kept in Redis and served to the page.

Kinds: `query` (a question to the AI data scientist, with its steps and answer), `code` (code the
user ran directly, with its result), `upload` (a file kept in the workspace, and the DataFrames it
was loaded as; before any file could be uploaded, a CSV loaded as one), `packages` (packages
installed from the operator's store) and `restart` (the session was reset). Queries and code
runs are journaled `running` when they start and finished by `gateway.runs.lifecycle` as `done`,
`failed` or `interrupted`; uploads, installs and restarts are journaled once they are done.

Records written by earlier versions load as they are: every field has a default, so one that an
older gateway did not write is filled in. A record that does not load at all (a kind this version
does not know, or a damaged entry) is left out of the history with a warning in the log, and left
untouched in Redis: the rest of the chat stays readable, and a later version may know it.
"""

import logging
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from shared.protocol import (
    DisplayEvent,
    ErrorEvent,
    ExecStatus,
    FileChange,
    KernelInfo,
    LoadCsvResult,
    LoadedDataset,
    ReaderOptions,
)
from shared.uploads import DataFormat

log = logging.getLogger(__name__)

RecordStatus = Literal["running", "done", "failed", "interrupted"]


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _new_id() -> str:
    return uuid.uuid4().hex


class DiskUsage(BaseModel):
    """A chat's disk use after a cell: its files and saved variables against SANDBOX_DISK_LIMIT
    (measured by gateway.sandbox.disk_usage)."""

    used_bytes: int
    limit_bytes: int
    # The measuring stopped early (very many entries, very deep folders, or its time ran out):
    # the chat uses at least used_bytes.
    at_least: bool = False
    over_limit: bool = False
    # Set when over the limit: what it means and what to do, for the user and the model.
    warning: str | None = None


class CellResult(BaseModel):
    """What one cell did. The history keeps it for every cell, without the base64 copies of
    figures (they are files in the workspace); a code query's reply is the whole of it."""

    chat_id: str = ""
    message_id: str = ""
    status: ExecStatus = "ok"
    execution_count: int = 0
    stdout: str = ""
    stderr: str = ""
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # Some output was cut: the cell passed its output budget (CELL_OUTPUT_BUDGET_BYTES), or one
    # display or error was too large to send whole.
    output_truncated: bool = False
    # The last expression's value as text, when it had one.
    result: str | None = None
    outputs: list[DisplayEvent] = []
    error: ErrorEvent | None = None
    files: list[FileChange] = []
    variables_changed: list[str] = []
    variables_deleted: list[str] = []
    # Variables that cannot be checkpointed (name -> why): they live until the kernel restarts.
    not_persisted: dict[str, str] = {}
    kernel: KernelInfo = KernelInfo()
    duration_ms: float = 0.0
    # Time the sandbox spent checkpointing this cell's changed variables (part of duration).
    checkpoint_ms: float = 0.0
    # The chat's disk use measured after the cell (None with no SANDBOX_DISK_LIMIT); its
    # `warning` says when the chat is past its limit.
    disk: DiskUsage | None = None


class StepRecord(CellResult):
    """One step of a query: the code the model ran and what it did."""

    code: str = ""


class Record(BaseModel):
    """What every history message has. `error` says why a run failed or was interrupted."""

    # Every field is in every record served, defaults included: the OpenAPI document says so.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    id: str = Field(default_factory=_new_id)
    created_at: str = Field(default_factory=_now)
    status: RecordStatus = "done"
    error: str | None = None


class QueryRecord(Record):
    kind: Literal["query"] = "query"
    role: Literal["user"] = "user"
    query: str = ""
    steps: list[StepRecord] = []
    answer: str | None = None
    # "step_limit": the model was still working when LLM_MAX_STEPS ran out.
    answer_status: Literal["answered", "step_limit"] | None = None
    usage: dict[str, int] = {}


class CodeRecord(Record):
    kind: Literal["code"] = "code"
    role: Literal["user"] = "user"
    code: str = ""
    result: CellResult | None = None


# What the history keeps of a dataset's columns (they come from the sandbox: bounded here).
MAX_COLUMNS_KEPT = 50
MAX_COLUMN_CHARS = 100


class UploadedDataset(BaseModel):
    """A DataFrame an upload was loaded as, and the pandas call that made it (the export writes
    it down again). Only the first columns are kept: the model sees the rest in the variable."""

    variable: str
    shape: list[int] = []
    columns: list[str] = []
    sheet: str | None = None
    reader: Literal["read_csv", "read_excel", "read_parquet", "read_feather", "read_json"] = (
        "read_csv"
    )
    options: ReaderOptions = ReaderOptions()

    @classmethod
    def of(cls, loaded: LoadCsvResult) -> "UploadedDataset":
        columns = [name[:MAX_COLUMN_CHARS] for name in loaded.columns[:MAX_COLUMNS_KEPT]]
        dataset = cls(variable=loaded.variable, shape=loaded.shape, columns=columns)
        if isinstance(loaded, LoadedDataset):
            dataset.sheet, dataset.reader, dataset.options = (
                loaded.sheet,
                loaded.reader,
                loaded.options,
            )
        return dataset


class UploadRecord(Record):
    kind: Literal["upload"] = "upload"
    role: Literal["user"] = "user"
    file: str = ""
    # The first dataset's variable and shape ("" and [] for a file kept only as a file), as
    # records had them when only CSVs were uploaded.
    variable: str = ""
    shape: list[int] = []
    size: int | None = None
    # The data format the file's name claims; None for any other file (and in old records).
    format: DataFormat | None = None
    datasets: list[UploadedDataset] = []
    # It claims a data format but was not loaded: why. It is kept as a file all the same.
    load_error: str | None = None

    def loaded(self) -> list[UploadedDataset]:
        """The DataFrames it was loaded as; an old record's CSV as the one it names."""
        if self.datasets or not self.variable:
            return self.datasets
        return [UploadedDataset(variable=self.variable, shape=self.shape)]


class PackagesRecord(Record):
    """Packages installed into the chat from the store (by the user, or by the model during a
    query): what was asked for, and everything installed for it, as `name==version`."""

    kind: Literal["packages"] = "packages"
    role: Literal["user"] = "user"
    requested: list[str] = []
    installed: list[str] = []


class RestartRecord(Record):
    kind: Literal["restart"] = "restart"
    role: Literal["system"] = "system"


HistoryRecord = Annotated[
    QueryRecord | CodeRecord | UploadRecord | PackagesRecord | RestartRecord,
    Field(discriminator="kind"),
]
_HISTORY: TypeAdapter[HistoryRecord] = TypeAdapter(HistoryRecord)


def parse_record(raw: str | bytes) -> HistoryRecord:
    """One stored record; ValidationError when it is not one this version knows."""
    return _HISTORY.validate_json(raw)


def load_history(chat_id: str, raws: Iterable[str | bytes]) -> list[HistoryRecord]:
    """The records of a chat's stored history, oldest first, leaving out (and logging) those
    that do not load."""
    history: list[HistoryRecord] = []
    for index, raw in enumerate(raws):
        try:
            history.append(parse_record(raw))
        except ValidationError as e:
            problems = e.errors(include_input=False, include_url=False)[:3]
            log.warning(
                "history of %s: message %d left out, it is not a record this version reads: %s",
                chat_id,
                index,
                "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in problems),
            )
    return history
