"""Packages without a network: a store of wheels made here, installed into chats, kept across a
container kill, cleared by restart; names checked before pip sees them; a chat on a second image.

One gateway for the module (its store and its second image are made once): each install starts
an installer container, and the machine is small.
"""

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker
import pytest

from tests.docker_images import build_marked
from tests.gateway_process import GatewayProcess
from tests.wheels import EXTENSION_TAG, extension_module, extension_source, write_wheel

MARKER = "variant image " + secrets.token_hex(4)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package store: a pure-Python package with a dependency, a compiled extension, and a
    stand-in for a package of the image (numpy) at another version."""
    path = tmp_path_factory.mktemp("store")
    path.chmod(0o755)
    point = b"VALUE = 42\n\nclass Point:\n    def __init__(self, x):\n        self.x = x\n"
    write_wheel(path, "tinypure", "1.0", {"tinypure/__init__.py": point}, requires=["tinydep"])
    write_wheel(path, "tinydep", "0.1", {"tinydep.py": b"X = 1\n"})
    so = extension_module("fastcalc", extension_source("fastcalc", "answer", 7))
    write_wheel(
        path,
        "fastcalc",
        "0.3",
        {"fastcalc.cpython-311-x86_64-linux-gnu.so": so},
        tag=EXTENSION_TAG,
    )
    write_wheel(path, "numpy", "1.0", {"numpy/__init__.py": b""})
    for wheel in path.iterdir():
        wheel.chmod(0o644)
    return path


@pytest.fixture(scope="module")
def variant_image(docker_client: docker.DockerClient) -> Iterator[str]:
    """A second sandbox image: the sandbox's plus a marker file, as deploy/variant.sh makes
    them (FROM the sandbox image), removed afterwards."""
    tag = f"ads-test-variant:{secrets.token_hex(4)}"
    build_marked(docker_client, tag, MARKER)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def gateway(
    gateway_env: dict[str, str],
    store: Path,
    variant_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    env = {**gateway_env, "PACKAGES_DIR": str(store), "SANDBOX_IMAGES": f"variant={variant_image}"}
    with GatewayProcess(env, tmp_path_factory.mktemp("packages-gateway")) as process:
        yield process


def install(gateway: GatewayProcess, chat_id: str, *packages: str) -> dict:
    response = gateway.client.post(
        f"/chat/{chat_id}/packages", json={"packages": list(packages)}, timeout=300
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_installed_packages_import_and_survive_a_kill_until_restart(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    offered = {p["name"]: p["versions"] for p in gateway.client.get("/packages").json()}
    assert offered["tinypure"] == ["1.0"] and offered["fastcalc"] == ["0.3"]

    result = install(gateway, chat_id, "tinypure==1.0", "fastcalc")
    installed = {p["name"]: p["version"] for p in result["installed"]}
    assert installed == {"tinypure": "1.0", "tinydep": "0.1", "fastcalc": "0.3"}
    assert result["disk"]["used_bytes"] > 0  # counted against SANDBOX_DISK_LIMIT
    listed = gateway.client.get(f"/chat/{chat_id}/packages").json()
    assert {p["name"] for p in listed} == {"tinypure", "tinydep", "fastcalc"}
    history = gateway.client.get(f"/chat/{chat_id}/messages").json()
    assert history[-1]["kind"] == "packages"
    assert "fastcalc==0.3" in history[-1]["installed"]

    reply = gateway.run(
        chat_id,
        "import tinypure, tinydep, fastcalc\np = tinypure.Point(5)\n"
        "(tinypure.VALUE, tinydep.X, fastcalc.answer())",
    )
    assert reply["status"] == "ok", reply
    assert reply["result"] == "(42, 1, 7)"
    # The store and the installed packages are read-only to user code.
    for folder in ("/packages", "/chat-packages"):
        written = gateway.run(chat_id, f"open('{folder}/planted.py', 'w')")
        assert written["status"] == "error" and written["error"]["ename"] in (
            "OSError",
            "PermissionError",
        ), written

    docker_client.containers.get(f"ads-{chat_id}").kill()
    again = gateway.run(chat_id, "import fastcalc\n(fastcalc.answer(), p.x)")
    assert again["status"] == "ok", again
    assert again["result"] == "(7, 5)"  # no reinstall: the folder stayed, the kernel restored p
    assert again["kernel"]["state"] == "restored"

    assert install(gateway, chat_id, "tinypure")["satisfied"] == ["tinypure"]

    assert gateway.client.post(f"/restart/{chat_id}").status_code == 200
    gone = gateway.run(chat_id, "import tinypure")
    assert gone["error"]["ename"] == "ModuleNotFoundError", gone
    assert gateway.client.get(f"/chat/{chat_id}/packages").json() == []


def test_the_admin_view_shows_an_install_as_the_chats_installer(
    gateway: GatewayProcess, chat_id: str
) -> None:
    """While pip runs, the admin list names the installer and the chat it installs for (it
    once showed as a pooled sandbox, with no chat)."""
    with ThreadPoolExecutor(1) as thread:
        installing = thread.submit(install, gateway, chat_id, "tinypure")
        seen: list[dict] = []
        while not installing.done() and not seen:
            rows = gateway.client.get("/admin/sandboxes").json()
            seen = [row for row in rows if row["kind"] == "installer"]
        assert installing.result()["installed"]
    assert seen, "no installer was listed while the install ran"
    assert [(row["chat_id"], row["container"]) for row in seen] == [
        (chat_id, f"ads-install-{chat_id}")
    ]
    rows = gateway.client.get("/admin/sandboxes").json()
    assert [row["kind"] for row in rows if row["chat_id"] == chat_id] == ["chat"]
    assert all(row["kind"] != "pool" for row in rows)  # this gateway has no pool


@pytest.mark.parametrize(
    "entry",
    [
        "--index-url=http://203.0.113.1/simple",
        "--extra-index-url http://203.0.113.1/simple",
        "tinypure @ git+https://203.0.113.1/x.git",
        "git+https://203.0.113.1/x.git",
        "-e .",
        "./tinypure",
        "tinypure>=1.0",
        "tinypure[extra]",
        "tinypure; os_name == 'posix'",
        "tinypure==1.0 --index-url=http://203.0.113.1",
        "",
    ],
)
def test_bad_names_are_refused_before_pip(
    gateway: GatewayProcess, chat_id: str, entry: str
) -> None:
    response = gateway.client.post(f"/chat/{chat_id}/packages", json={"packages": [entry]})
    assert response.status_code == 422, response.text
    assert repr(entry) in response.json()["detail"]


def test_packages_not_in_the_store_fail_at_once(
    gateway: GatewayProcess, chat_id: str, docker_client: docker.DockerClient
) -> None:
    for asked in (["nosuchpkg"], ["tinypure==9.9", "lifelines==0.27.8"]):
        response = gateway.client.post(f"/chat/{chat_id}/packages", json={"packages": asked})
        assert response.status_code == 404, response.text
        body = response.json()
        assert body["code"] == "package_not_found"
        assert f'make packages PKGS="{" ".join(asked)}"' in body["detail"]
    # Refused before any sandbox was started for it.
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"ads-{chat_id}")

    # One of the image's own packages is never installed again, at another version.
    response = gateway.client.post(
        f"/chat/{chat_id}/packages", json={"packages": ["numpy==1.0"]}, timeout=300
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "install_failed"
    assert "sandbox image has numpy" in response.json()["detail"]


def test_a_chat_on_a_second_image(
    gateway: GatewayProcess, variant_image: str, docker_client: docker.DockerClient
) -> None:
    images = gateway.client.get("/images").json()
    assert [(i["name"], i["default"]) for i in images] == [("default", True), ("variant", False)]
    refused = gateway.client.post("/create_chat", json={"image": "nope"})
    assert refused.status_code == 404 and "variant" in refused.json()["detail"]

    created = gateway.client.post("/create_chat", json={"image": "variant"})
    assert created.status_code == 201, created.text
    chat_id = created.json()["chat_id"]
    try:
        assert created.json()["image"] == "variant"
        assert gateway.client.get(f"/chat/{chat_id}").json()["image"] == "variant"
        listed = {c["chat_id"]: c["image"] for c in gateway.client.get("/chats").json()}
        assert listed[chat_id] == "variant"
        reply = gateway.run(chat_id, "open('/marker').read().strip()")
        assert reply["result"] == MARKER, reply
        container = docker_client.containers.get(f"ads-{chat_id}")
        assert container.attrs["Config"]["Image"] == variant_image
    finally:
        gateway.client.delete(f"/chat/{chat_id}")

    with gateway.new_chat() as plain:  # no body at all, as in the brief
        assert gateway.client.get(f"/chat/{plain}").json()["image"] == "default"
        assert gateway.run(plain, "import os\nos.path.exists('/marker')")["result"] == "False"
