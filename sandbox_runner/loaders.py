"""Kernel side: load an uploaded data file as DataFrame variables, for POST /load.

Each format's reader gives every DataFrame the file holds (one per sheet of a workbook) with the
pandas call that made it, or raises NotLoaded saying why not. Only once all of a file's frames are
made and described are they bound, together, so a file that fails half-way leaves no variable. The
pandas call goes back with each dataset so that the gateway's export can write the same code.

The file is the user's and may be anything its name does not say: parsing it here, in the
sandbox, is the point (the gateway never does). Where a small file could cost without bound,
there is a limit: a workbook (a zip) whose parts claim to unpack past MAX_UNPACKED_BYTES is not
opened, since Python's zip reader never inflates a part past the size it claims.
"""

import builtins
import codecs
import csv
import json
import re
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox_runner import csv_loader, pipe
from sandbox_runner.checkpoints import Checkpoints
from sandbox_runner.variables import VariableError
from shared.uploads import MAX_SHEETS, DataFormat, identifier

MAX_UNPACKED_BYTES = 1 << 30
MAX_ZIP_PARTS = 10_000
# The first rows of every dataset in one answer together (JSON); past it the widest lose theirs.
HEAD_BUDGET_BYTES = 4 * 1024 * 1024
# Column names and dtypes of every dataset in one answer together: past it the file is not loaded
# (16k-column sheets, fifty of them), as the answer would pass what the gateway reads.
DESCRIPTION_BUDGET_BYTES = 8 * 1024 * 1024
# Text the delimiter is guessed from.
SAMPLE_CHARS = 64 * 1024
_MESSAGE_LIMIT = 1000
_C1_CONTROLS = re.compile(rb"[\x80-\x9f]")
_NAMES: dict[DataFormat, str] = {
    "csv": "CSV",
    "tsv": "TSV",
    "excel": "an Excel workbook",
    "parquet": "Parquet",
    "feather": "Feather",
    "json": "JSON",
    "jsonl": "JSON Lines",
}


class NotLoaded(Exception):
    """Why a file is kept only as a file: a sentence for the user and the model."""


@dataclass
class Dataset:
    frame: Any
    reader: str
    options: dict[str, Any] = field(default_factory=dict)
    sheet: str | None = None


def load(
    command: pipe.LoadCommand, namespace: dict[str, Any], checkpoints: Checkpoints
) -> tuple[dict[str, Any], pipe.CheckpointReport | None]:
    """The LoadResult fields, and the checkpoint of the variables bound (None: none were)."""
    try:
        with warnings.catch_warnings():
            # Readers warn about styles and mixed types; nothing outside a cell shows them.
            warnings.simplefilter("ignore")
            datasets = _read(command)
        names = _names(command, datasets, namespace)
        pairs = list(zip(names, datasets, strict=True))
        results = [_describe(name, command["path"], dataset) for name, dataset in pairs]
        _fit(results)
    except NotLoaded as e:
        return {"datasets": [], "error": str(e)[:_MESSAGE_LIMIT]}, None
    saved = checkpoints.bind_all({name: dataset.frame for name, dataset in pairs})
    return {"datasets": results}, saved


def _read(command: pipe.LoadCommand) -> list[Dataset]:
    format, path = command["format"], command["file"]
    readers: dict[DataFormat, Callable[[], list[Dataset]]] = {
        "csv": lambda: [_csv(path, command["delimiter"], command["encoding"])],
        "tsv": lambda: [_csv(path, command["delimiter"] or "\t", command["encoding"])],
        "excel": lambda: _excel(path),
        "parquet": lambda: [Dataset(_pandas().read_parquet(path), "read_parquet")],
        "feather": lambda: [Dataset(_pandas().read_feather(path), "read_feather")],
        "json": lambda: [_json(path, command["encoding"])],
        "jsonl": lambda: [_json_lines(path, command["encoding"])],
    }
    try:
        return readers[format]()
    except NotLoaded:
        raise
    except VariableError as e:
        raise NotLoaded(e.detail) from e
    except MemoryError as e:
        raise NotLoaded(
            f"reading it as {_NAMES[format]} needs more memory than the sandbox has"
        ) from e
    except Exception as e:
        message = str(e).strip() or type(e).__name__
        raise NotLoaded(f"the file could not be read as {_NAMES[format]}: {message}") from e


def _pandas() -> Any:
    import pandas  # only when a file is loaded: the kernel starts without it

    return pandas


def _csv(path: str, delimiter: str | None, encoding: str | None) -> Dataset:
    encoding = encoding or detect_encoding(path)
    sep = delimiter or detect_delimiter(path, encoding)
    options = {"sep": sep} if sep != "," else {}
    if encoding != "utf-8":
        options["encoding"] = encoding
    return Dataset(csv_loader.read(path, **options), "read_csv", options)


def detect_encoding(path: str) -> str:
    """The text encoding of a file: a BOM's; else UTF-8 if the whole file decodes as it; else
    latin-1 when no byte is a C1 control (there latin-1 and cp1252 agree), cp1252 when the file
    decodes as it (Windows' Western European text: curly quotes, euro sign), latin-1 when not."""
    with open(path, "rb") as f:
        start = f.read(4)
        for bom, name in (
            (codecs.BOM_UTF32_LE, "utf-32"),
            (codecs.BOM_UTF32_BE, "utf-32"),
            (codecs.BOM_UTF8, "utf-8-sig"),
            (codecs.BOM_UTF16_LE, "utf-16"),
            (codecs.BOM_UTF16_BE, "utf-16"),
        ):
            if start.startswith(bom):
                return name
        f.seek(0)
        if _decodes(f, "utf-8"):
            return "utf-8"
        f.seek(0)
        if not any(_C1_CONTROLS.search(chunk) for chunk in iter(lambda: f.read(1 << 20), b"")):
            return "latin-1"
        f.seek(0)
        return "cp1252" if _decodes(f, "cp1252") else "latin-1"


