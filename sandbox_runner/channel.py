"""Framing of the pipes between the server and its kernel: one JSON object per line.

Plain JSON lines rather than pickle (multiprocessing's Pipe) so a kernel that user code has
scribbled on can only send the server bad text, never objects to unpickle, and so the kernel side
needs nothing but the stdlib. Stdlib only: the kernel imports this module.
"""

import json
import os
from typing import Any

# The longest line the server takes from its kernel. The kernel keeps each message it sends far
# below this (outputs, errors and replies are capped where it builds them; the largest honest ones
# are a variable page or a figure of a few MiB), so a longer line is user code writing to the pipe
# and is refused as unreadable instead of being buffered. Generous, because the checkpoint report
# lists every changed variable: this is room for about 100,000 of them.
MAX_LINE_BYTES = 32 * 1024 * 1024


def encode(message: dict[str, Any]) -> bytes:
    # `replace` turns lone surrogates (which user code can print) into "?" instead of failing.
    text = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8", "replace") + b"\n"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineTooLong(ValueError):
    pass


class LineReader:
    """Splits what arrives on a non-blocking pipe into decoded JSON messages."""

    def __init__(self, fd: int, max_line: int = MAX_LINE_BYTES) -> None:
        self.fd = fd
        self.max_line = max_line
        self._buffer = bytearray()

    def read_available(self) -> list[dict[str, Any]] | None:
        """Messages completed by one read; None once the writer has closed the pipe. ValueError
        for a message that is not a JSON object; LineTooLong for one longer than `max_line`
        bytes, even before its end has arrived."""
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return []
        if not chunk:
            return None
        self._buffer += chunk
        lines: list[bytes] = []
        if b"\n" in chunk:
            *lines, rest = self._buffer.split(b"\n")
            self._buffer = bytearray(rest)
        if len(self._buffer) > self.max_line or any(len(line) > self.max_line for line in lines):
            raise LineTooLong(f"a message longer than {self.max_line} bytes")
        return [_decode(line) for line in lines if line]


def _decode(line: bytes) -> dict[str, Any]:
    message = json.loads(line)
    if not isinstance(message, dict):
        raise ValueError(f"expected a JSON object, got {type(message).__name__}")
    return message
