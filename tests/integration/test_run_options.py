"""What a request may ask beside its code: a chat's and a run's environment variables, a run's
time limit, and nothing else (a field the API does not know is a 422 naming it)."""

import json
import time
from typing import Any

import docker
import pytest

from tests.gateway_process import GatewayProcess

# Prints the variables of `names` as a cell sees them (None: not set), as one JSON line.
ENV_OF = "import json, os\nprint(json.dumps({{n: os.environ.get(n) for n in {names!r}}}))"


def env_in_cell(
    gateway: GatewayProcess, chat_id: str, *names: str, **body: Any
) -> dict[str, str | None]:
    response = gateway.client.post(
        f"/query/{chat_id}", json={"code": ENV_OF.format(names=list(names)), **body}
    )
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "ok", reply
    return json.loads(reply["stdout"])


def issue_of(response: Any) -> dict[str, Any]:
    """The one issue of a 422 from request validation."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_request"
    [issue] = body["detail"]
    return issue


# --- unknown fields ---


@pytest.mark.parametrize("field", ["language", "cwd"])
def test_an_unknown_query_field_is_refused_naming_it(
    gateway: GatewayProcess, chat_id: str, field: str
) -> None:
    response = gateway.client.post(f"/query/{chat_id}", json={"code": "1+1", field: "js"})
    issue = issue_of(response)
    assert issue["loc"] == ["body", field]
    assert issue["type"] == "extra_forbidden"
    assert issue["msg"] == (
        f'unknown field "{field}": this API does not support it '
        "(the fields are: query, code, env, timeout_s)"
    )
    # Nothing ran.
    assert gateway.client.get(f"/chat/{chat_id}/messages").json() == []


def test_every_unknown_field_is_named(gateway: GatewayProcess, chat_id: str) -> None:
    response = gateway.client.post(
        f"/query/{chat_id}", json={"code": "1", "language": "js", "kernel": "deno"}
    )
    assert response.status_code == 422
    named = {issue["loc"][-1]: issue["msg"] for issue in response.json()["detail"]}
    assert set(named) == {"language", "kernel"}
    assert named["kernel"].startswith('unknown field "kernel"')


def test_create_chat_refuses_an_unknown_field_and_makes_no_chat(gateway: GatewayProcess) -> None:
    before = len(gateway.client.get("/chats").json())
    issue = issue_of(gateway.client.post("/create_chat", json={"image": "default", "junk": 1}))
    assert issue["loc"] == ["body", "junk"]
    assert issue["msg"] == (
        'unknown field "junk": this API does not support it (the fields are: image, env)'
    )
    assert len(gateway.client.get("/chats").json()) == before


def test_other_bodies_refuse_unknown_fields(gateway: GatewayProcess, chat_id: str) -> None:
    token = issue_of(gateway.client.post("/tokens", json={"name": "ci", "scopes": ["all"]}))
    assert token["msg"].startswith('unknown field "scopes": ')
    assert "(the fields are: name, expires_in_days)" in token["msg"]

    gateway.run(chat_id, "open('a.txt', 'w').write('a')")
    move = issue_of(
        gateway.client.patch(f"/file/{chat_id}/a.txt", json={"path": "b.txt", "force": True})
    )
    assert move["msg"].startswith('unknown field "force": ')
    assert [f["path"] for f in gateway.client.get(f"/files/{chat_id}").json()] == ["a.txt"]

    install = issue_of(
        gateway.client.post(
            f"/chat/{chat_id}/packages", json={"packages": ["six"], "index_url": "http://x"}
        )
    )
    assert install["msg"].startswith('unknown field "index_url": ')

    # The upload routes read their JSON themselves: the same sentence, as the detail.
    for route in ("upload", "upload_csv"):
        response = gateway.client.post(
            f"/{route}/{chat_id}", json={"file_path": "a.csv", "sheet": "x"}
        )
        assert response.status_code == 422, response.text
        assert 'unknown field "sheet": this API does not support it' in response.json()["detail"]


def test_the_briefs_requests_still_work(gateway: GatewayProcess) -> None:
    made = []
    try:
        for body in (None, {}):  # the brief's `curl -X POST /create_chat` sends no body at all
            created = gateway.client.post("/create_chat", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["env"] == {}
            made.append(created.json()["chat_id"])
        listed = gateway.client.post("/chats")
        assert listed.status_code == 200
        assert set(made) <= {chat["chat_id"] for chat in listed.json()}
        assert gateway.client.get("/chats").status_code == 200
        assert gateway.run(made[0], "1 + 1")["result"] == "2"
    finally:
        for chat_id in made:
            gateway.client.delete(f"/chat/{chat_id}")


# --- env ---


def test_a_chats_env_is_kept_shown_and_seen_by_its_code(gateway: GatewayProcess) -> None:
    env = {"API_URL": "https://example.test/v1", "EMPTY": "", "_under": "ünïcode ✓"}
    with gateway.new_chat({"env": env}) as chat_id:
        assert gateway.client.get(f"/chat/{chat_id}").json()["env"] == env
        listed = next(c for c in gateway.client.get("/chats").json() if c["chat_id"] == chat_id)
        assert listed["env"] == env
        assert env_in_cell(gateway, chat_id, *env) == env
        # Every run, not only the first.
        assert env_in_cell(gateway, chat_id, "API_URL") == {"API_URL": env["API_URL"]}


def test_a_runs_env_wins_for_that_run_only(gateway: GatewayProcess) -> None:
    with gateway.new_chat({"env": {"MODE": "chat", "KEEP": "k"}}) as chat_id:
        names = ("MODE", "KEEP", "ONLY_RUN")
        seen = env_in_cell(gateway, chat_id, *names, env={"MODE": "run", "ONLY_RUN": "1"})
        assert seen == {"MODE": "run", "KEEP": "k", "ONLY_RUN": "1"}
        # The next run has the chat's value back, and not the run's own variable.
        assert env_in_cell(gateway, chat_id, *names) == {
            "MODE": "chat",
            "KEEP": "k",
            "ONLY_RUN": None,
        }


def test_a_runs_env_is_gone_in_the_next_run(gateway: GatewayProcess, chat_id: str) -> None:
    assert env_in_cell(gateway, chat_id, "SECRET", env={"SECRET": "s3"}) == {"SECRET": "s3"}
    assert env_in_cell(gateway, chat_id, "SECRET") == {"SECRET": None}
    # Nor is it kept in the history: only the code and what it printed are journaled.
    code = "import os\nlen(os.environ['TOKEN'])"
    reply = gateway.client.post(
        f"/query/{chat_id}", json={"code": code, "env": {"TOKEN": "tok-5e1f"}}
    ).json()
    assert reply["result"] == "8"
    assert "tok-5e1f" not in gateway.client.get(f"/chat/{chat_id}/messages").text


def test_env_values_never_reach_the_containers_config(
    gateway: GatewayProcess, docker_client: docker.DockerClient
) -> None:
    with gateway.new_chat({"env": {"CHAT_SECRET": "chat-sentinel-7f3a"}}) as chat_id:
        env_in_cell(gateway, chat_id, "RUN_SECRET", env={"RUN_SECRET": "run-sentinel-9b1c"})
        config = docker_client.containers.get(f"ads-{chat_id}").attrs["Config"]["Env"]
        names = {entry.partition("=")[0] for entry in config}
        assert not names & {"CHAT_SECRET", "RUN_SECRET"}
        assert "sentinel" not in "".join(config)


BAD_ENVS = [
    ({"1X": "v"}, '"1X" is not an environment variable name'),
    ({"A-B": "v"}, '"A-B" is not an environment variable name'),
    ({"": "v"}, '"" is not an environment variable name'),
    ({"A\n": "v"}, "is not an environment variable name"),
    ({"N" * 129: "v"}, "longer than 128 characters"),
    ({f"V{i}": "" for i in range(101)}, "at most 100 environment variables, not 101"),
    ({"BIG": "x" * (32 * 1024 + 1)}, "the value of BIG has 32769 bytes; at most 32768"),
    ({"WIDE": "é" * (16 * 1024 + 1)}, "the value of WIDE has 32770 bytes"),
    ({f"V{i}": "x" * (32 * 1024) for i in range(8)}, "at most 262144 (256 KiB)"),
    ({"NUL": "a\x00b"}, "the value of NUL holds a NUL character"),
]


@pytest.mark.parametrize(("env", "problem"), BAD_ENVS, ids=lambda v: str(v)[:20])
def test_a_bad_env_is_refused_saying_why(
    gateway: GatewayProcess, chat_id: str, env: dict[str, str], problem: str
) -> None:
    for response in (
        gateway.client.post("/create_chat", json={"env": env}),
        gateway.client.post(f"/query/{chat_id}", json={"code": "1", "env": env}),
        gateway.client.post(f"/query/{chat_id}", json={"query": "hi", "env": env}),
    ):
        issue = issue_of(response)
        assert issue["loc"] == ["body", "env"]
        assert problem in issue["msg"], issue["msg"]
    assert gateway.client.get(f"/chat/{chat_id}/messages").json() == []


def test_env_values_must_be_strings(gateway: GatewayProcess, chat_id: str) -> None:
    for env in ({"N": 1}, {"N": None}, ["N=1"], "N=1"):
        response = gateway.client.post(f"/query/{chat_id}", json={"code": "1", "env": env})
        assert response.status_code == 422, (env, response.text)
        assert response.json()["code"] == "invalid_request"


def test_env_at_its_limits_is_taken(gateway: GatewayProcess, chat_id: str) -> None:
    # 7 values of 32 KiB plus one of the rest: 256 KiB in all, names included.
    env = {f"V{i}": "x" * (32 * 1024) for i in range(7)}
    env["N" * 128] = ""
    env["LAST"] = "y" * (256 * 1024 - sum(len(k) + len(v) for k, v in env.items()) - 4)
    seen = env_in_cell(gateway, chat_id, "V0", "LAST", "N" * 128, env=env)
    assert seen == {"V0": env["V0"], "LAST": env["LAST"], "N" * 128: ""}


def test_the_gateways_own_environment_never_reaches_the_sandbox(
    gateway: GatewayProcess, chat_id: str, gateway_env: dict[str, str]
) -> None:
    reply = gateway.run(chat_id, "import json, os\nprint(json.dumps(dict(os.environ)))")
    seen = json.loads(reply["stdout"])
    # The gateway runs with all of these (LOCAL_AUTH_TOKEN is its secret); only the time limit
    # is handed on, on purpose.
    leaked = set(gateway_env) & set(seen) - {"SANDBOX_EXEC_TIMEOUT_S"}
    assert not leaked
    assert gateway.token not in json.dumps(seen)


# --- timeout_s ---


def test_a_runs_timeout_stops_its_cell_and_the_next_run_has_the_default(
    gateway: GatewayProcess, chat_id: str
) -> None:
    started = time.monotonic()
    response = gateway.client.post(
        f"/query/{chat_id}", json={"code": "import time\ntime.sleep(30)", "timeout_s": 2}
    )
    took = time.monotonic() - started
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "timeout"
    assert "longer than 2 s" in reply["error"]["evalue"]
    assert took < 12, took
    # The session's default (SANDBOX_EXEC_TIMEOUT_S=20) again: 3 s is no longer too long.
    reply = gateway.run(chat_id, "import time\ntime.sleep(3)\n'slept'")
    assert reply["status"] == "ok", reply
    assert reply["result"] == "slept"


def test_a_timeout_past_the_setting_is_refused_naming_it(
    gateway: GatewayProcess, chat_id: str
) -> None:
    issue = issue_of(gateway.client.post(f"/query/{chat_id}", json={"code": "1", "timeout_s": 21}))
    assert issue["loc"] == ["body", "timeout_s"]
    assert "at most 20 seconds" in issue["msg"]
    assert "SANDBOX_EXEC_TIMEOUT_S" in issue["msg"]
    for bad in (0, -1, "soon", None, True):
        body = {"code": "1", "timeout_s": bad}
        if bad is None:
            # null is "not given": the default.
            assert gateway.client.post(f"/query/{chat_id}", json=body).status_code == 200
            continue
        response = gateway.client.post(f"/query/{chat_id}", json=body)
        assert response.status_code == 422, (bad, response.text)
    # The setting itself is allowed.
    reply = gateway.client.post(f"/query/{chat_id}", json={"code": "2", "timeout_s": 20})
    assert reply.status_code == 200 and reply.json()["result"] == "2"
