"""Runs cells on the kernel: one at a time, with the time limit, interrupts and restarts.

The server thread that holds `claim()` drives a cell (or a variable request) and turns the kernel's
messages into protocol events; other threads only read state (`health`, `variables`) or send a
signal (`interrupt`, and `reset`'s kill).
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sandbox_runner import pipe, workspace
from sandbox_runner.cell_run import CUT_MARKER, INTERRUPT_GRACE_S, CellRun, OutputBudget
from sandbox_runner.config import Config
from sandbox_runner.kernel_process import KernelGone, KernelProcess, RestoreFailed
from shared.errors import AppError, Conflict, ServiceUnavailable
from shared.protocol import (
    EndEvent,
    ErrorEvent,
    Event,
    ExecuteRequest,
    Health,
    KernelInfo,
    StreamEvent,
    VariableInfo,
    VariableList,
)

# A variable request that has not answered (or sent a chunk) for this long is interrupted.
REQUEST_TIMEOUT_S = 60.0
# Saved names skipped at most per kernel start, each because restoring it killed the kernel.
MAX_RESTORE_SKIPS = 5
RESET_WAIT_S = 10.0
CELL_BUSY = "a cell is already running in this sandbox; wait for it or interrupt it"
_SESSION_RESET = "the session was reset"
STOPPING = "this sandbox is being stopped; start it again for more work"
# How long a retired executor refuses work when the stop it was retired for never comes (the
# gateway process that asked died in between): then it serves again.
RETIRED_FOR_S = 30.0


class Stopping(AppError):
    """The executor was retired: its container is about to be stopped (gateway: an idle stop)."""

    status = 503


log = logging.getLogger(__name__)


class KernelStartFailed(Exception):
    pass


class Supervisor:
    def __init__(self, config: Config) -> None:
        self._config = config
        # Whom this executor serves; a pooled one learns it when it is claimed.
        self.chat_id = config.chat_id
        self._kernel: KernelProcess | None = None
        # Why there is no kernel, when it was dropped outside a cell; said in the next EndEvent.
        self._missing_reason = "the Python kernel was not running"
        self._claim = threading.Lock()
        # Until when (time.monotonic) the executor takes no new work: see retire.
        self._retired_until = 0.0
        # Set once the claimed cell's code is over (its end may still be on its way to the
        # client): nothing is left for `interrupt` to stop.
        self._cell_over = False
        # Guards replacing the kernel against a concurrent interrupt() signalling a dead one.
        self._kernel_lock = threading.Lock()
        # What the next EndEvent says about a kernel started outside a cell (first start with a
        # saved state, a replacement during a variable request).
        self._pending_info: KernelInfo | None = None
        # The variable list as of the last finished cell; GET /variables answers from it even
        # while a cell runs. Replaced, never mutated, so readers need no lock.
        self._variables: dict[str, VariableInfo] = {}
        self._resetting = False
        self._state_dir: str | None = None

    def start(self) -> None:
        os.makedirs(self._config.workspace, exist_ok=True)
        try:
            os.makedirs(self._config.state_dir, exist_ok=True)
            self._state_dir = self._config.state_dir
        except OSError as e:
            log.error("no state folder (%s): variables will not survive a kernel restart", e)
        try:
            # Only the first kernel warms up: a later one (after a reset or a crash) belongs
            # to a chat already, and its start should be quick.
            kernel = self._start_kernel(warm_imports=self._config.warm_imports)
        except (KernelGone, OSError) as e:
            log.exception("could not start the kernel; the first execute will try again")
            self._missing_reason = f"the Python kernel could not be started ({e})"
            return
        if kernel.restored or kernel.restore_errors:
            self._pending_info = _restored_info(
                kernel,
                "the sandbox was restarted: a new kernel restored the variables as of the last "
                "finished cell; changes made by a cell still running at the time are lost",
            )

    def close(self) -> None:
        with self._kernel_lock:
            if self._kernel is not None:
                self._kernel.close()
                self._kernel = None

    @contextmanager
    def claim(self, busy: str = CELL_BUSY) -> Iterator[None]:
        """Hold the right to use the kernel; Conflict(busy) if a cell is running, Stopping
        once the executor is retired."""
        if not self._claim.acquire(blocking=False):
            raise Conflict(busy)
        if time.monotonic() < self._retired_until:
            self._claim.release()
            raise Stopping(STOPPING)
        self._cell_over = False
        try:
            yield
        finally:
            self._claim.release()

    def retire(self) -> None:
        """Take no new work (cells, variable reads, loads, resets) from now on: the gateway is
        about to stop this container as idle. Conflict when something holds the kernel now
        (the sandbox is in use, not idle). A request that comes after is refused with Stopping
        before it runs anything, so its gateway can send it again to the sandbox started anew,
        rather than lose it with the container."""
        with self.claim():
            self._retired_until = time.monotonic() + RETIRED_FOR_S

    @property
    def workspace(self) -> str:
        return self._config.workspace

    def variables(self) -> VariableList:
        return VariableList(variables=sorted(self._variables.values(), key=lambda v: v.name))

    def health(self) -> Health:
        kernel = self._kernel
        alive = kernel is not None and kernel.alive()
        return Health(
            chat_id=self.chat_id,
            kernel_pid=kernel.pid if kernel is not None and alive else None,
            busy=self._claim.locked(),
            execution_count=kernel.execution_count if kernel is not None else 0,
            restored=kernel.restored if kernel is not None else [],
            restore_errors=kernel.restore_errors if kernel is not None else {},
        )

    def interrupt(self) -> bool:
        with self._kernel_lock:
            kernel = self._kernel
            if not self._claim.locked() or self._cell_over:
                return False
            if kernel is None or not kernel.alive():
                return False
            kernel.interrupt()
            return True

    def execute(self, request: ExecuteRequest) -> Iterator[Event]:
        """Run one cell, yielding its events as they happen and then one EndEvent, all within
        the cell's OutputBudget.

        The caller must hold `claim()` and should drain the iterator even when its client has
        gone, so the cell still ends (or times out) before the next one starts.
        """
        started = time.monotonic()
        timeout_s = request.timeout_s or self._config.exec_timeout_s
        try:
            kernel = self._ensure_kernel()
        except KernelStartFailed as e:
            yield ErrorEvent(ename="KernelStartFailed", evalue=str(e))
            yield EndEvent(
                status="crashed",
                execution_count=0,
                duration_ms=_ms_since(started),
                kernel=KernelInfo(state="lost", reason=str(e)),
            )
            return
        kernel_info, self._pending_info = self._pending_info or KernelInfo(), None

        before = workspace.snapshot(self._config.workspace)
        kernel.execution_count += 1
        cell = CellRun(kernel, timeout_s, self._config.output_limit)
        budget = OutputBudget()
        try:
            for event in cell.run(request.code, request.env, started):
                # Past the budget the kernel is still read (its output dropped) until the cell ends.
                if (admitted := budget.admit(event)) is not None:
                    yield admitted
        finally:
            self._cell_over = True
        if cell.lost_reason is not None:
            if self._resetting:
                kernel_info = KernelInfo(restarted=True, state="lost", reason=cell.lost_reason)
            else:
                try:
                    kernel_info, _ = self._replace_kernel(cell.lost_reason, during_cell=True)
                except (KernelGone, OSError) as e:
                    kernel_info = KernelInfo(
                        state="lost", reason=self._start_failed(cell.lost_reason, e)
                    )
        saved: pipe.CheckpointReport = cell.checkpoint or {}
        self._update_variables(saved)
        for stream in cell.truncated_without_marker():
            marker = StreamEvent(type=stream, text=CUT_MARKER)
            if (admitted := budget.admit(marker)) is not None:
                yield admitted
        after = workspace.snapshot(self._config.workspace)
        yield budget.fit(
            EndEvent(
                status=cell.status,
                execution_count=kernel.execution_count,
                duration_ms=_ms_since(started),
                files=workspace.changes(before, after),
                stdout_truncated=cell.truncated["stdout"],
                stderr_truncated=cell.truncated["stderr"],
                output_truncated=cell.output_truncated,
                kernel=kernel_info,
                variables_changed=saved.get("variables_changed", []),
                variables_deleted=saved.get("variables_deleted", []),
                not_persisted=saved.get("not_persisted", {}),
                checkpoint_ms=saved.get("checkpoint_ms", 0),
            )
        )

    def request(
        self, command: Callable[[float], pipe.RequestCommand]
    ) -> Iterator[pipe.AnswerMessage]:
        """Ask the kernel about its variables, with the command `command(started_at)` builds:
        yields the "stream" and "chunk" messages of a streamed answer, then the "reply". The
        caller holds `claim()` and drains the iterator."""
        try:
            kernel = self._ensure_kernel()
        except KernelStartFailed as e:
            raise ServiceUnavailable(str(e)) from e
        started = time.monotonic()
        deadline = started + REQUEST_TIMEOUT_S
        interrupted = False
        sent = command(started)
        try:
            kernel.send(sent)
            while True:
                if time.monotonic() >= deadline:
                    if interrupted:
                        kernel.close()
                        raise KernelGone(f"a {sent['op']} request did not stop when interrupted")
                    kernel.interrupt()
                    interrupted, deadline = True, time.monotonic() + INTERRUPT_GRACE_S
                for message in kernel.read(deadline - time.monotonic()):
                    if message["type"] == "stream" or message["type"] == "chunk":
                        deadline = time.monotonic() + REQUEST_TIMEOUT_S
                        yield message
                    elif message["type"] == "reply":
                        if "saved" in message:  # load_csv bound and checkpointed a variable
                            self._update_variables(message["saved"])
                        yield message
                        return
        except KernelGone as e:
            if not self._resetting:
                self._lose_kernel(str(e))
            raise ServiceUnavailable(f"{e}; the kernel was restarted") from e

    def reset(self) -> None:
        """Kill the kernel (and any cell it runs), delete all variables and files, start fresh."""
        with self._kernel_lock:
            self._resetting = True
            if self._kernel is not None:
                self._kernel.kill(_SESSION_RESET)
        try:
            if not self._claim.acquire(timeout=RESET_WAIT_S):
                raise ServiceUnavailable("the running cell did not stop; try the reset again")
            try:
                with self._kernel_lock:
                    old, self._kernel = self._kernel, None
                if old is not None:
                    old.close()
                self._variables, self._pending_info = {}, None
                try:
                    for folder in (self._state_dir, self._config.workspace):
                        if folder is not None:
                            workspace.clear(folder)
                except OSError as e:
                    raise AppError(f"the reset could not delete everything: {e}") from e
                finally:
                    self._missing_reason = "the Python kernel was not running"
                    try:
                        self._start_kernel()
                    except (KernelGone, OSError) as e:
                        self._start_failed("the session was reset", e)
            finally:
                self._claim.release()
        finally:
            self._resetting = False

    def abandon(self, reason: str) -> None:
        """Drop a kernel left in an unknown state by an executor failure; the next cell gets a
        fresh one."""
        log.error("dropping the kernel: %s", reason)
        with self._kernel_lock:
            old, self._kernel = self._kernel, None
        self._missing_reason = reason
        if old is not None:
            old.close()

    def _ensure_kernel(self) -> KernelProcess:
        """The live kernel, or a new one (restored) whose news goes into the next EndEvent."""
        kernel = self._kernel
        if kernel is not None and kernel.alive():
            return kernel
        reason = self._missing_reason if kernel is None else f"{kernel.wait_exit()} while idle"
        try:
            self._pending_info, kernel = self._replace_kernel(reason, during_cell=False)
        except (KernelGone, OSError) as e:
            raise KernelStartFailed(self._start_failed(reason, e)) from e
        return kernel

    def _lose_kernel(self, reason: str) -> None:
        try:
            self._pending_info, _ = self._replace_kernel(reason, during_cell=False)
        except (KernelGone, OSError) as e:
            self._start_failed(reason, e)

    def _start_failed(self, reason: str, error: Exception) -> str:
        log.error("could not start a new kernel: %s", error)
        self._missing_reason = f"{reason}, and a new kernel could not be started ({error})"
        return self._missing_reason

    def _start_kernel(self, warm_imports: bool = False) -> KernelProcess:
        """Spawn a kernel that restores the saved state. A saved name whose restore kills or
        hangs the kernel (a frame bigger than memory allows now) is skipped on the next try, so
        one bad name cannot keep the chat from ever getting a kernel again."""
        skipped: dict[str, str] = {}
        while True:
            try:
                kernel = KernelProcess.spawn(
                    self._config.workspace,
                    self._config.output_limit,
                    self._state_dir,
                    (*skipped,),
                    warm_imports,
                )
                break
            except RestoreFailed as e:
                if e.name in skipped or len(skipped) >= MAX_RESTORE_SKIPS:
                    raise
                log.error("skipping '%s' on the next start: %s", e.name, e)
                skipped[e.name] = f"restoring it stopped the kernel ({e.reason}), so it was skipped"
        kernel.restore_errors.update(skipped)
        log.info("kernel started (pid %d), %d names restored", kernel.pid, len(kernel.restored))
        with self._kernel_lock:
            self._kernel = kernel
        self._variables = {}
        self._update_variables({"variables": kernel.variables})
        return kernel

    def _update_variables(self, saved: pipe.CheckpointReport) -> None:
        variables, unlisted = saved.get("variables", []), saved.get("variables_unlisted", [])
        if variables or unlisted:
            listed = dict(self._variables)
            listed.update((v["name"], VariableInfo(**v)) for v in variables)
            for name in unlisted:
                listed.pop(name, None)
            self._variables = listed

    def _replace_kernel(self, reason: str, during_cell: bool) -> tuple[KernelInfo, KernelProcess]:
        """Kill what is left of the kernel and start a fresh one.

        The one place that decides what happened to the variables: restored from the last
        checkpoint, or lost when there is no state folder.
        """
        log.warning("replacing the kernel: %s", reason)
        with self._kernel_lock:
            old, self._kernel = self._kernel, None
        if old is not None:
            old.close()
        kernel = self._start_kernel()
        if not kernel.checkpoints:
            info = KernelInfo(
                restarted=True,
                state="lost",
                reason=f"{reason}; the kernel was restarted and its variables were lost",
            )
            return info, kernel
        text = (
            f"{reason}; the kernel was restarted and the variables as of the last finished cell"
            " were restored"
        )
        if during_cell:
            text += ": changes made by the cell that was running are lost"
        return _restored_info(kernel, text), kernel


def _restored_info(kernel: KernelProcess, reason: str) -> KernelInfo:
    if kernel.restore_errors:
        reason += f" ({len(kernel.restore_errors)} could not be restored: see restore_errors)"
    return KernelInfo(
        restarted=True,
        state="restored",
        reason=reason,
        restored=kernel.restored,
        restore_errors=kernel.restore_errors,
    )


def _ms_since(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 3)
