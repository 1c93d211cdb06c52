"""Workspace reads on a real file system, with the symlinks hostile code would plant."""

import os
from pathlib import Path

import pytest

from gateway.sandbox import folders as chat_folders
from gateway.sandbox.files import list_files, open_file, read_chunks, walk
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
    fd, st = open_file(workspace, path)
    try:
        return b"".join(read_chunks(fd, st.st_size))
    finally:
        os.close(fd)


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
    assert [(f.path, f.href, f.size, f.media_type) for f in listed] == [
        ("a.txt", "a.txt", 5, "text/plain"),
        ("sub/b.csv", "sub/b.csv", 4, "text/csv"),
    ]
    assert walk(workspace).cut is None


def test_a_file_grown_while_sent_is_cut_at_the_announced_size(workspace: Path) -> None:
    fd, st = open_file(workspace, "a.txt")
    (workspace / "a.txt").write_text("hello, and much more")
    try:
        assert b"".join(read_chunks(fd, st.st_size)) == b"hello"
    finally:
        os.close(fd)


def test_names_that_are_not_utf8_are_shown_and_read_exactly(workspace: Path) -> None:
    raw = b"caf\xe9 \xff.csv"
    (workspace / "sub" / os.fsdecode(raw)).write_bytes(b"bytes")
    (workspace / "sub" / "été.txt").write_text("ok")
    listed = {f.path: f.href for f in list_files(workspace)}
    assert listed["sub/caf\ufffd \ufffd.csv"] == "sub/caf%E9%20%FF.csv"
    assert listed["sub/été.txt"] == "sub/%C3%A9t%C3%A9.txt"
    assert read(workspace, os.fsdecode(b"sub/" + raw)) == b"bytes"


def test_the_walk_counts_every_entry_not_only_files(workspace: Path) -> None:
    links = workspace / "links"
    links.mkdir()
    for i in range(500):
        (links / f"l{i:04}").symlink_to("/etc/passwd")
    (workspace / "z.txt").write_text("z")
    listing = walk(workspace, max_entries=100)
    assert listing.cut == "entries"
    assert len(listing.files) <= 2


def test_deep_trees_are_cut_at_the_depth_limit_without_error(workspace: Path) -> None:
    fd = os.open(workspace, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1200):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(os.open("deepest.txt", os.O_WRONLY | os.O_CREAT, dir_fd=fd))
    os.close(fd)
    try:
        listing = walk(workspace, max_depth=5)
        assert listing.cut == "depth"
        assert [f.path for f in listing.files] == ["a.txt", "sub/b.csv"]
    finally:
        # pytest's own clean-up of old temporary folders recurses, and would fail on this tree.
        chat_folders.remove_tree(workspace / "d")


def test_the_walk_stops_at_its_deadline(workspace: Path) -> None:
    listing = walk(workspace, time_limit_s=-1)
    assert listing.cut == "time"
    assert listing.files == []


def test_a_directory_swapped_for_a_link_is_not_entered(workspace: Path, monkeypatch) -> None:
    """The race, made certain: between reading `sub` as a directory and opening it, it becomes a
    symlink to a folder outside; the walk must skip it, not list the outside."""
    real_scandir = os.scandir

    def swapping_scandir(fd):  # type: ignore[no-untyped-def]
        entries = list(real_scandir(fd))
        if any(e.name == "sub" for e in entries):
            os.rename(workspace / "sub", workspace.parent / "moved")
            (workspace / "sub").symlink_to(workspace.parent)
        return _Entries(entries)

    monkeypatch.setattr(os, "scandir", swapping_scandir)
    assert [f.path for f in list_files(workspace)] == ["a.txt"]


class _Entries(list):
    def __enter__(self) -> "_Entries":
        return self

    def __exit__(self, *exc: object) -> None:
        pass
