"""The history's typed records: what the store keeps and serves, what earlier versions left in
Redis, and what this version cannot read (left out with a log line, never an error)."""

import json
import logging
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway import keys
from gateway.chats.journal import (
    CellResult,
    CodeRecord,
    QueryRecord,
    RestartRecord,
    StepRecord,
    UploadRecord,
)
from gateway.chats.store import Chat, ChatStore
from shared.protocol import DisplayEvent, ErrorEvent

# As the gateway wrote them before the records were typed (journal_entry, journal_form), and
# as the first versions did, whose cell results had fewer fields.
CREATED = "2026-11-20T10:00:00+00:00"
EARLIER_VERSIONS: list[dict[str, Any]] = [
    {"id": "u1", "role": "user", "kind": "upload", "created_at": CREATED, "status": "done",
     "file": "rentals.csv", "variable": "rentals", "shape": [3, 2]},
    {"id": "c1", "role": "user", "kind": "code", "created_at": CREATED, "status": "done",
     "code": "1 + 1", "result": {"chat_id": "chat_x", "message_id": "c1", "status": "ok",
                                 "execution_count": 1, "stdout": "", "stderr": "",
                                 "stdout_truncated": False, "stderr_truncated": False,
                                 "result": "2", "outputs": [], "error": None, "files": [],
                                 "kernel": {"restarted": False, "state": "kept", "reason": None},
                                 "duration_ms": 3.5}},
    {"id": "c2", "role": "user", "kind": "code", "created_at": CREATED, "status": "failed",
     "code": "x", "error": "the sandbox could not be reached"},
    {"id": "q1", "role": "user", "kind": "query", "created_at": CREATED, "status": "done",
     "query": "plot it", "steps": [{"code": "plot()", "status": "ok", "outputs": [
         {"type": "display", "data": {"text/plain": "<Figure>"}, "filename": "plot_1.png"}]}],
     "answer": "Here it is.", "answer_status": "answered", "usage": {"total_tokens": 9}},
    {"id": "q2", "role": "user", "kind": "query", "created_at": CREATED, "status": "interrupted",
     "query": "and now?", "steps": [], "error": "the client went away"},
    {"id": "r1", "role": "system", "kind": "restart", "created_at": CREATED, "status": "done"},
]  # fmt: skip


@pytest.fixture
async def store(redis: Redis) -> ChatStore:
    return ChatStore(redis)


@pytest.fixture
async def chat(store: ChatStore) -> Chat:
    return await store.create("user-1")


async def test_records_are_stored_and_served_as_they_were_written(
    store: ChatStore, chat: Chat
) -> None:
    figure = DisplayEvent(data={"text/plain": "<Figure>"}, filename="plot_1.png")
    step = StepRecord(code="plot()", outputs=[figure], error=ErrorEvent(ename="E", evalue="v"))
    written = [
        UploadRecord(file="rentals.csv", variable="rentals", shape=[3, 2]),
        CodeRecord(code="1 + 1", result=CellResult(result="2", execution_count=1)),
        QueryRecord(query="plot it", steps=[step], answer="Done.", answer_status="answered"),
        RestartRecord(),
    ]
    for record in written:
        await store.append_message(chat.chat_id, record)

    assert await store.messages(chat.chat_id) == written


async def test_records_of_earlier_versions_load_with_defaults_for_what_they_lack(
    store: ChatStore, chat: Chat, redis: Redis
) -> None:
    await redis.rpush(keys.chat_messages(chat.chat_id), *map(json.dumps, EARLIER_VERSIONS))

    upload, code, failed, query, interrupted, restart = await store.messages(chat.chat_id)

    assert isinstance(upload, UploadRecord) and upload.shape == [3, 2]
    # Before any file could be uploaded, an upload was a CSV loaded as `variable`.
    [dataset] = upload.loaded()
    assert (dataset.variable, dataset.shape, dataset.reader) == ("rentals", [3, 2], "read_csv")
    assert (upload.format, upload.datasets, upload.load_error) == (None, [], None)
    assert isinstance(code, CodeRecord) and code.result is not None
    assert code.result.result == "2"
    # Fields the first versions did not write get their defaults.
    assert code.result.not_persisted == {} and code.result.checkpoint_ms == 0.0
    assert code.error is None
    assert isinstance(failed, CodeRecord)
    assert (failed.status, failed.error, failed.result) == (
        "failed",
        "the sandbox could not be reached",
        None,
    )
    assert isinstance(query, QueryRecord) and query.answer == "Here it is."
    assert query.steps[0].code == "plot()" and query.steps[0].outputs[0].filename == "plot_1.png"
    assert isinstance(interrupted, QueryRecord)
    assert (interrupted.status, interrupted.answer, interrupted.answer_status) == (
        "interrupted",
        None,
        None,
    )
    assert isinstance(restart, RestartRecord) and restart.role == "system"
    # Served in the shape the page reads: every field it read before, under the same name.
    for before, record in zip(EARLIER_VERSIONS, await store.messages(chat.chat_id), strict=True):
        served = record.model_dump(mode="json")
        assert {k: served[k] for k in before if k not in ("result", "steps")} == {
            k: v for k, v in before.items() if k not in ("result", "steps")
        }


async def test_records_this_version_cannot_read_are_left_out_and_logged(
    store: ChatStore, chat: Chat, redis: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    key = keys.chat_messages(chat.chat_id)
    await redis.rpush(
        key,
        json.dumps({"id": "a", "kind": "chart", "status": "done"}),  # a later version's kind
        "{not json",
        json.dumps({"id": "b", "kind": "code", "status": "pondering"}),
        json.dumps({"kind": "restart"}),
    )

    with caplog.at_level(logging.WARNING, logger="gateway.chats.journal"):
        history = await store.messages(chat.chat_id)

    assert [type(record) for record in history] == [RestartRecord]
    left_out = [r.getMessage() for r in caplog.records if "left out" in r.getMessage()]
    assert [f"message {i} " in line for i, line in enumerate(left_out)] == [True] * 3
    assert await redis.llen(key) == 4  # kept in Redis for a version that reads them
