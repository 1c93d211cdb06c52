"""What goes wrong between the gateway and an executor is told apart: unreachable (and whether
the request may have run), answered with an error (typed, with its detail), and timeouts.

The executor here is a scripted fake, a real HTTP server on the chat's socket.
"""

import json

import pytest

from gateway.sandbox.executor import ExecutorClient, ExecutorUnavailable
from shared.errors import (
    AppError,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    SandboxError,
    SandboxFailed,
    SandboxTimeout,
    Unprocessable,
)
from shared.protocol import ExecuteRequest, LoadCsvRequest
from tests.unit.gateway.sandbox.scripted_executor import ScriptedExecutor


async def run_cell(client: ExecutorClient, read_timeout_s: float = 30) -> list[object]:
    return [e async for e in client.execute(ExecuteRequest(code="1"), read_timeout_s)]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidInput),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (422, Unprocessable),
    ],
)
async def test_the_executors_4xx_answers_keep_their_meaning_and_detail(
    executor: ScriptedExecutor, status: int, error: type[AppError]
) -> None:
    executor.status, executor.body = status, json.dumps({"detail": "what went wrong"}).encode()
    client = executor.client()
    with pytest.raises(error) as answered:
        await client.variable("df", 0, 10)
    assert answered.value.detail == "what went wrong"
    with pytest.raises(error) as answered:
        await run_cell(client)
    assert answered.value.detail == "what went wrong"
    await client.aclose()


async def test_a_busy_executor_is_a_busy_chat(executor: ScriptedExecutor) -> None:
    executor.status, executor.body = 409, json.dumps({"detail": "a cell is running"}).encode()
    client = executor.client()
    with pytest.raises(Conflict) as answered:
        await run_cell(client)
    assert answered.value.code == "chat_busy"
    await client.aclose()


async def test_a_5xx_answer_is_reported_as_the_sandbox_failing_with_its_detail(
    executor: ScriptedExecutor,
) -> None:
    executor.status, executor.body = 500, b"Traceback: the loader broke"
    client = executor.client()
    with pytest.raises(SandboxFailed) as raised:
        await client.load_csv(LoadCsvRequest(path="a.csv", variable="a"))
    assert raised.value.status == 502
    assert (
        raised.value.detail == "the sandbox failed at /load_csv (500): Traceback: the loader broke"
    )

    executor.status, executor.body = 503, json.dumps({"detail": "the request timed out"}).encode()
    with pytest.raises(SandboxFailed, match=r"\(503\): the request timed out$"):
        await client.variables()
    await client.aclose()


async def test_an_answer_outside_the_protocol_is_the_sandbox_failing(
    executor: ScriptedExecutor,
) -> None:
    executor.body = b'{"variables": "not a list"}'
    client = executor.client()
    with pytest.raises(SandboxFailed, match="answer to /variables is outside the protocol"):
        await client.variables()
    await client.aclose()


async def test_a_cell_event_outside_the_protocol_is_the_sandbox_failing(
    executor: ScriptedExecutor,
) -> None:
    executor.event = b'{"type": "confetti"}\n'
    executor.behaviour = "stream_then_drop"
    client = executor.client()
    with pytest.raises(SandboxFailed, match="cell event outside the protocol"):
        await run_cell(client)
    await client.aclose()


async def test_no_executor_is_unreachable_and_nothing_was_accepted(
    executor: ScriptedExecutor,
) -> None:
    executor.shutdown()
    executor.server_close()  # removes the socket: the sandbox is stopped
    client = executor.client()
    for request in (client.variables(), run_cell(client)):
        with pytest.raises(ExecutorUnavailable) as raised:
            await request
        assert (raised.value.accepted, raised.value.tampered) == (False, False)
        assert isinstance(raised.value, SandboxError)  # 503 JSON, should it ever reach a route
    assert await client.interrupt() is False
    await client.aclose()


async def test_a_request_lost_after_it_was_sent_may_have_run(executor: ScriptedExecutor) -> None:
    executor.behaviour = "drop"
    client = executor.client()
    with pytest.raises(ExecutorUnavailable) as raised:
        await client.reset()
    assert raised.value.accepted is True
    await client.aclose()


async def test_a_cell_is_accepted_once_the_executor_answered_200(
    executor: ScriptedExecutor,
) -> None:
    client = executor.client()
    executor.behaviour = "drop"  # the executor sends its 200 before it runs anything
    with pytest.raises(ExecutorUnavailable) as before:
        await run_cell(client)
    executor.behaviour = "stream_then_drop"
    with pytest.raises(ExecutorUnavailable) as during:
        await run_cell(client)
    assert (before.value.accepted, during.value.accepted) == (False, True)
    await client.aclose()


@pytest.mark.parametrize("behaviour", ["hang", "stream_then_hang"])
async def test_an_executor_that_goes_silent_is_a_timeout(
    executor: ScriptedExecutor, behaviour: str
) -> None:
    executor.behaviour = behaviour
    client = executor.client()
    with pytest.raises(
        SandboxTimeout, match=r"did not answer POST /execute within 0\.2 s"
    ) as raised:
        await run_cell(client, read_timeout_s=0.2)
    assert raised.value.status == 504
    assert executor.requests == ["POST /execute"]
    await client.aclose()


async def test_interrupt_never_raises(executor: ScriptedExecutor) -> None:
    executor.status, executor.body = 500, b"broken"
    client = executor.client()
    assert await client.interrupt() is False
    await client.aclose()