def _decodes(f: Any, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while chunk := f.read(1 << 20):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_delimiter(path: str, encoding: str) -> str:
    """The delimiter of a CSV's first lines among , ; tab |; a comma when none stands out."""
    with open(path, encoding=encoding, errors="replace", newline="") as f:
        sample = f.read(SAMPLE_CHARS)
    if len(sample) == SAMPLE_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # whole lines only
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _excel(path: str) -> list[Dataset]:
    if zipfile.is_zipfile(path):  # .xlsx and .xlsm; an .xls is not a zip
        _check_unpacked(path)
    with _pandas().ExcelFile(path) as book:
        sheets = [str(name) for name in book.sheet_names]
        if len(sheets) > MAX_SHEETS:
            raise NotLoaded(
                f"the workbook has {len(sheets)} sheets; at most {MAX_SHEETS} are loaded as "
                "DataFrames. Load the ones you need in code: pd.read_excel(file, sheet_name=...)"
            )
        if not sheets:
            raise NotLoaded("the workbook has no sheets")
        return [
            Dataset(book.parse(sheet), "read_excel", {"sheet_name": sheet}, sheet)
            for sheet in sheets
        ]


def _check_unpacked(path: str) -> None:
    with zipfile.ZipFile(path) as archive:
        parts = archive.infolist()
    unpacked = sum(part.file_size for part in parts)
    if unpacked > MAX_UNPACKED_BYTES or len(parts) > MAX_ZIP_PARTS:
        raise NotLoaded(
            f"the workbook would unpack to {unpacked} bytes in {len(parts)} parts, past the "
            f"{MAX_UNPACKED_BYTES} bytes and {MAX_ZIP_PARTS} parts a workbook is opened with"
        )


def _json(path: str, encoding: str | None) -> Dataset:
    encoding = encoding or detect_encoding(path)
    with open(path, encoding=encoding) as f:
        document = json.load(f)
    orient = _orient(document)
    del document  # read again by pandas, as the export will
    if orient is None:
        raise NotLoaded(
            "the JSON is not table-shaped (a list of records or rows, or an object of columns); "
            "read it in code with json.load"
        )
    options: dict[str, Any] = {"orient": orient}
    if encoding != "utf-8":
        options["encoding"] = encoding
    return Dataset(_pandas().read_json(path, **options), "read_json", options)


def _orient(document: Any) -> str | None:
    """How pandas should read a parsed JSON document as a table, or None when it is not one."""
    if isinstance(document, list):
        if all(isinstance(row, dict) for row in document):
            return "records"
        if all(isinstance(row, list) for row in document):
            return "values"
        return None
    if isinstance(document, dict) and document:
        keys = document.keys()
        if {"schema", "data"} <= keys and isinstance(document["data"], list):
            return "table"
        if {"columns", "data"} <= keys <= {"columns", "index", "data"}:
            return "split"
        if all(isinstance(column, dict | list) for column in document.values()):
            return "columns"
    return None


def _json_lines(path: str, encoding: str | None) -> Dataset:
    encoding = encoding or detect_encoding(path)
    with open(path, encoding=encoding) as f:
        first = next((line for line in f if line.strip()), None)
    if first is None:
        raise NotLoaded("the file has no lines of JSON")
    if not isinstance(json.loads(first), dict):
        raise NotLoaded("the first line is not a JSON object: each line must be one record")
    options: dict[str, Any] = {"lines": True}
    if encoding != "utf-8":
        options["encoding"] = encoding
    return Dataset(_pandas().read_json(path, **options), "read_json", options)


def _names(
    command: pipe.LoadCommand, datasets: list[Dataset], namespace: dict[str, Any]
) -> list[str]:
    """A variable per dataset: the file's name, with the sheet's after it for a workbook of
    several sheets. A name already taken (by a variable, or a builtin it would hide) gets a
    suffix, _2, _3, ...; `overwrite` lets the name itself replace a variable, but never one in
    `keep` (bound by an earlier file of the same upload), and never by a numbered name."""
    chosen: list[str] = []
    keep = set(command["keep"])
    for dataset in datasets:
        wanted = command["variable"]
        if len(datasets) > 1 and dataset.sheet is not None:
            wanted = identifier(f"{wanted} {dataset.sheet}")
        name, n = wanted, 2
        while (
            name in chosen
            or name in keep
            or hasattr(builtins, name)
            or (name in namespace and not (command["overwrite"] and name == wanted))
        ):
            name, n = f"{wanted}_{n}", n + 1
        chosen.append(name)
    return chosen


def _describe(name: str, path: str, dataset: Dataset) -> dict[str, Any]:
    return {
        **csv_loader.summary(name, path, dataset.frame),
        "sheet": dataset.sheet,
        "reader": dataset.reader,
        "options": dataset.options,
    }


def _fit(results: list[dict[str, Any]]) -> None:
    """Keep the answer within what the gateway reads: the widest first rows go first, then a
    file too wide to describe at all is not loaded."""
    sizes = [len(json.dumps(r["head"], default=str)) for r in results]
    total = sum(sizes)
    for i in sorted(range(len(results)), key=lambda i: -sizes[i]):
        if total <= HEAD_BUDGET_BYTES:
            break
        total -= sizes[i]
        results[i]["head"] = []
    described = sum(len(json.dumps([r["columns"], r["dtypes"]])) for r in results)
    if described > DESCRIPTION_BUDGET_BYTES:
        columns = sum(len(r["columns"]) for r in results)
        raise NotLoaded(
            f"its {columns} columns are too many to describe; load the parts you need in code"
        )
