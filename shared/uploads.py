"""What the gateway and the executor agree on about uploaded files: which data formats are loaded
as DataFrames (told by the file's name: the gateway never parses data), how many sheets a workbook
may have, and how a dataset's variable is named.

Standard library only: the kernel imports it, and it must not bring packages into user code's
process that user code did not import.
"""

import keyword
import re
from typing import Literal

DataFormat = Literal["csv", "tsv", "excel", "parquet", "feather", "json", "jsonl"]

# By the file name's last suffix, any case. Compressed files (`.csv.gz`, `.zip`) are kept as they
# are: unpacking an upload is left to code the user runs, which knows what it expects.
FORMATS: dict[str, DataFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".feather": "feather",
    ".ftr": "feather",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

# A workbook with more sheets is kept as a file, not loaded: each sheet would be a variable, and
# the model is told about every one.
MAX_SHEETS = 50

_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")


def claimed_format(filename: str) -> DataFormat | None:
    """The data format a file's name claims, or None for any other file."""
    dot = filename.rfind(".")
    return FORMATS.get(filename[dot:].lower()) if dot > 0 else None


def identifier(text: str, prefix: str = "df") -> str:
    """A lower-case Python identifier made of `text`: `TD rentals-2024` -> `td_rentals_2024`.
    Never empty, a keyword, or starting with a digit or an underscore (the executor hides names
    starting with one): those get `prefix` in front."""
    name = _NOT_IDENTIFIER.sub("_", text).strip("_").lower()
    if not name:
        return prefix
    if name[0].isdigit() or keyword.iskeyword(name):
        return f"{prefix}_{name}"
    return name


def is_variable_name(name: str) -> bool:
    """What a loaded dataset may be bound to: an identifier, not a keyword, not hidden (`_`)."""
    return name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
