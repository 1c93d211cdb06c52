"""Runs that outlive their connection: every run is the gateway's, its events kept in Redis with
ids, so a client that lost its stream resumes it (from any gateway process) with Last-Event-ID,
several listeners see the same events, a stop comes from anywhere, and a run whose process died
ends its stream with an error. Two replicas on one Redis, as in test_gateway_processes."""

import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import GatewayProcess, sse_entries

Entry = tuple[str | None, str, dict[str, Any]]
# Prints `n` lines, `pause` seconds apart, then answers 'end'.
_PRINTS = (
    "import time\nfor i in range({n}):\n    print(i, flush=True)\n    time.sleep({pause})\n'end'"
)


@pytest.fixture(scope="module")
def replicas(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[list[GatewayProcess]]:
    """Two single-process gateways; a short heartbeat, so a survivor ends a dead one's runs
    within a second or two."""
    env = {**gateway_env, "GATEWAY_WORKERS": "1", "GATEWAY_HEARTBEAT_TTL_S": "3"}
    processes = [GatewayProcess(env, Path(tmp_path_factory.mktemp(f"runs-{n}"))) for n in "ab"]
    for process in processes:
        process.start()
    yield processes
    for process in processes:
        process.stop()
        process.client.close()


def read_to_the_end(gateway: GatewayProcess, path: str, last_event_id: str | None) -> list[Entry]:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with gateway.client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(sse_entries(response))


def stream_query(gateway: GatewayProcess, chat_id: str, code: str) -> list[Entry]:
    """POST code as a streamed run and read its events to the end."""
    with gateway.client.stream(
        "POST", f"/query/{chat_id}?stream=true", json={"code": code}
    ) as response:
        return list(sse_entries(response))


def events_path(chat_id: str, run_id: str) -> str:
    return f"/chat/{chat_id}/runs/{run_id}/events"


def stdout_of(entries: list[Entry]) -> str:
    return "".join(d["text"] for _, e, d in entries if e == "output" and d["type"] == "stdout")


def active_run(gateway: GatewayProcess, chat_id: str, within_s: float = 30) -> str:
    deadline = time.monotonic() + within_s
    while (run_id := gateway.client.get(f"/chat/{chat_id}").json()["active_run_id"]) is None:
        assert time.monotonic() < deadline, f"no run went on within {within_s} s"
        time.sleep(0.05)
    return run_id


def test_streamed_events_carry_increasing_ids_and_the_run_id(
    gateway: GatewayProcess, chat_id: str
) -> None:
    with gateway.client.stream(
        "POST", f"/query/{chat_id}?stream=true", json={"code": _PRINTS.format(n=3, pause=0.05)}
    ) as response:
        entries = list(sse_entries(response))
    ids = [event_id for event_id, _, _ in entries]
    assert all(ids) and len(set(ids)) == len(ids)
    as_numbers = [tuple(int(part) for part in str(event_id).split("-")) for event_id in ids]
    assert as_numbers == sorted(as_numbers)
    [record] = gateway.client.get(f"/chat/{chat_id}/messages").json()
    assert {data["run_id"] for _, _, data in entries} == {record["id"]}
    assert [event for _, event, _ in entries][-1] == "done"
    assert (entries[-1][2]["result"], stdout_of(entries)) == ("end", "0\n1\n2\n")


def test_a_client_that_reconnects_gets_exactly_the_events_it_missed(
    replicas: list[GatewayProcess],
) -> None:
    a, b = replicas
    with a.new_chat() as chat_id:
        seen: list[Entry] = []
        code = _PRINTS.format(n=6, pause=0.3)
        with a.client.stream("POST", f"/query/{chat_id}?stream=true", json={"code": code}) as r:
            for entry in sse_entries(r):
                seen.append(entry)
                if stdout_of(seen) == "0\n1\n":
                    break  # the connection drops here
        run_id = seen[0][2]["run_id"]
        last_id = seen[-1][0]

        # Resumed through the other process, after the last event received.
        rest = read_to_the_end(b, events_path(chat_id, run_id), last_id)
        assert rest and rest[0][0] != last_id
        assert [event for _, event, _ in rest][-1] == "done"
        # Together: every event once, in order, as a listener from the start got them.
        everything = read_to_the_end(b, events_path(chat_id, run_id), None)
        assert seen + rest == everything
        assert stdout_of(everything) == "0\n1\n2\n3\n4\n5\n"
        assert everything[-1][2]["result"] == "end"


def test_two_listeners_on_one_run_get_the_same_events(replicas: list[GatewayProcess]) -> None:
    a, b = replicas
    with a.new_chat() as chat_id:
        code = _PRINTS.format(n=5, pause=0.2)

        with ThreadPoolExecutor(1) as pool:
            starter = pool.submit(stream_query, a, chat_id, code)
            run_id = active_run(b, chat_id)
            follower = read_to_the_end(b, events_path(chat_id, run_id), None)
            assert starter.result(timeout=60) == follower
        assert stdout_of(follower) == "0\n1\n2\n3\n4\n"


def test_a_run_nobody_listens_to_runs_to_its_end_and_can_be_read_after(
    gateway: GatewayProcess, chat_id: str
) -> None:
    code = "import time\ntime.sleep(1.5)\nprint('done sleeping')\n'late answer'"
    with gateway.client.stream(
        "POST", f"/query/{chat_id}?stream=true", json={"code": code}
    ) as response:
        assert response.status_code == 200
    run_id = gateway.client.get(f"/chat/{chat_id}/messages").json()[0]["id"]
    entries = read_to_the_end(gateway, events_path(chat_id, run_id), None)
    assert entries[-1][1] == "done" and entries[-1][2]["result"] == "late answer"
    assert stdout_of(entries) == "done sleeping\n"
    [record] = gateway.client.get(f"/chat/{chat_id}/messages").json()
    assert (record["status"], record["result"]["result"]) == ("done", "late answer")
    assert gateway.client.get(f"/chat/{chat_id}").json()["active_run_id"] is None


def test_the_active_run_is_told_and_stopped_from_another_process(
    replicas: list[GatewayProcess],
) -> None:
    a, b = replicas
    with a.new_chat() as chat_id:
        a.run(chat_id, "kept = 1")
        code = "import time\nprint('sleeping', flush=True)\ntime.sleep(60)"

        with ThreadPoolExecutor(1) as pool:
            starter = pool.submit(stream_query, a, chat_id, code)
            run_id = active_run(b, chat_id)
            listed = {c["chat_id"]: c["active_run_id"] for c in b.client.get("/chats").json()}
            assert listed[chat_id] == run_id
            b.wait_for_output(chat_id, run_id, "sleeping\n")
            stopped = b.client.delete(f"/chat/{chat_id}/runs/{run_id}")
            assert stopped.json() == {"stopped": True}
            entries = starter.result(timeout=30)

        *_, (_, last, data) = entries
        assert (last, data["status"], data["code"]) == ("error", 409, "run_stopped")
        assert b.client.get(f"/chat/{chat_id}").json()["active_run_id"] is None
        record = b.client.get(f"/chat/{chat_id}/messages").json()[-1]
        assert (record["status"], record["result"]["stdout"]) == ("interrupted", "sleeping\n")
        assert b.client.delete(f"/chat/{chat_id}/runs/{run_id}").json() == {"stopped": False}
        assert b.run(chat_id, "kept")["result"] == "1"


def test_a_run_whose_process_died_ends_its_stream_with_an_error(
    replicas: list[GatewayProcess],
) -> None:
    a, b = replicas
    chat_id = a.client.post("/create_chat").json()["chat_id"]
    a.run(chat_id, "kept = 'yes'")
    started = threading.Event()

    def start() -> None:
        with a.client.stream(
            "POST",
            f"/query/{chat_id}?stream=true",
            json={"code": "import time\nprint('going', flush=True)\ntime.sleep(60)"},
        ) as response:
            started.set()
            for _ in sse_entries(response):
                pass

    with ThreadPoolExecutor(2) as pool:
        starter = pool.submit(start)
        run_id = active_run(b, chat_id)
        follower = pool.submit(read_to_the_end, b, events_path(chat_id, run_id), None)
        b.wait_for_output(chat_id, run_id, "going\n")
        a.stop(signal.SIGKILL)
        entries = follower.result(timeout=30)
        with pytest.raises(Exception):  # noqa: B017 - the dead process's stream broke off
            starter.result(timeout=30)
    a.start()

    *_, (_, last, data) = entries
    assert (last, data["code"]) == ("error", "run_interrupted")
    assert "gateway process" in data["detail"]
    assert b.run_when_free(chat_id, "kept", within_s=10)["result"] == "yes"
    b.client.delete(f"/chat/{chat_id}")


def test_run_ids_and_event_ids_that_name_nothing(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "1")
    [record] = gateway.client.get(f"/chat/{chat_id}/messages").json()
    with gateway.new_chat() as other_chat:
        for chat, run_id in (
            (chat_id, "0" * 32),
            (chat_id, "not-a-run"),
            (chat_id, "a" * 500),
            (other_chat, record["id"]),  # a run of another chat
        ):
            for method in ("GET", "DELETE"):
                url = f"/chat/{chat}/runs/{run_id}" + ("/events" if method == "GET" else "")
                response = gateway.client.request(method, url)
                assert response.status_code == 404, (method, url)
                assert response.json()["code"] == "run_not_found"
    for bad in ("yesterday", "1-2-3", "-1", "1" * 30 + "-0"):
        response = gateway.client.get(
            events_path(chat_id, record["id"]), headers={"Last-Event-ID": bad}
        )
        assert response.status_code == 400, bad
        assert response.json()["code"] == "invalid_input"
        assert "Last-Event-ID" in response.json()["detail"]
    other_user = gateway.client.get(
        events_path(chat_id, record["id"]), headers={"Authorization": "Bearer someone-else"}
    )
    assert other_user.status_code == 401


def test_a_run_whose_events_expired_answers_from_the_history(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**gateway_env, "RUN_EVENTS_TTL_S": "1"}
    with GatewayProcess(env, tmp_path) as gateway, gateway.new_chat() as chat_id:
        gateway.run(chat_id, "print('long ago')\n6 * 7")
        [record] = gateway.client.get(f"/chat/{chat_id}/messages").json()
        time.sleep(1.5)
        [(_, event, data)] = read_to_the_end(gateway, events_path(chat_id, record["id"]), None)
        assert (event, data["from_history"], data["run_id"]) == ("done", True, record["id"])
        assert (data["status"], data["result"]["result"]) == ("done", "42")
        assert data["result"]["stdout"] == "long ago\n"
