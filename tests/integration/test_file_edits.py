"""A chat's files, changed on its user's request: delete (a file, a folder, a link), move or rename,
and everything as one zip; what user code planted (links to host files) is acted on as itself,
never followed."""

import io
import os
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_process import GatewayProcess


@pytest.fixture
def host_file() -> Iterator[Path]:
    """A file on the host that no request may touch."""
    folder = Path(tempfile.mkdtemp(prefix="ads-victim-", dir="/tmp"))
    victim = folder / "victim.txt"
    victim.write_text("host data")
    yield victim
    victim.unlink(missing_ok=True)
    folder.rmdir()


def listed(gateway: GatewayProcess, chat_id: str) -> set[str]:
    return {f["path"] for f in gateway.client.get(f"/files/{chat_id}").json()}


def test_files_and_folders_are_deleted(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(
        chat_id,
        "import os\nos.makedirs('out/deep')\nopen('out/deep/a.txt', 'w').write('a')\n"
        "open('keep.txt', 'w').write('k')\nopen('gone.txt', 'w').write('g')",
    )
    assert gateway.client.delete(f"/file/{chat_id}/gone.txt").json() == {"deleted": "gone.txt"}
    assert gateway.client.delete(f"/file/{chat_id}/out").status_code == 200
    assert listed(gateway, chat_id) == {"keep.txt"}
    again = gateway.client.delete(f"/file/{chat_id}/gone.txt")
    assert (again.status_code, again.json()["code"]) == (404, "file_not_found")
    # The kernel sees the same workspace.
    assert gateway.run(chat_id, "import os\nsorted(os.listdir())")["result"] == "['keep.txt']"


def test_a_planted_link_is_deleted_itself_and_never_followed(
    gateway: GatewayProcess, chat_id: str, host_file: Path
) -> None:
    gateway.run(
        chat_id,
        f"import os\nos.symlink({str(host_file)!r}, 'link')\n"
        f"os.symlink({str(host_file.parent)!r}, 'folder_link')",
    )
    through = gateway.client.delete(f"/file/{chat_id}/folder_link/victim.txt")
    assert (through.status_code, through.json()["code"]) == (400, "invalid_path")
    assert gateway.client.delete(f"/file/{chat_id}/folder_link").status_code == 200
    assert gateway.client.delete(f"/file/{chat_id}/link").status_code == 200
    assert host_file.read_text() == "host data"
    assert gateway.run(chat_id, "import os\nos.listdir()")["result"] == "[]"
    # (A literal "../x" never reaches the route: clients normalise it away.)
    for bad in ("%2E%2E/x", "a//b", "a/%2E/b"):
        response = gateway.client.delete(f"/file/{chat_id}/{bad}")
        assert (response.status_code, response.json()["code"]) == (400, "invalid_path"), bad
    bad_move = gateway.client.patch(f"/file/{chat_id}/x", json={"path": "../../etc/x"})
    assert bad_move.status_code == 422


def test_files_are_moved_and_renamed_within_the_workspace(
    gateway: GatewayProcess, chat_id: str
) -> None:
    gateway.run(
        chat_id,
        "import os\nos.mkdir('archive')\nopen('data.csv', 'w').write('a\\n1\\n')\n"
        "open('other.csv', 'w').write('b\\n2\\n')",
    )
    renamed = gateway.client.patch(f"/file/{chat_id}/data.csv", json={"path": "sales.csv"})
    assert renamed.json() == {"path": "sales.csv"}
    moved = gateway.client.patch(f"/file/{chat_id}/sales.csv", json={"path": "archive/s.csv"})
    assert moved.status_code == 200
    clash = gateway.client.patch(f"/file/{chat_id}/other.csv", json={"path": "archive/s.csv"})
    assert (clash.status_code, clash.json()["code"]) == (409, "conflict")
    assert '"overwrite": true' in clash.json()["detail"]
    into_itself = gateway.client.patch(f"/file/{chat_id}/archive", json={"path": "archive/x"})
    assert into_itself.status_code == 400
    no_folder = gateway.client.patch(f"/file/{chat_id}/other.csv", json={"path": "nope/o.csv"})
    assert no_folder.status_code == 404
    replaced = gateway.client.patch(
        f"/file/{chat_id}/other.csv", json={"path": "archive/s.csv", "overwrite": True}
    )
    assert replaced.status_code == 200
    assert listed(gateway, chat_id) == {"archive/s.csv"}
    # Still the sandbox's own: its code reads and writes it.
    reply = gateway.run(
        chat_id, "open('archive/s.csv', 'a').write('3\\n')\nopen('archive/s.csv').read()"
    )
    assert reply["result"] == "b\n2\n3\n"


def test_the_workspace_downloads_as_one_zip(
    gateway: GatewayProcess, chat_id: str, host_file: Path
) -> None:
    gateway.run(
        chat_id,
        "import os\nos.makedirs('plots')\nopen('plots/p.txt', 'w').write('plot')\n"
        "open('big.bin', 'wb').write(os.urandom(3_000_000))\n"
        f"os.symlink({str(host_file)!r}, 'link')\nx = 1",
    )
    response = gateway.client.get(f"/files/{chat_id}/archive")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["big.bin", "plots/p.txt"]
        assert archive.read("plots/p.txt") == b"plot"
        assert len(archive.read("big.bin")) == 3_000_000


def test_an_empty_workspace_is_an_empty_zip(gateway: GatewayProcess, chat_id: str) -> None:
    response = gateway.client.get(f"/files/{chat_id}/archive")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.namelist() == []
    assert os.path.basename(response.headers["content-disposition"]).endswith("files.zip")
