"""Variables persist per chat: listed, read, checkpointed, restored after kills and restarts."""

import subprocess
import sys
from pathlib import Path

import docker

from tests.gateway_process import ROOT, GatewayProcess

SETUP = """
import pandas as pd
lst = [1]
d = {}
df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"], "c": [0.5, 1.5, 2.5]})
"""
MUTATE = """
lst.append(2)
d["k"] = "v"
df.drop(columns=["c"], inplace=True)
"""


def kill_sandbox(docker_client: docker.DockerClient, chat_id: str) -> None:
    docker_client.containers.get(f"ads-{chat_id}").kill()


def test_variables_are_listed_with_type_shape_and_persistence(
    gateway: GatewayProcess, chat_id: str
) -> None:
    assert gateway.client.get(f"/variables/{chat_id}").json() == []
    gateway.run(chat_id, SETUP + "gen = (i for i in range(3))")
    listed = {v["name"]: v for v in gateway.client.get(f"/variables/{chat_id}").json()}
    assert set(listed) >= {"lst", "d", "df", "gen"}
    assert "pd" not in listed  # modules are not variables
    assert listed["df"]["type"].endswith("DataFrame")
    assert listed["df"]["shape"] == [3, 3]
    assert listed["df"]["persisted"] is True
    assert listed["df"]["size_bytes"] > 0
    assert listed["gen"]["persisted"] is False
    assert listed["gen"]["not_persisted_reason"]


def test_variable_values_as_json_pages_and_csv(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, SETUP + "n = 42\nbig = pd.DataFrame({'i': range(250)})")
    number = gateway.client.get(f"/variable/{chat_id}/n").json()
    assert (number["kind"], number["value"]) == ("json", 42)
    assert gateway.client.get(f"/variable/{chat_id}/d").json()["value"] == {}

    page = gateway.client.get(f"/variable/{chat_id}/big", params={"offset": 200, "limit": 30})
    body = page.json()
    assert body["kind"] == "dataframe"
    assert body["total_rows"] == 250
    assert [row[-1] for row in body["rows"]] == list(range(200, 230))

    csv = gateway.client.get(f"/variable/{chat_id}/df", params={"format": "csv"})
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert "x" in csv.text and "a" in csv.text.splitlines()[0]

    missing = gateway.client.get(f"/variable/{chat_id}/nope")
    assert missing.status_code == 404
    assert "nope" in missing.json()["detail"]
    assert gateway.client.get(f"/variable/{chat_id}/not-a-name").status_code == 422


def test_in_place_mutations_survive_a_container_kill(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    gateway.run(chat_id, SETUP)
    mutated = gateway.run(chat_id, MUTATE)
    assert {"lst", "d", "df"} <= set(mutated["variables_changed"])

    kill_sandbox(docker_client, chat_id)

    reply = gateway.run(chat_id, "(lst, d, list(df.columns))")
    assert reply["status"] == "ok", reply
    assert reply["result"] == "([1, 2], {'k': 'v'}, ['a', 'b'])"
    assert reply["kernel"]["restarted"] is True
    assert reply["kernel"]["state"] == "restored"
    assert {"lst", "d", "df"} <= set(reply["kernel"]["restored"])


def test_unpicklable_variable_is_reported_and_the_others_survive(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    reply = gateway.run(chat_id, "import threading\nkeep = 'kept'\nlock = threading.Lock()")
    assert "lock" in reply["not_persisted"]
    kill_sandbox(docker_client, chat_id)
    after = gateway.run(chat_id, "keep, 'lock' in globals()")
    assert after["result"] == "('kept', False)"


def test_million_row_frame_survives_kill_and_gateway_restart(
    gateway_env: dict[str, str], tmp_path: Path, docker_client: docker.DockerClient
) -> None:
    make = (
        "import numpy as np, pandas as pd\n"
        "n = 1_000_000\n"
        "big = pd.DataFrame({'i': np.arange(n), 'f': np.random.rand(n), "
        "'s': pd.Series(np.arange(n)).astype(str), 'b': np.arange(n) % 2 == 0})\n"
        "int(big['i'].sum())"
    )
    with GatewayProcess(gateway_env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        expected = gateway.run(chat_id, make)["result"]
        check = "len(big), int(big['i'].sum()), big['s'].iloc[-1]"

        kill_sandbox(docker_client, chat_id)
        assert gateway.run(chat_id, check)["result"] == f"(1000000, {expected}, '999999')"

        gateway.restart()
        kill_sandbox(docker_client, chat_id)
        assert gateway.run(chat_id, check)["result"] == f"(1000000, {expected}, '999999')"
        gateway.client.delete(f"/chat/{chat_id}")


def test_restart_clears_variables_and_files_but_keeps_the_chat(
    gateway: GatewayProcess, chat_id: str
) -> None:
    gateway.run(chat_id, "x = 1\nopen('notes.txt', 'w').write('hi')")
    response = gateway.client.post(f"/restart/{chat_id}")
    assert response.status_code == 200, response.text

    assert gateway.client.get(f"/variables/{chat_id}").json() == []
    assert gateway.client.get(f"/files/{chat_id}").json() == []
    reply = gateway.run(chat_id, "'x' in globals()")
    assert reply["result"] == "False"
    kinds = [m["kind"] for m in gateway.client.get(f"/chat/{chat_id}/messages").json()]
    assert kinds == ["code", "restart", "code"]


def test_operator_restart_keeps_state(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    gateway.run(chat_id, "kept = 'still here'\nopen('f.txt', 'w').write('x')")
    started = docker_client.containers.get(f"ads-{chat_id}").attrs["State"]["StartedAt"]
    command = [sys.executable, "-m", "gateway.admin", "restart-sandbox", chat_id]
    done = subprocess.run(command, cwd=ROOT, env=gateway.env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert docker_client.containers.get(f"ads-{chat_id}").attrs["State"]["StartedAt"] != started

    assert gateway.run(chat_id, "kept")["result"] == "still here"
    assert [f["path"] for f in gateway.client.get(f"/files/{chat_id}").json()] == ["f.txt"]
