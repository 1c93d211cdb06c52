"""CSV upload: multipart and import from IMPORT_DIR; bad files leave nothing behind."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess

GOOD = b"month,rentals\n2024-01,120\n2024-02,95\n2024-03,143\n"


def upload(gateway: GatewayProcess, chat_id: str, name: str, data: bytes):
    return gateway.client.post(f"/upload_csv/{chat_id}", files={"file": (name, data, "text/csv")})


def assert_nothing_left(gateway: GatewayProcess, chat_id: str) -> None:
    assert gateway.client.get(f"/files/{chat_id}").json() == []
    names = [v["name"] for v in gateway.client.get(f"/variables/{chat_id}").json()]
    assert names == []


def test_multipart_upload_loads_a_dataframe_named_after_the_file(
    gateway: GatewayProcess, chat_id: str
) -> None:
    response = upload(gateway, chat_id, "TD rentals-2024.csv", GOOD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["variable"] == "td_rentals_2024"
    assert body["shape"] == [3, 2]
    assert body["columns"] == ["month", "rentals"]
    assert body["head"][0] == {"month": "2024-01", "rentals": 120}

    files = gateway.client.get(f"/files/{chat_id}").json()
    assert [f["path"] for f in files] == ["TD_rentals-2024.csv"]
    reply = gateway.run(chat_id, "int(td_rentals_2024['rentals'].max())")
    assert reply["result"] == "143"


def test_bad_csv_is_400_and_leaves_nothing(gateway: GatewayProcess, chat_id: str) -> None:
    response = upload(gateway, chat_id, "broken.csv", b"a,b\n1,2\n3,4,5,6\n\x00\xff\xfe")
    assert response.status_code == 400, response.text
    assert response.json()["detail"]
    assert_nothing_left(gateway, chat_id)


def test_empty_file_is_400(gateway: GatewayProcess, chat_id: str) -> None:
    assert upload(gateway, chat_id, "empty.csv", b"").status_code == 400
    assert_nothing_left(gateway, chat_id)


def test_upload_without_file_field_is_422(gateway: GatewayProcess, chat_id: str) -> None:
    response = gateway.client.post(
        f"/upload_csv/{chat_id}", files={"other": ("x.csv", b"a\n1\n", "text/csv")}
    )
    assert response.status_code == 422


def test_import_from_import_dir_as_in_the_brief(
    gateway: GatewayProcess, chat_id: str, import_dir: Path
) -> None:
    folder = import_dir / "TD project"
    folder.mkdir(exist_ok=True)
    (folder / "tdi_rentals_dataset.csv").write_bytes(GOOD)
    response = gateway.client.post(
        f"/upload_csv/{chat_id}",
        json={"file_path": str(folder / "tdi_rentals_dataset.csv")},
    )
    assert response.status_code == 200, response.text
    assert response.json()["variable"] == "tdi_rentals_dataset"
    assert gateway.run(chat_id, "tdi_rentals_dataset.shape")["result"] == "(3, 2)"


@pytest.mark.parametrize("target", ["/etc/passwd", "../../etc/passwd", "escape.csv"])
def test_import_outside_import_dir_is_403(
    gateway: GatewayProcess, chat_id: str, import_dir: Path, target: str
) -> None:
    link = import_dir / "escape.csv"
    if not link.is_symlink():
        outside = import_dir.parent / f"outside-{os.getpid()}.csv"
        outside.write_bytes(GOOD)
        link.symlink_to(outside)
    response = gateway.client.post(f"/upload_csv/{chat_id}", json={"file_path": target})
    assert response.status_code == 403, response.text
    assert "IMPORT_DIR" in response.json()["detail"]
    assert response.json()["code"] == "import_not_allowed"
    assert_nothing_left(gateway, chat_id)


@pytest.fixture(scope="module")
def small_gateway(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    """Uploads capped at 64 KiB, and no IMPORT_DIR."""
    env = {k: v for k, v in gateway_env.items() if k != "IMPORT_DIR"}
    env["MAX_UPLOAD_BYTES"] = str(64 * 1024)
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("small"))) as process:
        yield process


def test_oversize_upload_is_413_and_leaves_nothing(small_gateway: GatewayProcess) -> None:
    chat_id = small_gateway.client.post("/create_chat").json()["chat_id"]
    data = b"a,b\n" + b"1,2\n" * 40_000
    response = upload(small_gateway, chat_id, "big.csv", data)
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert_nothing_left(small_gateway, chat_id)
    assert upload(small_gateway, chat_id, "ok.csv", GOOD).status_code == 200
    small_gateway.client.delete(f"/chat/{chat_id}")


def test_import_without_import_dir_is_403(small_gateway: GatewayProcess) -> None:
    chat_id = small_gateway.client.post("/create_chat").json()["chat_id"]
    response = small_gateway.client.post(f"/upload_csv/{chat_id}", json={"file_path": "/etc/hosts"})
    assert response.status_code == 403
    assert "IMPORT_DIR" in response.json()["detail"]
    small_gateway.client.delete(f"/chat/{chat_id}")
