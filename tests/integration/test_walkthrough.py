"""The brief's curl walkthrough, with a github_session cookie from the real sign-in flow sent as
a literal Cookie header, the way its curl lines send it."""

from tests.fake_github import FakeGitHub
from tests.gateway_process import GatewayProcess
from tests.sign_in import sign_in, with_cookie


def test_brief_walkthrough_with_a_cookie_from_github_sign_in(
    github_gateway: GatewayProcess, github: FakeGitHub
) -> None:
    _, signed_in = sign_in(github_gateway.base_url, github, "alice")

    with with_cookie(github_gateway.base_url, signed_in["github_session"]) as curl:
        created = curl.post("/create_chat")
        assert created.status_code == 201, created.text
        chat_id = created.json()["chat_id"]
        assert created.json()["user_id"] == "gh:1001"
        assert chat_id in [c["chat_id"] for c in curl.post("/chats").json()]
        assert chat_id in [c["chat_id"] for c in curl.get("/chats").json()]

        code = "rows = [1, 2, 3]\nopen('data.csv', 'w').write('a,b\\n1,2\\n')\nsum(rows)"
        reply = curl.post(f"/query/{chat_id}", json={"code": code})
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"] == "6"

        assert [f["path"] for f in curl.get(f"/files/{chat_id}").json()] == ["data.csv"]
        download = curl.get(f"/file/{chat_id}/data.csv")
        assert download.status_code == 200
        assert download.text == "a,b\n1,2\n"
        assert curl.post(f"/restart/{chat_id}").status_code == 200
        assert curl.get(f"/files/{chat_id}").json() == []

        assert curl.delete(f"/chat/{chat_id}").status_code == 200
        assert curl.get(f"/files/{chat_id}").status_code == 404
        assert curl.delete("/chats/all").status_code == 200
        assert curl.get("/chats").json() == []
