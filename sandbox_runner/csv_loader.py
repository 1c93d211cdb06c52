"""Kernel side: load a workspace CSV file into a DataFrame for POST /load_csv."""

from typing import Any

from sandbox_runner.variables import VariableError, json_safe

HEAD_ROWS = 5
_MESSAGE_LIMIT = 1000


def read(path: str, **options: str) -> Any:
    """The file as a DataFrame, or VariableError(400) with the parser's message. `options` are
    read_csv's (`sep`, `encoding`); both engines get them.

    pyarrow's reader is multi-threaded and several times faster on big files, but it is stricter
    than pandas' C parser: rows with fewer fields than the header, some quoting and encodings it
    refuses, and it may be missing altogether. So whatever it refuses gets a second chance with the
    C engine, and a file is rejected only when both refuse it; the C engine's message is the one
    shown, being the more readable (pyarrow's quotes the offending bytes, garbage included).
    """
    import pandas

    try:
        return pandas.read_csv(path, engine="pyarrow", **options)
    except Exception:
        pass
    try:
        return pandas.read_csv(path, engine="c", **options)
    except Exception as e:
        message = str(e).strip() or type(e).__name__
        detail = f"the file could not be read as CSV: {message}"[:_MESSAGE_LIMIT]
        raise VariableError(400, detail) from e


def summary(name: str, path: str, frame: Any) -> dict[str, Any]:
    """The LoadCsvResult fields."""
    columns = [str(c) for c in frame.columns]
    head = frame.head(HEAD_ROWS)
    return {
        "variable": name,
        "path": path,
        "shape": list(frame.shape),
        "columns": columns,
        "dtypes": {c: str(t) for c, t in zip(columns, frame.dtypes, strict=True)},
        "head": [
            dict(zip(columns, (json_safe(v) for v in row), strict=True))
            for row in head.itertuples(index=False, name=None)
        ],
    }
