"""Kernel side: rich results. IPython's format bundles made fit to send, the table formatter for
DataFrames, and PIL's `Image.show()`.

A bundle holds whatever formatters and `_repr_*_` methods of user objects returned, so each entry
is checked and capped here: text types must be strings, binary types become base64, JSON types
must be JSON, and an entry over its cap is dropped (the cell is then marked as cut), never sent in
part: half an image or half a JSON document is of no use to anyone.

Nothing here imports pandas or PIL: the formatters are registered by module name, and PIL's viewer
is registered when user code imports PIL.ImageShow, so an idle kernel pays for neither.
"""

import base64
import importlib.abc
import importlib.machinery
import json
import math
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from IPython.core.formatters import BaseFormatter, DisplayFormatter
from traitlets import ObjectName, Unicode

TEXT_LIMIT = 10_000
# What one entry of a bundle may hold, in characters of text, base64 or JSON.
HTML_LIMIT = 200_000
RICH_LIMIT = 1_000_000
IMAGE_LIMIT = 4 * 1024 * 1024
# The rows of a DataFrame's table (application/vnd.dataresource+json): the page shows a preview,
# the variables panel and GET /chat/{id}/variables/{name} page through the rest.
TABLE_ROWS = 200
TABLE_CELL_CHARS = 1_000

DATARESOURCE = "application/vnd.dataresource+json"
_TABLES = (
    ("pandas", "DataFrame"),
    ("pandas", "Series"),
    ("pandas.core.frame", "DataFrame"),
    ("pandas.core.series", "Series"),
)
_TEXT_TYPES = {
    "text/plain": TEXT_LIMIT,
    "text/html": HTML_LIMIT,
    "text/markdown": HTML_LIMIT,
    "text/latex": HTML_LIMIT,
    "image/svg+xml": IMAGE_LIMIT,
    "application/javascript": HTML_LIMIT,
}
_BINARY_TYPES = {"image/png", "image/jpeg", "application/pdf", "image/gif"}


def fit(bundle: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The entries of a format bundle that can be sent, each checked and within its cap, and
    whether any was dropped for its size."""
    data: dict[str, Any] = {}
    cut = False
    for mime, value in bundle.items():
        entry = _entry(mime, value)
        if entry is None:
            continue
        if len(entry) > _limit(mime) and mime != "text/plain":
            cut = True
            continue
        data[mime] = entry
    text = data.get("text/plain")
    if isinstance(text, str) and len(text) > TEXT_LIMIT:
        cut = True
        data["text/plain"] = capped(text, TEXT_LIMIT)
    for mime in [m for m in data if _is_json(m)]:
        data[mime] = json.loads(data[mime])
    return data, cut


def capped(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[truncated: {len(text) - limit} more characters]"


def _entry(mime: str, value: Any) -> str | None:
    """The entry as text to measure: a JSON type as its JSON (parsed back by fit), None if its
    value is not of the kind its type needs."""
    if mime in _BINARY_TYPES:
        if isinstance(value, bytes | bytearray):
            return base64.b64encode(value).decode("ascii")
        return value if isinstance(value, str) else None
    if _is_json(mime):
        try:
            return json.dumps(value, allow_nan=False, default=str)
        except (ValueError, TypeError, RecursionError):
            return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value if isinstance(value, str) else None


def _is_json(mime: str) -> bool:
    return mime == "application/json" or mime.endswith("+json")


def _limit(mime: str) -> int:
    if mime in _TEXT_TYPES:
        return _TEXT_TYPES[mime]
    if mime in _BINARY_TYPES:
        return IMAGE_LIMIT
    return RICH_LIMIT


def value_text(value: Any, data: dict[str, Any]) -> str:
    """The cell's own result as text: a string's own characters, else its text/plain."""
    if isinstance(value, str):
        return capped(value, TEXT_LIMIT)
    text = data.get("text/plain")
    return text if isinstance(text, str) else ""


class DataResourceFormatter(BaseFormatter):  # type: ignore[misc]
    """application/vnd.dataresource+json: a Table Schema and the first rows, for clients that
    draw tables themselves (nteract's and JupyterLab's data explorers read the same type)."""

    format_type = Unicode(DATARESOURCE)
    print_method = ObjectName("_repr_data_resource_")
    _return_type = dict


def install_formatters(formatter: DisplayFormatter) -> None:
    table = DataResourceFormatter(parent=formatter)
    # By the module each class says it is in: "pandas" from pandas 3 on, before that its own.
    for module, name in _TABLES:
        table.for_type_by_name(module, name, frame_resource)
    formatter.formatters[table.format_type] = table
    sys.meta_path.insert(0, _PilViewerHook())


def frame_resource(frame: Any) -> dict[str, Any] | None:
    """A DataFrame (or Series) as a data resource: the schema of its columns, its first
    TABLE_ROWS rows (long texts cut), and how many rows it has in all."""
    import pandas

    if isinstance(frame, pandas.Series):
        frame = frame.to_frame()
    if frame.columns.nlevels > 1 or not frame.columns.is_unique:
        return None  # Table Schema has no nested or repeated field names
    head = frame.head(TABLE_ROWS)
    try:
        resource: dict[str, Any] = json.loads(head.to_json(orient="table", default_handler=str))
    except (ValueError, TypeError, OverflowError):
        return None
    resource["data"] = [
        {key: _cell(value) for key, value in row.items()} for row in resource["data"]
    ]
    resource["total_rows"] = len(frame)
    resource["truncated"] = len(frame) > len(head)
    return resource


def _cell(value: Any) -> Any:
    if isinstance(value, str) and len(value) > TABLE_CELL_CHARS:
        return value[:TABLE_CELL_CHARS] + "…"
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _PilViewerHook(importlib.abc.MetaPathFinder):
    """Registers the kernel's viewer once PIL.ImageShow is imported: `image.show()` then
    displays the image in the cell like any other result, instead of looking for a desktop
    viewer that a sandbox does not have."""

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "PIL.ImageShow":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _register_viewer(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _register_viewer(image_show: Any) -> None:
    class CellViewer(image_show.Viewer):  # type: ignore[misc]
        def show(self, image: Any, **options: Any) -> int:
            from IPython.display import display

            display(image)
            return 1

    image_show.register(CellViewer, order=-1)
