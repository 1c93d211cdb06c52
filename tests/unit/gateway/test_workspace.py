"""Workspace reads on a real file system, with the symlinks hostile code would plant."""

import os
from pathlib import Path

import pytest

from gateway.workspace import list_files, open_file, read_chunks
from shared.errors import InvalidPath, NotFound


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "workspace"
    (ws / "sub").mkdir(parents=True)
    (ws / "a.txt").write_text("hello")
    (ws / "sub" / "b.csv").write_text("x,y\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    (ws / "leak").symlink_to(secret)
    (ws / "outside").symlink_to(tmp_path)
    return ws


def read(workspace: Path, path: str) -> bytes:
    fd, _ = open_file(workspace, path)
    return b"".join(read_chunks(fd))


def test_reads_files_and_nested_files(workspace: Path) -> None:
    assert read(workspace, "a.txt") == b"hello"
    assert read(workspace, "sub/b.csv") == b"x,y\n"


def test_symlinks_are_refused_wherever_they_are(workspace: Path) -> None:
    with pytest.raises(InvalidPath):
        read(workspace, "leak")
    with pytest.raises(InvalidPath):
        read(workspace, "outside/secret.txt")


def test_missing_files_and_directories_are_not_found(workspace: Path) -> None:
    with pytest.raises(NotFound):
        read(workspace, "nope.txt")
    with pytest.raises(NotFound):
        read(workspace, "sub")
    with pytest.raises(NotFound):
        read(workspace.parent / "missing-workspace", "a.txt")


def test_fifo_is_not_opened(workspace: Path) -> None:
    os.mkfifo(workspace / "pipe")
    with pytest.raises(NotFound):
        read(workspace, "pipe")


def test_listing_has_regular_files_only(workspace: Path) -> None:
    listed = list_files(workspace)
    assert [(f.path, f.size, f.media_type) for f in listed] == [
        ("a.txt", 5, "text/plain"),
        ("sub/b.csv", 4, "text/csv"),
    ]
