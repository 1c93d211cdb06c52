"""The shipped images in GitHub sign-in mode: the gateway's container signs a browser in against
the fake GitHub (token exchange and API calls go out from inside the container) and serves the
signed-in user."""

import secrets
from collections.abc import Iterator

import docker
import pytest

from tests.containers.stack import Deployment, deploy, host_address, stack_network
from tests.fake_github import CLIENT_ID, CLIENT_SECRET, FakeGitHub
from tests.sign_in import sign_in, with_cookie


@pytest.fixture(scope="module")
def github_stack(
    shipped_images: docker.DockerClient,
    stack_settings: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Deployment, FakeGitHub]]:
    with stack_network() as network:
        # On the host's address on the stack's network, not loopback: the browser (this test)
        # and the gateway's container must reach the same GITHUB_URL, as with the real GitHub.
        github = FakeGitHub(host_address(shipped_images, network)).start()
        settings = {
            **stack_settings,
            "AUTH_MODE": "github",
            "GITHUB_CLIENT_ID": CLIENT_ID,
            "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
            "SESSION_SECRET": secrets.token_urlsafe(32),
            "GITHUB_URL": github.url,
            "GITHUB_API_URL": github.api_url,
            "ALLOWED_GITHUB_USERS": "alice",
        }
        try:
            with deploy(shipped_images, network, settings, tmp_path_factory.mktemp("gh")) as stack:
                yield stack, github
        finally:
            github.stop()


def test_github_sign_in_from_the_gateway_container_and_a_chat_with_its_cookie(
    github_stack: tuple[Deployment, FakeGitHub],
) -> None:
    stack, github = github_stack
    browser, signed_in = sign_in(stack.base_url, github, "alice")
    browser.close()
    assert signed_in["user"]["login"] == "alice"

    with with_cookie(stack.base_url, signed_in["github_session"]) as curl:
        created = curl.post("/create_chat")
        assert created.status_code == 201, created.text
        chat_id = created.json()["chat_id"]
        assert created.json()["user_id"] == "gh:1001"
        reply = curl.post(f"/query/{chat_id}", json={"code": "sum([1, 2, 3])"})
        assert reply.status_code == 200, reply.text
        assert reply.json()["result"] == "6"
        assert curl.delete(f"/chat/{chat_id}").status_code == 200
