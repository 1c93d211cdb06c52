"""Queries whose gateway process died: found, ended as interrupted and their cells stopped, by
whichever process looks first (each at start-up, then every heartbeat).

Every process runs `keep_alive` for its whole life: it renews the process's heartbeat and looks for
orphans, so a query cut off by a killed process is ended by a survivor within a heartbeat, and by
the process's successor at its start, while queries of live processes are never touched.
"""

import asyncio
import contextlib
import logging

from gateway.chats.store import ChatStore
from gateway.runs.events import RunEvents
from gateway.runs.owners import Owners
from gateway.sandbox.executor import ExecutorUnavailable
from gateway.sandbox.manager import SandboxManager
from shared.errors import ErrorCode

log = logging.getLogger(__name__)


ORPHANED = (
    "the gateway process running this run ended before it did; what it did so far is in the "
    "chat's history, and the chat is free"
)


async def end_orphans(
    chats: ChatStore, owners: Owners, sandboxes: SandboxManager, events: RunEvents
) -> list[str]:
    """End the queries of dead processes, and their event streams; returns their chats."""
    ended = await chats.recover_orphans(owners.alive)
    for chat_id, run_id in ended:
        log.warning("a query in %s was cut off when its gateway process ended", chat_id)
        if run_id:
            # Whoever follows the run hears how it ended (each run is recovered once).
            error = {"status": 503, "detail": ORPHANED, "code": ErrorCode.RUN_INTERRUPTED}
            await events.append(chat_id, run_id, "error", error)
        # Its cell may still run in the sandbox; stop it so the chat is usable now.
        with contextlib.suppress(ExecutorUnavailable):
            await sandboxes.interrupt(chat_id)
    return [chat_id for chat_id, _ in ended]


async def keep_alive(
    chats: ChatStore, owners: Owners, sandboxes: SandboxManager, events: RunEvents
) -> None:
    """Renew this process's heartbeat and end orphaned queries, every third of the TTL, until
    cancelled. A failing round (Redis restarting, Docker slow) is logged and tried again."""
    interval_s = owners.ttl_s / 3
    while True:
        await asyncio.sleep(interval_s)
        try:
            await owners.beat()
            await end_orphans(chats, owners, sandboxes, events)
        except Exception:
            log.exception("the heartbeat round failed")
