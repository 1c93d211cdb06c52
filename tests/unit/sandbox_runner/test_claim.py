"""A pooled executor serves no chat until the gateway claims it for one, once: it can never be
handed from one chat to another (gateway/sandbox/pool.py)."""

from shared.protocol import CHAT_HEADER
from tests.unit.sandbox_runner.conftest import CHAT_ID, POOL_ID, Executor

OTHER_CHAT = "chat_20260101_000001_other"


def test_a_pooled_kernel_has_the_data_stack_imported_already(
    pooled_executor: Executor, executor: Executor
) -> None:
    warm = "import sys\nsorted(m for m in ('pandas', 'numpy', 'matplotlib') if m in sys.modules)"
    assert pooled_executor.value(warm) == "['matplotlib', 'numpy', 'pandas']"
    # A chat's own kernel imports nothing it was not asked to.
    assert executor.value(warm) == "[]"


def test_a_pooled_executor_serves_the_chat_it_is_claimed_for_and_no_other(
    pooled_executor: Executor,
) -> None:
    client = pooled_executor.client
    assert pooled_executor.health()["chat_id"] == POOL_ID

    claimed = client.post("/claim", json={"chat_id": CHAT_ID})
    assert claimed.status_code == 200, claimed.text
    assert claimed.json() == {"chat_id": CHAT_ID}
    assert claimed.headers[CHAT_HEADER] == CHAT_ID

    again = client.post("/claim", json={"chat_id": OTHER_CHAT})
    assert again.status_code == 409
    assert again.json() == {"detail": "this sandbox already serves a chat"}
    assert pooled_executor.health()["chat_id"] == CHAT_ID
    assert pooled_executor.value("1 + 1") == "2"
    assert client.get("/health").headers[CHAT_HEADER] == CHAT_ID


def test_a_claim_must_name_a_chat(pooled_executor: Executor) -> None:
    for body in ({"chat_id": "pool-ffffffffffff"}, {"chat_id": "../x"}, {"chat": CHAT_ID}):
        response = pooled_executor.client.post("/claim", json=body)
        assert response.status_code == 422, body
    assert pooled_executor.health()["chat_id"] == POOL_ID


def test_a_chats_own_executor_cannot_be_claimed(executor: Executor) -> None:
    response = executor.client.post("/claim", json={"chat_id": OTHER_CHAT})
    assert response.status_code == 409
    assert executor.health()["chat_id"] == CHAT_ID
