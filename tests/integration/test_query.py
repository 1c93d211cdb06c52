"""Running code in a chat through the gateway: state, output, errors."""

import time

from tests.gateway_process import GatewayProcess, sse_events


def test_variable_from_first_query_is_used_in_second(gateway: GatewayProcess, chat_id: str) -> None:
    first = gateway.run(chat_id, "x = 40")
    assert first["status"] == "ok"
    second = gateway.run(chat_id, "y = x + 2\nprint('y is', y)\ny")
    assert second["status"] == "ok"
    assert second["stdout"] == "y is 42\n"
    assert second["result"] == "42"


def test_exception_comes_back_with_traceback(gateway: GatewayProcess, chat_id: str) -> None:
    reply = gateway.run(chat_id, "def f():\n    return 1 / 0\nf()")
    assert reply["status"] == "error"
    assert reply["error"]["ename"] == "ZeroDivisionError"
    assert "return 1 / 0" in "".join(reply["error"]["traceback"])
    assert gateway.run(chat_id, "'still alive'")["result"] == "still alive"


def test_output_flood_is_capped_with_a_marker(gateway: GatewayProcess, chat_id: str) -> None:
    reply = gateway.run(chat_id, "for i in range(200_000):\n    print('line', i)")
    assert reply["status"] == "ok"
    assert reply["stdout_truncated"] is True
    assert len(reply["stdout"]) < 200_000
    assert "truncated" in reply["stdout"]


def test_dataframe_value_has_html(gateway: GatewayProcess, chat_id: str) -> None:
    reply = gateway.run(chat_id, "import pandas as pd\npd.DataFrame({'a': [1, 2]})")
    assert reply["status"] == "ok"
    value = next(o for o in reply["outputs"] if o["filename"] is None)
    assert "<table" in value["data"]["text/html"]


def test_history_records_each_query(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "a = 1")
    gateway.run(chat_id, "a + 1")
    history = gateway.client.get(f"/chat/{chat_id}/messages")
    assert history.status_code == 200, history.text
    messages = history.json()
    assert [m["code"] for m in messages] == ["a = 1", "a + 1"]
    assert messages[1]["result"]["result"] == "2"
    assert all(m["status"] == "done" for m in messages)


def test_code_can_stream_its_output(gateway: GatewayProcess, chat_id: str) -> None:
    code = "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.2)\n'end'"
    with gateway.client.stream(
        "POST", f"/query/{chat_id}?stream=true", json={"code": code}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    names = [name for name, _ in events]
    assert names[-1] == "done"
    printed = "".join(d["text"] for n, d in events if n == "output" and d["type"] == "stdout")
    assert printed == "0\n1\n2\n"
    assert names.count("output") >= 3  # the prints arrived as they happened, not in one piece
    assert events[-1][1]["result"] == "end"


def test_closing_a_code_stream_leaves_the_code_running_to_its_end(
    gateway: GatewayProcess, chat_id: str
) -> None:
    code = "import time\nprint('started', flush=True)\ntime.sleep(1.5)\nfinished = True\n'end'"
    with gateway.client.stream(
        "POST", f"/query/{chat_id}", json={"code": code}, headers={"accept": "text/event-stream"}
    ) as response:
        next(sse_events(response))
    # Nobody listens any more; the run is the gateway's, and ends as it would have.
    deadline = time.monotonic() + 30
    while (history := gateway.client.get(f"/chat/{chat_id}/messages").json())[0][
        "status"
    ] == "running":
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(0.05)
    assert history[0]["status"] == "done"
    assert history[0]["result"]["result"] == "end"
    assert gateway.run(chat_id, "finished")["result"] == "True"


def test_first_query_names_the_chat(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "\n# load the rentals data\nx = 1")
    gateway.run(chat_id, "y = 2")
    chat = next(c for c in gateway.client.get("/chats").json() if c["chat_id"] == chat_id)
    assert chat["title"] == "# load the rentals data"


def test_leaving_while_the_sandbox_starts_leaves_it_usable(gateway: GatewayProcess) -> None:
    for _ in range(3):
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        with gateway.client.stream(
            "POST", f"/query/{chat_id}?stream=true", json={"code": "1"}
        ) as response:
            assert response.status_code == 200  # and gone before the new sandbox is up
        assert gateway.run_when_free(chat_id, "2", within_s=10)["result"] == "2"
        gateway.client.delete(f"/chat/{chat_id}")
