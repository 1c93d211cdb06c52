"""Running code in a chat through the gateway: state, output, errors."""

from tests.gateway_process import GatewayProcess


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
    assert gateway.run(chat_id, "'still alive'")["result"] == "'still alive'"


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
