"""Sandbox images made by tests: the sandbox image plus a marker file, as deploy/variant.sh
makes variants (FROM the sandbox image)."""

import io
import tarfile

import docker

from tests.conftest import SANDBOX_IMAGE


def build_marked(client: docker.DockerClient, tag: str, marker: str) -> None:
    """Build `tag`: the sandbox image with `marker` in /marker."""
    dockerfile = (
        f"FROM {SANDBOX_IMAGE}\nUSER root\n"
        f"RUN echo '{marker}' > /marker && chmod 644 /marker\nUSER 10001:10001\n"
    ).encode()
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)
