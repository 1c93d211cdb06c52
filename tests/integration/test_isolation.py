"""Per-user isolation: another user's chat answers exactly like a chat that does not exist, on
every chat route, and nothing of it changes."""

from collections.abc import Iterator

import httpx
import pytest

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in

# Every route that takes a chat id: (method, path after the id's placeholder, request kwargs).
CHAT_ROUTES = [
    ("POST", "/query/{chat}", {"json": {"code": "secret = 0\nopen('notes.txt', 'w').write('')"}}),
    ("GET", "/files/{chat}", {}),
    ("GET", "/file/{chat}/notes.txt", {}),
    ("GET", "/variables/{chat}", {}),
    ("GET", "/variable/{chat}/secret", {}),
    ("GET", "/variable/{chat}/secret?format=csv", {}),
    ("POST", "/upload_csv/{chat}", {"files": {"file": ("secret.csv", b"a,b\n1,2\n")}}),
    ("POST", "/upload_csv/{chat}", {"json": {"file_path": "/etc/passwd"}}),
    ("POST", "/upload/{chat}", {"files": {"file": ("secret.pdf", b"%PDF-1.7\n")}}),
    ("POST", "/upload/{chat}", {"json": {"file_path": "/etc/passwd"}}),
    ("POST", "/restart/{chat}", {}),
    ("GET", "/chat/{chat}/messages", {}),
    ("DELETE", "/chat/{chat}", {}),
]


@pytest.fixture
def alice_chat(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> Iterator[tuple[httpx.Client, str]]:
    """Alice, signed in, with a chat holding a variable, a file and one message."""
    alice, _ = sign_in(github_gateway.base_url, github, "alice")
    chat_id = alice.post("/create_chat").json()["chat_id"]
    reply = alice.post(
        f"/query/{chat_id}", json={"code": "secret = 42\nopen('notes.txt', 'w').write('mine')"}
    )
    assert reply.json()["status"] == "ok", reply.text
    yield alice, chat_id
    alice.delete(f"/chat/{chat_id}")


@pytest.mark.parametrize(("method", "path", "kwargs"), CHAT_ROUTES)
def test_another_users_chat_is_404_like_a_missing_one(
    github_gateway: GatewayProcess,
    github: FakeGitHub,
    alice_chat: tuple[httpx.Client, str],
    method: str,
    path: str,
    kwargs: dict,
) -> None:
    alice, chat_id = alice_chat
    bob, _ = sign_in(github_gateway.base_url, github, "bob")
    missing = "chat_20200101_000000_zzzz"

    foreign = bob.request(method, path.format(chat=chat_id), **kwargs)
    absent = bob.request(method, path.format(chat=missing), **kwargs)

    assert foreign.status_code == absent.status_code == 404
    assert foreign.json() == {"detail": f"chat '{chat_id}' not found", "code": "chat_not_found"}
    assert absent.json() == {"detail": f"chat '{missing}' not found", "code": "chat_not_found"}
    # Alice's chat is as she left it.
    assert alice.get(f"/file/{chat_id}/notes.txt").text == "mine"
    assert alice.get(f"/variable/{chat_id}/secret").json()["value"] == 42
    assert [f["path"] for f in alice.get(f"/files/{chat_id}").json()] == ["notes.txt"]
    assert len(alice.get(f"/chat/{chat_id}/messages").json()) == 1


def test_delete_all_deletes_only_the_callers_chats(
    github_gateway: GatewayProcess, github: FakeGitHub, alice_chat: tuple[httpx.Client, str]
) -> None:
    alice, chat_id = alice_chat
    bob, _ = sign_in(github_gateway.base_url, github, "bob")
    bobs = bob.post("/create_chat").json()["chat_id"]

    listed = bob.get("/chats").json()
    assert {c["user_id"] for c in listed} == {"gh:1002"}
    assert chat_id not in [c["chat_id"] for c in listed]
    deleted = bob.delete("/chats/all").json()["deleted"]

    assert bobs in deleted
    assert chat_id not in deleted
    assert chat_id in [c["chat_id"] for c in alice.get("/chats").json()]
    assert alice.get(f"/variable/{chat_id}/secret").json()["value"] == 42
