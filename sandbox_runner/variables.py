"""Kernel side: what the variable routes show of a value (VariableInfo / VariableValue fields).

Everything here must stay cheap on big objects: no full repr of a large container, no
`memory_usage(deep=True)` on a frame (it walks every string). pandas and numpy are never imported
here: a value of their types can only exist once user code imported them.
"""

import contextlib
import datetime
import math
import reprlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

from sandbox_runner import pipe

PREVIEW_LIMIT = 200
REPR_LIMIT = 10_000
# A JSON value bigger than this many items is shown as a repr instead.
MAX_JSON_ITEMS = 10_000
CSV_CHUNK_ROWS = 20_000

_preview_repr = reprlib.Repr()
_preview_repr.maxstring = _preview_repr.maxother = PREVIEW_LIMIT
_value_repr = reprlib.Repr()
_value_repr.maxlevel = 4
_value_repr.maxlist = _value_repr.maxtuple = _value_repr.maxdict = 200
_value_repr.maxset = _value_repr.maxfrozenset = _value_repr.maxdeque = 200
_value_repr.maxstring = _value_repr.maxother = REPR_LIMIT


class VariableError(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def describe(
    name: str, value: Any, size: int | None, not_persisted: str | None
) -> pipe.VariableInfo:
    frame_like = _pandas_kind(value)
    if size is None:
        size = _shallow_size(value, frame_like)
    return {
        "name": name,
        "type": type_name(value),
        # Only array-likes have a shape; a container's length is in its preview instead.
        "shape": _shape(value),
        "size_bytes": size,
        "persisted": not_persisted is None,
        "not_persisted_reason": not_persisted,
        "preview": _capped(_preview(value, frame_like), PREVIEW_LIMIT),
    }


def type_name(value: Any) -> str:
    cls = type(value)
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module.split('.')[0]}.{cls.__qualname__}"


def value(name: str, value: Any, offset: int, limit: int) -> dict[str, Any]:
    result: dict[str, Any] = {"name": name, "type": type_name(value)}
    kind = _pandas_kind(value)
    if kind is not None:
        return result | _page(value, kind, offset, limit)
    numpy = sys.modules.get("numpy")
    candidate = value
    if numpy is not None and isinstance(value, numpy.ndarray) and value.size <= MAX_JSON_ITEMS:
        candidate = value.tolist()
    budget = [MAX_JSON_ITEMS]
    try:
        return result | {"kind": "json", "value": _json(candidate, budget, 0)}
    except _NotJson:
        return result | {
            "kind": "repr",
            "repr": _capped(_safe(_value_repr.repr, value), REPR_LIMIT),
        }


def csv_chunks(value: Any) -> Iterator[str]:
    """The whole frame or series as CSV, a slice at a time so no giant string is ever built."""
    kind = _pandas_kind(value)
    if kind is None:
        raise VariableError(400, "format=csv is only for DataFrames and Series")
    frame = value.to_frame() if kind == "series" else value
    with_index = not _default_index(frame)
    for start in range(0, max(len(frame), 1), CSV_CHUNK_ROWS):
        part = frame.iloc[start : start + CSV_CHUNK_ROWS]
        yield part.to_csv(index=with_index, header=start == 0)


def json_safe(item: Any) -> Any:
    """One cell of a frame as JSON: NaN/NaT -> null, timestamps -> ISO text, numpy -> python."""
    if item is None or isinstance(item, bool | int | str):
        return item
    if isinstance(item, float):
        return _float(item)
    if isinstance(item, datetime.date | datetime.time):
        return item.isoformat() if item == item else None  # NaT != NaT
    if hasattr(item, "item") and hasattr(item, "dtype"):  # a numpy scalar
        if item.dtype.kind in "mM":
            return None if item != item else str(item)
        return json_safe(item.item())
    decimal = sys.modules.get("decimal")  # not imported here: it slows the kernel's start
    if decimal is not None and isinstance(item, decimal.Decimal):
        return None if item.is_nan() else str(item)
    if _is_missing(item):
        return None
    return _capped(str(item), PREVIEW_LIMIT)


