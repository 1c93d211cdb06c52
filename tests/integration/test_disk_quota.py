"""The soft disk quota (SANDBOX_DISK_LIMIT): runs past it are flagged with use and limit, uploads
are refused until code frees space, and sparse files, hard links and links out to the host do not
fool the count."""

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import GatewayProcess

MIB = 1024 * 1024
LIMIT = 5 * MIB
CSV = b"a,b\n1,2\n3,4\n"


@pytest.fixture(scope="module")
def quota_gateway(
    gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    """Chats may use 5 MiB."""
    env = {**gateway_env, "SANDBOX_DISK_LIMIT": "5m"}
    with GatewayProcess(env, tmp_path_factory.mktemp("quota")) as process:
        yield process


@pytest.fixture
def chat(quota_gateway: GatewayProcess) -> Iterator[str]:
    with quota_gateway.new_chat() as chat_id:
        yield chat_id


def upload(gateway: GatewayProcess, chat_id: str, name: str, data: bytes) -> Any:
    return gateway.client.post(f"/upload_csv/{chat_id}", files={"file": (name, data, "text/csv")})


def disk(reply: dict[str, Any]) -> dict[str, Any]:
    assert reply["status"] == "ok", reply
    usage: dict[str, Any] = reply["disk"]
    assert usage["limit_bytes"] == LIMIT
    return usage


def test_past_the_limit_runs_warn_and_uploads_wait_until_code_frees_space(
    quota_gateway: GatewayProcess, chat: str
) -> None:
    assert not disk(quota_gateway.run(chat, "1"))["over_limit"]
    assert upload(quota_gateway, chat, "small.csv", CSV).status_code == 200

    reply = quota_gateway.run(chat, "open('big.bin', 'wb').write(b'\\0' * 6_000_000)")
    usage = disk(reply)
    assert usage["over_limit"] and usage["used_bytes"] >= 6_000_000
    assert "past its disk limit of 5.0 MiB" in usage["warning"]
    history = quota_gateway.client.get(f"/chat/{chat}/messages").json()
    assert history[-1]["result"]["disk"]["warning"] == usage["warning"]

    refused = upload(quota_gateway, chat, "more.csv", CSV)
    assert refused.status_code == 413, refused.text
    assert refused.json()["code"] == "disk_quota_exceeded"
    detail = refused.json()["detail"]
    assert re.search(r"use 5\.\d MiB, past its disk limit of 5\.0 MiB \(SANDBOX_DISK_LIMIT", detail)
    assert "delete files" in detail and "restart" in detail
    names = [f["path"] for f in quota_gateway.client.get(f"/files/{chat}").json()]
    assert sorted(names) == ["big.bin", "small.csv"]

    assert not disk(quota_gateway.run(chat, "import os; os.remove('big.bin')"))["over_limit"]
    assert upload(quota_gateway, chat, "more.csv", CSV).status_code == 200


def test_saved_variables_count_and_an_upload_that_would_pass_the_limit_is_refused(
    quota_gateway: GatewayProcess, chat: str
) -> None:
    usage = disk(quota_gateway.run(chat, "import os; blob = os.urandom(4_000_000)"))
    assert not usage["over_limit"] and usage["used_bytes"] >= 4_000_000

    big = b"a,b\n" + b"1,2\n" * 500_000
    refused = upload(quota_gateway, chat, "big.csv", big)
    assert refused.status_code == 413, refused.text
    assert "this upload of 1.9 MiB would take it past" in refused.json()["detail"]

    assert disk(quota_gateway.run(chat, "del blob"))["used_bytes"] < MIB
    assert upload(quota_gateway, chat, "big.csv", big).status_code == 200


def test_sparse_files_hard_links_and_links_to_the_host_do_not_fool_the_count(
    quota_gateway: GatewayProcess, chat: str, tmp_path: Path
) -> None:
    host_file = tmp_path / "host-big.bin"
    host_file.write_bytes(b"\1" * 8 * MIB)
    code = f"""
import os
with open("sparse.bin", "wb") as f:
    f.truncate(1_000_000_000)
with open("data.bin", "wb") as f:
    f.write(os.urandom(2_000_000))
os.mkdir("copies")
for n in range(4):
    os.link("data.bin", f"copies/data{{n}}.bin")
os.symlink({str(host_file)!r}, "host-big.bin")
os.symlink("/", "host-root")
"""
    usage = disk(quota_gateway.run(chat, code))
    assert not usage["over_limit"] and not usage["at_least"]
    assert 2_000_000 <= usage["used_bytes"] < 3 * MIB
