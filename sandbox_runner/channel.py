"""Framing of the pipes between the server and its kernel: one JSON object per line.

Plain JSON lines rather than pickle (multiprocessing's Pipe) so a kernel that user code has
scribbled on can only send the server bad text, never objects to unpickle, and so the kernel side
needs nothing but the stdlib. Stdlib only: the kernel imports this module.
"""

import json
import os
from typing import Any


def encode(message: dict[str, Any]) -> bytes:
    # `replace` turns lone surrogates (which user code can print) into "?" instead of failing.
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace") + b"\n"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineReader:
    """Splits what arrives on a non-blocking pipe into decoded JSON messages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()

    def read_available(self) -> list[dict[str, Any]] | None:
        """Messages completed by one read; None once the writer has closed the pipe."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self._buffer += chunk
        if b"\n" not in chunk:
            return []
        *lines, rest = self._buffer.split(b"\n")
        self._buffer = bytearray(rest)
        return [_decode(line) for line in lines if line]


def _decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message