def _page(value: Any, kind: str, offset: int, limit: int) -> dict[str, Any]:
    frame = value
    if kind == "series":
        frame = value.to_frame(name=value.name if value.name is not None else "value")
    part = frame.iloc[offset : offset + limit]
    if not _default_index(frame):
        # An index level named like a column cannot be shown as one: show the columns only.
        with contextlib.suppress(ValueError):
            part = part.reset_index()
    columns = [str(c) for c in part.columns]
    return {
        "kind": kind,
        "columns": columns,
        "dtypes": {c: str(t) for c, t in zip(columns, part.dtypes, strict=True)},
        "rows": [[json_safe(v) for v in row] for row in part.itertuples(index=False, name=None)],
        "offset": offset,
        "limit": limit,
        "total_rows": len(frame),
    }


def _pandas_kind(value: Any) -> str | None:
    pandas = sys.modules.get("pandas")
    if pandas is None:
        return None
    if isinstance(value, pandas.DataFrame):
        return "dataframe"
    if isinstance(value, pandas.Series):
        return "series"
    return None


def _default_index(frame: Any) -> bool:
    import pandas  # only called with a pandas object

    index = frame.index
    return isinstance(index, pandas.RangeIndex) and index.start == 0 and index.step == 1


def _shape(value: Any) -> list[int] | None:
    if isinstance(value, type):
        return None
    shape = getattr(value, "shape", None)
    # type(), not isinstance(): the pipe takes plain ints only, and a shape of bools is no shape.
    if isinstance(shape, tuple) and all(type(n) is int for n in shape):
        return list(shape)
    return None


def _shallow_size(value: Any, frame_like: str | None) -> int | None:
    try:
        if frame_like is not None:
            # deep=False: counts the object pointers of a string column, not the strings.
            usage = value.memory_usage(index=True, deep=False)
            return int(usage.sum()) if frame_like == "dataframe" else int(usage)
        return sys.getsizeof(value)
    except Exception:
        return None


def _preview(value: Any, frame_like: str | None) -> str:
    if frame_like == "dataframe":
        rows, cols = value.shape
        names = ", ".join(str(c) for c in value.columns[:20])
        more = "…" if cols > 20 else ""
        return f"DataFrame {rows}\u00d7{cols}: {names}{more}"
    if frame_like == "series":
        label = f" {value.name}" if value.name is not None else ""
        return f"Series{label} ({len(value)} rows, {value.dtype})"
    if isinstance(value, types.FunctionType):
        return f"def {value.__name__}{_safe(_signature, value)}"
    if isinstance(value, type):
        return f"class {value.__qualname__}"
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray) and value.size > 100:
        return f"ndarray {value.shape} {value.dtype}"
    text = _safe(_preview_repr.repr, value)
    if isinstance(value, list | tuple | dict | set | frozenset) and len(value) > 6:
        text = f"{type(value).__name__} of {len(value)}: {text}"
    return text


def _signature(function: Any) -> str:
    import inspect

    return str(inspect.signature(function))


class _NotJson(Exception):
    pass


def _json(item: Any, budget: list[int], depth: int) -> Any:
    budget[0] -= 1
    if budget[0] < 0 or depth > 20:
        raise _NotJson
    if item is None or isinstance(item, bool | str) or type(item) is int:
        return item
    if type(item) is float:
        return _float(item)
    if isinstance(item, list | tuple):
        return [_json(v, budget, depth + 1) for v in item]
    if type(item) is dict and all(type(k) is str for k in item):
        return {k: _json(v, budget, depth + 1) for k, v in item.items()}
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(item, numpy.generic) and item.dtype.kind in "biuf":
        return _json(item.item(), budget, depth)
    raise _NotJson


def _float(item: float) -> Any:
    if math.isnan(item):
        return None
    if math.isinf(item):
        return "inf" if item > 0 else "-inf"
    return item


def _is_missing(item: Any) -> bool:
    pandas = sys.modules.get("pandas")
    return pandas is not None and (item is pandas.NA or item is pandas.NaT)


def _safe(render: Callable[[Any], str], value: Any) -> str:
    try:
        return render(value)
    except Exception as e:  # a broken __repr__ in user code
        return f"<{type(value).__name__}: repr failed: {type(e).__name__}>"


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
