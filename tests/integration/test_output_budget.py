"""A cell's output budget end to end: floods from user code come back cut and marked, the reply
and the journaled history stay bounded, the gateway's memory does not balloon, the chat works on;
and a full Redis answers 503 without losing what it holds."""

import json
from pathlib import Path
from typing import Any

import redis

from shared.protocol import CELL_OUTPUT_BUDGET_BYTES
from tests.gateway_process import ROOT, GatewayProcess
from tests.services import redis_server

# A reply or a history message may pass the budget by its own fields, not by more.
OVERHEAD_BYTES = 256 * 1024
# Loose: while it answers and journals a cell the gateway holds its output a few times over. An
# unbounded gateway grows by the whole flood (hundreds of MB here).
RSS_GROWTH_LIMIT_KB = 200 * 1024

# User code finds the kernel's message pipe on the kernel's command line.
FIND_PIPE = """
import json, os
args = open('/proc/self/cmdline').read().split('\\0')
fd = int([a for a in args if a.startswith('--message-fd=')][0].split('=')[1])
"""


def production_memory_options() -> tuple[str, ...]:
    """The maxmemory settings of deploy/redis.conf, as redis-server options."""
    options: list[str] = []
    for line in (ROOT / "deploy" / "redis.conf").read_text().splitlines():
        if line.startswith("maxmemory"):
            name, value = line.split()
            options += [f"--{name}", value]
    return tuple(options)


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def run_flood(gateway: GatewayProcess, chat_id: str, code: str) -> dict[str, Any]:
    """Run a cell that floods; check that neither its reply, nor its history message, nor the
    gateway's memory grew with the flood, and that the chat still answers."""
    assert gateway.proc is not None
    pid = gateway.proc.pid
    before = _status_kb(pid, "VmRSS")
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM now tracks this cell's peak
    response = gateway.client.post(f"/query/{chat_id}", json={"code": code})
    assert response.status_code == 200, response.text[:1000]
    assert len(response.content) < CELL_OUTPUT_BUDGET_BYTES + OVERHEAD_BYTES
    assert _status_kb(pid, "VmHWM") - before < RSS_GROWTH_LIMIT_KB
    history = gateway.client.get(f"/chat/{chat_id}/messages")
    assert history.status_code == 200
    assert len(history.content) < CELL_OUTPUT_BUDGET_BYTES + OVERHEAD_BYTES
    assert history.json()[-1]["result"]["output_truncated"] is True
    assert gateway.run(chat_id, "1 + 1")["result"] == "2"
    return response.json()


def test_valid_messages_flooding_the_kernel_pipe_are_cut(
    gateway: GatewayProcess, chat_id: str
) -> None:
    code = (
        FIND_PIPE
        + f"""
stdout = json.dumps(dict(type="stdout", text="x" * 8000))
display = json.dumps(dict(type="display", data={{"text/plain": "x" * 8000}}))
lines = (stdout + "\\n" + display + "\\n").encode()
for _ in range(16 * {CELL_OUTPUT_BUDGET_BYTES} // len(lines)):
    os.write(fd, lines)
"""
    )
    reply = run_flood(gateway, chat_id, code)
    assert reply["status"] == "ok"
    assert reply["output_truncated"] is True
    assert reply["stdout_truncated"] is True
    assert "output truncated" in reply["stderr"]


def test_an_endless_line_on_the_kernel_pipe_is_refused(
    gateway: GatewayProcess, chat_id: str
) -> None:
    gateway.run(chat_id, "kept = 'before'")
    code = FIND_PIPE + "block = b'x' * (1 << 20)\nfor _ in range(256):\n    os.write(fd, block)\n"
    reply = run_flood(gateway, chat_id, code)
    assert reply["status"] == "crashed"
    assert reply["output_truncated"] is True
    assert "too long to read" in reply["error"]["evalue"]
    assert gateway.run(chat_id, "kept")["result"] == "before"


def test_display_flood_is_cut(gateway: GatewayProcess, chat_id: str) -> None:
    reply = run_flood(gateway, chat_id, "for i in range(20_000):\n    display('x' * 4000)")
    assert reply["status"] == "ok"
    assert reply["output_truncated"] is True
    assert 0 < len(reply["outputs"]) < 20_000


def test_huge_exception_is_cut(gateway: GatewayProcess, chat_id: str) -> None:
    reply = run_flood(gateway, chat_id, "raise ValueError('boom ' * 4_000_000)")
    assert reply["status"] == "error"
    assert reply["output_truncated"] is True
    assert reply["error"]["ename"] == "ValueError"
    assert len(json.dumps(reply["error"])) < OVERHEAD_BYTES


def test_a_full_redis_answers_503_and_keeps_what_it_holds(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    with (
        redis_server(options=production_memory_options()) as server,
        GatewayProcess({**gateway_env, "REDIS_URL": server.url}, tmp_path) as gateway,
        gateway.new_chat() as chat_id,
        redis.Redis.from_url(server.url) as admin,
    ):
        # As deployed: a ceiling, and writes refused there rather than chats evicted.
        assert int(admin.config_get("maxmemory")["maxmemory"]) > 0
        assert admin.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        gateway.run(chat_id, "x = 'written before'")
        # Full, with a margin: Redis refuses a write only once it is past its maxmemory.
        admin.config_set("maxmemory", admin.info("memory")["used_memory"] // 2)

        refused = gateway.client.post(f"/query/{chat_id}", json={"code": "x"})
        assert refused.status_code == 503
        assert "Redis" in refused.json()["detail"]
        history = gateway.client.get(f"/chat/{chat_id}/messages")
        assert history.status_code == 200
        assert [m["code"] for m in history.json()] == ["x = 'written before'"]
        assert chat_id in [c["chat_id"] for c in gateway.client.get("/chats").json()]

        admin.config_set("maxmemory", 0)
        assert gateway.run(chat_id, "x")["result"] == "written before"
