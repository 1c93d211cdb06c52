"""Kernel side: the pipe sender and the sys.stdout/sys.stderr replacements.

Every message to the server goes through one sender thread, fed by a queue. That keeps messages in
order, lets the thread coalesce small writes (a print loop is not one message per character), and
means a KeyboardInterrupt in the main thread can never leave half a message in the pipe: the main
thread only ever puts whole items on the queue.
"""

import io
import queue
import threading
import time
from typing import Literal, TextIO

from sandbox_runner import pipe
from sandbox_runner.pipe import KernelMessage, StreamName

FLUSH_AGE_S = 0.05
FLUSH_SIZE = 4096

# What the sender thread is handed: a message, a message to confirm once written, or stream text.
_Item = (
    tuple[Literal["message"], KernelMessage]
    | tuple[Literal["sync"], tuple[KernelMessage, threading.Event]]
    | tuple[StreamName, str]
)


class Sender:
    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="executor-sender", daemon=True)
        self._thread.start()

    def send(self, message: KernelMessage) -> None:
        self._queue.put(("message", message))

    def send_sync(self, message: KernelMessage) -> None:
        """Send and wait until it is in the pipe: a long stream then never piles up in memory
        faster than the server reads it."""
        written = threading.Event()
        self._queue.put(("sync", (message, written)))
        written.wait()

    def stream(self, name: StreamName, text: str) -> None:
        self._queue.put((name, text))

    def _run(self) -> None:
        pending_name: StreamName = "stdout"
        parts: list[str] = []
        size = 0
        since = 0.0

        def flush() -> None:
            nonlocal parts, size
            if parts:
                pipe.write_all(
                    self._fd, pipe.encode(pipe.stream_text(pending_name, "".join(parts)))
                )
                parts, size = [], 0

        while True:
            timeout = None if not parts else max(0.0, since + FLUSH_AGE_S - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                flush()
                continue
            if item[0] == "message":
                flush()
                pipe.write_all(self._fd, pipe.encode(item[1]))
                continue
            if item[0] == "sync":
                flush()
                message, written = item[1]
                pipe.write_all(self._fd, pipe.encode(message))
                written.set()
                continue
            name, text = item
            if parts and name != pending_name:
                flush()
            if not parts:
                pending_name, since = name, time.monotonic()
            parts.append(text)
            size += len(text)
            if size >= FLUSH_SIZE:
                flush()


class StreamCapture(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr for the kernel's whole life.

    It stays installed between cells because user code keeps references to it (a logging handler
    made in one cell writes in later ones). During a cell text goes to the server, capped at
    `limit` bytes; outside a cell (a background thread printing) it goes to the original stream,
    which is the container's log.
    """

    # Class attributes: TextIOBase's own are read-only descriptors.
    encoding = "utf-8"
    errors = "replace"

    def __init__(self, name: StreamName, sender: Sender, fallback: TextIO, limit: int) -> None:
        super().__init__()
        self.name = name
        self._sender = sender
        self._fallback = fallback
        self._limit = limit
        self._lock = threading.Lock()
        self._active = False
        self._written = 0
        self._dropped = 0
        self.forked = False

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def begin(self) -> None:
        with self._lock:
            self._active, self._written, self._dropped = True, 0, 0

    def end(self) -> bool:
        """Stop capturing; emit the truncation marker if output was dropped. True if it was."""
        with self._lock:
            self._active = False
            if not self._dropped:
                return False
            marker = f"\n[output truncated: {self._dropped} more bytes not shown]\n"
            self._sender.stream(self.name, marker)
            return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        length = len(text)
        # A fork may have copied the lock while another thread held it: never take it there.
        if self.forked:
            return self._fallback.write(text)
        with self._lock:
            if self._active:
                self._capture(text)
                return length
        return self._fallback.write(text)

    def _capture(self, text: str) -> None:
        size = len(text) if text.isascii() else len(text.encode("utf-8", "replace"))
        room = self._limit - self._written
        if size <= room:
            self._written += size
        else:
            if self._dropped == 0:
                self._sender.send(pipe.truncating(self.name))
            self._written = self._limit
            self._dropped += size - max(room, 0)
            text = text.encode("utf-8", "replace")[: max(room, 0)].decode("utf-8", "ignore")
        if text:
            self._sender.stream(self.name, text)

    def flush(self) -> None:
        if not self._active:
            self._fallback.flush()
