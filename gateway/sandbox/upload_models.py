"""An upload of any files (POST /upload): what it is asked (how to read CSVs, whether to replace)
and what it answers, a result per file."""

import typing
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from shared.errors import ErrorCode, Unprocessable
from shared.protocol import LoadedDataset
from shared.uploads import DataFormat

# Files one multipart upload may carry (the body as a whole stays within MAX_UPLOAD_BYTES).
MAX_UPLOAD_FILES = 20
# The delimiters and encodings a client may name, closed lists so that the API's schema says
# exactly what is accepted: the delimiters of real CSV files (by character or by name), and the
# text encodings data files come in (Python's names; `latin-1` is ISO-8859-1).
Delimiter = Literal[
    ",", ";", "\t", "|", ":", " ", "comma", "semicolon", "tab", "pipe", "colon", "space"
]
Encoding = Literal[
    "utf-8",
    "utf-8-sig",
    "utf-16",
    "utf-16-le",
    "utf-16-be",
    "utf-32",
    "ascii",
    "latin-1",
    "iso-8859-2",
    "iso-8859-15",
    "cp1250",
    "cp1251",
    "cp1252",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "cp437",
    "cp850",
    "mac-roman",
    "koi8-r",
    "shift_jis",
    "cp932",
    "euc-jp",
    "euc-kr",
    "cp949",
    "gb2312",
    "gbk",
    "gb18030",
    "big5",
    "cp874",
]
DELIMITERS: tuple[str, ...] = typing.get_args(Delimiter)
ENCODINGS: tuple[str, ...] = typing.get_args(Encoding)
_DELIMITER_NAMES = {
    "comma": ",",
    "semicolon": ";",
    "tab": "\t",
    "pipe": "|",
    "colon": ":",
    "space": " ",
}


@dataclass(frozen=True)
class UploadOptions:
    """How CSV, TSV and JSON files are read (None: detected), and whether a file or variable of
    the same name is replaced (else the new one gets a numbered name)."""

    delimiter: str | None = None
    encoding: str | None = None
    overwrite: bool = False


def upload_options(delimiter: str | None, encoding: str | None, overwrite: bool) -> UploadOptions:
    """The options as given by the client, checked; Unprocessable (422) saying what is wrong.
    (Query and JSON fields are checked by their types already; multipart fields only here.)"""
    if delimiter is not None and delimiter not in DELIMITERS:
        raise Unprocessable(
            f"delimiter {delimiter[:20]!r} cannot be used: give one of "
            f"{', '.join(repr(d) for d in DELIMITERS)}"
        )
    if encoding is not None and encoding not in ENCODINGS:
        raise Unprocessable(
            f"encoding {encoding[:40]!r} is not one this takes: give one of {', '.join(ENCODINGS)}"
        )
    if delimiter is not None:
        delimiter = _DELIMITER_NAMES.get(delimiter, delimiter)
    return UploadOptions(delimiter, encoding, overwrite)


@dataclass
class IncomingFile:
    """One file of an upload: the name the client gave, the name to keep it as (unless taken),
    its bytes, and its size when known up front."""

    name: str
    filename: str
    chunks: AsyncIterator[bytes]
    size: int | None


class UploadError(BaseModel):
    """Why one file of a multi-file upload was not stored, as the error it would have been."""

    status: int
    code: ErrorCode
    detail: str


class UploadedFile(BaseModel):
    """One file's result. `kind`: "dataset", kept and loaded as `datasets`; "file", kept as a
    file only (not a data format, or one that did not load: `load_error` says why); "failed",
    not stored at all (`error`)."""

    name: str = Field(description="the file's name as sent")
    kind: Literal["dataset", "file", "failed"]
    path: str | None = Field(default=None, description="where it is kept in the workspace")
    size: int | None = None
    format: DataFormat | None = Field(
        default=None, description="the data format its name claims; null for any other file"
    )
    datasets: list[LoadedDataset] = []
    load_error: str | None = None
    error: UploadError | None = None


class UploadResult(BaseModel):
    files: list[UploadedFile]
