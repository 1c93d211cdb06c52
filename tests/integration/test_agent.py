"""The AI data scientist through the gateway, against a fake OpenAI-compatible server."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests import data_files
from tests.fake_llm import FakeLLM, say, status, tool
from tests.gateway_process import GatewayProcess, sse_events
from tests.services import free_port

SINE = """
import numpy as np
import matplotlib.pyplot as plt
x = np.linspace(0, 2 * np.pi, 200)
plt.plot(x, np.sin(x))
plt.title("Sine wave")
"""


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        yield fake


def llm_env(gateway_env: dict[str, str], llm: FakeLLM, **extra: str) -> dict[str, str]:
    return {
        **gateway_env,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "fake-model",
        "LLM_MAX_RETRIES": "2",
        **extra,
    }


@pytest.fixture(scope="module")
def agent_gateway(gateway_env, llm: FakeLLM, tmp_path_factory) -> Iterator[GatewayProcess]:
    env = llm_env(gateway_env, llm, LLM_MAX_STEPS="3", LLM_TIMEOUT_S="5")
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("agent"))) as process:
        yield process


@pytest.fixture
def chat(agent_gateway: GatewayProcess) -> Iterator[str]:
    with agent_gateway.new_chat() as chat_id:
        yield chat_id


def ask(gateway: GatewayProcess, chat_id: str, question: str) -> httpx.Response:
    return gateway.client.post(f"/query/{chat_id}", json={"query": question})


def system_prompt(request: dict) -> str:
    return request["messages"][0]["content"]


def tool_results(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


def test_sine_wave_query_answers_with_a_plot(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(tool(SINE), say("Here is a sine wave over one period, saved as **plot_1.png**."))
    response = ask(agent_gateway, chat, "create a simple plot showing a sine wave")
    assert response.status_code == 200, response.text
    reply = response.json()
    assert reply["status"] == "answered"
    assert "plot_1.png" in reply["answer"]
    assert [s["code"] for s in reply["steps"]] == [SINE]
    assert [f["path"] for f in reply["files"]] == ["plot_1.png"]
    assert reply["usage"]["total_tokens"] == 240

    png = agent_gateway.client.get(f"/file/{chat}/plot_1.png")
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")

    first, second = llm.requests
    assert first["model"] == "fake-model"
    assert "NO network" in system_prompt(first)
    assert "pip install" in system_prompt(first)  # as a prohibition
    assert any(t["function"]["name"] == "run_python" for t in first["tools"])
    assert "plot_1.png" in tool_results(second)[0]

    listed = next(c for c in agent_gateway.client.get("/chats").json() if c["chat_id"] == chat)
    assert listed["title"] == "create a simple plot showing a sine wave"
    history = agent_gateway.client.get(f"/chat/{chat}/messages").json()
    assert history[-1]["kind"] == "query"
    assert history[-1]["answer"] == reply["answer"]
    assert history[-1]["steps"][0]["code"] == SINE


def test_model_fixes_its_own_error(agent_gateway: GatewayProcess, chat: str, llm: FakeLLM) -> None:
    llm.script(
        tool("total = undefined_name + 1"),
        tool("total = 41 + 1\nprint(total)"),
        say("The total is 42."),
    )
    reply = ask(agent_gateway, chat, "add 41 and 1").json()
    assert [s["status"] for s in reply["steps"]] == ["error", "ok"]
    assert reply["steps"][1]["stdout"] == "42\n"
    assert "NameError" in tool_results(llm.requests[1])[0]
    assert "total" in reply["variables_changed"]


def test_question_about_an_uploaded_csv(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    csv = b"month,rentals\n2024-01,120\n2024-02,95\n2024-03,143\n"
    uploaded = agent_gateway.client.post(
        f"/upload_csv/{chat}", files={"file": ("rentals.csv", csv, "text/csv")}
    )
    assert uploaded.status_code == 200, uploaded.text
    code = "best = rentals.loc[rentals['rentals'].idxmax(), 'month']\nbest"
    llm.script(tool(code), say("March 2024 had the most rentals (143)."))
    reply = ask(agent_gateway, chat, "which month had the most rentals?").json()
    assert reply["steps"][0]["result"] == "2024-03"
    prompt = system_prompt(llm.requests[0])
    assert "`rentals`" in prompt
    assert "month (" in prompt and "rentals (int64)" in prompt
    assert "rentals.csv" in prompt


def test_the_prompt_describes_every_uploaded_dataset_and_file(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    files = [
        ("file", ("book.xlsx", data_files.two_sheet_workbook())),
        ("file", ("report.pdf", data_files.pdf_like())),
        ("file", ("broken.parquet", b"not parquet")),
    ]
    uploaded = agent_gateway.client.post(f"/upload/{chat}", files=files, timeout=120)
    assert uploaded.status_code == 200, uploaded.text
    llm.script(say("Two sheets, a report and a file that is not Parquet."))
    assert ask(agent_gateway, chat, "what did I upload?").status_code == 200
    prompt = system_prompt(llm.requests[0])
    assert (
        "Uploaded dataset: book.xlsx (sheet 'Costs 2024') loaded as DataFrame "
        "`book_costs_2024` with shape (2, 3)." in prompt
    )
    assert "  columns: item, cost, paid" in prompt
    assert f"Uploaded file: report.pdf, {len(data_files.pdf_like())} bytes, kept in" in prompt
    assert "Uploaded file: broken.parquet" in prompt and "not loaded as parquet" in prompt


def test_a_querys_env_and_time_limit_reach_every_cell_it_runs(
    agent_gateway: GatewayProcess, llm: FakeLLM
) -> None:
    with agent_gateway.new_chat({"env": {"REGION": "eu", "KEEP": "chat"}}) as chat:
        llm.script(
            tool("import os\nprint(os.environ['REGION'], os.environ['KEEP'])"),
            tool("import os, time\nprint(os.environ['REGION'], flush=True)\ntime.sleep(30)"),
            say("Done."),
        )
        started = time.monotonic()
        response = agent_gateway.client.post(
            f"/query/{chat}", json={"query": "where?", "env": {"REGION": "us"}, "timeout_s": 2}
        )
        assert response.status_code == 200, response.text
        reply = response.json()
        assert [s["stdout"] for s in reply["steps"]] == ["us chat\n", "us\n"]
        assert [s["status"] for s in reply["steps"]] == ["ok", "timeout"]
        assert time.monotonic() - started < 20
        assert "stops a cell after 2 seconds" in system_prompt(llm.requests[0])
        # The run's value was for that run: the chat's is back.
        assert agent_gateway.run(chat, "import os\nos.environ['REGION']")["result"] == "eu"


def test_step_limit_is_said_not_failed(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(tool("a = 1"), tool("b = 2"), tool("c = 3"))
    response = ask(agent_gateway, chat, "keep going forever")
    assert response.status_code == 200
    reply = response.json()
    assert reply["status"] == "step_limit"
    assert "LLM_MAX_STEPS" in reply["answer"]
    assert len(reply["steps"]) == 3


def test_malformed_tool_arguments_go_back_to_the_model(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(
        tool(arguments="{not json"),
        tool(name="shell", arguments='{"cmd": "ls"}'),
        say("Sorry, done now."),
    )
    reply = ask(agent_gateway, chat, "do it").json()
    assert reply["status"] == "answered"
    assert reply["steps"] == []
    assert "not valid JSON" in tool_results(llm.requests[1])[0]
    assert "no tool 'shell'" in tool_results(llm.requests[2])[-1]


def test_streamed_events_arrive_in_order(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(tool("print('hello')\n" + SINE), say("Done: plot_1.png"))
    with agent_gateway.client.stream(
        "POST", f"/query/{chat}", json={"query": "sine"}, headers={"accept": "text/event-stream"}
    ) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = list(sse_events(response))
    names = [name for name, _ in events]
    assert names[:2] == ["step_started", "code"]
    assert names[-1] == "done"
    assert names.index("code") < names.index("output") < names.index("file") < names.index("answer")
    stdout = [d["text"] for n, d in events if n == "output" and d["type"] == "stdout"]
    assert "".join(stdout) == "hello\n"
    assert "".join(d["delta"] for n, d in events if n == "answer") == "Done: plot_1.png"
    assert events[-1][1]["answer"] == "Done: plot_1.png"


def test_a_query_whose_client_went_away_runs_to_its_answer(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(tool("print('waiting', flush=True)\nimport time\ntime.sleep(2)"), say("finished"))
    with agent_gateway.client.stream(
        "POST", f"/query/{chat}?stream=true", json={"query": "sleep"}
    ) as response:
        for name, data in sse_events(response):
            if name == "output" and data.get("text") == "waiting\n":
                break
    deadline = time.monotonic() + 30
    while (history := agent_gateway.client.get(f"/chat/{chat}/messages").json())[-1][
        "status"
    ] == "running":
        assert time.monotonic() < deadline, "the query never ended"
        time.sleep(0.1)
    assert (history[-1]["status"], history[-1]["answer"]) == ("done", "finished")
    [step] = history[-1]["steps"]
    assert (step["status"], step["stdout"]) == ("ok", "waiting\n")


def test_second_query_while_one_runs_is_409(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(tool("import time\ntime.sleep(3)"), say("slept"))
    with ThreadPoolExecutor(1) as pool:
        first = pool.submit(ask, agent_gateway, chat, "sleep")
        agent_gateway.wait_until_running(chat, within_s=30)
        second = ask(agent_gateway, chat, "and this?")
        assert second.status_code == 409
        assert "another query" in second.json()["detail"]
        assert second.json()["code"] == "chat_busy"
        assert agent_gateway.client.post(f"/query/{chat}", json={"code": "1"}).status_code == 409
        assert first.result(timeout=30).status_code == 200


def test_rate_limit_is_retried_then_explained(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    llm.script(status(429), say("after one 429"))
    reply = ask(agent_gateway, chat, "hi")
    assert reply.status_code == 200
    assert reply.json()["answer"] == "after one 429"

    llm.script(status(429), status(429), status(429))
    limited = ask(agent_gateway, chat, "hi again")
    assert limited.status_code == 503
    assert "rate-limiting" in limited.json()["detail"]
    assert limited.json()["code"] == "llm_unavailable"
    assert llm.remaining() == 0


def test_slow_llm_is_503_naming_the_timeout(gateway_env, llm: FakeLLM, tmp_path: Path) -> None:
    env = llm_env(gateway_env, llm, LLM_TIMEOUT_S="1", LLM_MAX_RETRIES="0")
    with GatewayProcess(env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        llm.script(say("too late", delay=3))
        response = ask(gateway, chat_id, "hello")
        assert response.status_code == 503
        assert "LLM_TIMEOUT_S" in response.json()["detail"]
        assert response.json()["code"] == "llm_unavailable"
        history = gateway.client.get(f"/chat/{chat_id}/messages").json()
        assert history[-1]["status"] == "failed"
        gateway.client.delete(f"/chat/{chat_id}")


def test_unreachable_llm_is_502_naming_the_url(gateway_env, tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    env = {
        **gateway_env,
        "OPENAI_BASE_URL": down,
        "LLM_MODEL": "m",
        "LLM_MAX_RETRIES": "0",
    }
    with GatewayProcess(env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        response = ask(gateway, chat_id, "hello")
        assert response.status_code == 502
        assert down in response.json()["detail"]
        assert response.json()["code"] == "llm_unavailable"
        assert gateway.run(chat_id, "1 + 1")["result"] == "2"  # code still runs without the LLM
        gateway.client.delete(f"/chat/{chat_id}")


def test_long_chat_history_is_trimmed_to_the_budget(
    gateway_env, llm: FakeLLM, tmp_path: Path
) -> None:
    env = llm_env(gateway_env, llm, LLM_HISTORY_BUDGET_CHARS="3000")
    with GatewayProcess(env, tmp_path) as gateway:
        chat_id = gateway.client.post("/create_chat").json()["chat_id"]
        for turn in range(50):
            llm.script(say(f"answer {turn}: " + "x" * 150))
            assert ask(gateway, chat_id, f"question {turn}").status_code == 200
        messages = llm.requests[-1]["messages"]
        history = messages[1:-1]
        sent = "".join(m["content"] for m in history)
        assert len(sent) <= 3000
        assert messages[-1]["content"] == "question 49"
        assert history[-1]["content"].startswith("answer 48:")
        assert "question 0" not in sent
        assert len(gateway.client.get(f"/chat/{chat_id}/messages").json()) == 50
        gateway.client.delete(f"/chat/{chat_id}")


def test_query_with_threads_does_not_block_other_chats(
    agent_gateway: GatewayProcess, chat: str, llm: FakeLLM
) -> None:
    other = agent_gateway.client.post("/create_chat").json()["chat_id"]
    # Long enough that the other chat's first query (a container start) ends well before it.
    llm.script(tool("import time\ntime.sleep(8)"), say("ok"))
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(r=ask(agent_gateway, chat, "slow")))
    worker.start()
    agent_gateway.wait_until_running(chat, within_s=30)
    assert agent_gateway.run(other, "'fast'")["result"] == "fast"
    # Answered while the slow query still runs: it did not wait for it.
    assert agent_gateway.client.get(f"/chat/{chat}/messages").json()[-1]["status"] == "running"
    worker.join(30)
    assert result["r"].status_code == 200
    agent_gateway.client.delete(f"/chat/{other}")
