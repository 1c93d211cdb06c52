"""Deleting a chat's folders: any depth, any names, never through a link."""

import os
from pathlib import Path

import pytest

from gateway.sandbox import folders as chat_folders


def make_deep_tree(top: Path, depth: int) -> None:
    """`depth` nested folders, made relative to descriptors (the path is too long for the OS)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(os.open("deepest.txt", os.O_WRONLY | os.O_CREAT, 0o600, dir_fd=fd))
    os.close(fd)


def _open_targets() -> list[str]:
    targets = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            targets.append(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed since it was listed
    return targets


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder the chat must never touch, with a file in it."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "canary.txt").write_text("still here")
    return folder


@pytest.fixture
def chat(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "chat"
    workspace = root / "workspace"
    (workspace / "sub" / "empty").mkdir(parents=True)
    (workspace / "sub" / "a.csv").write_text("a\n")
    (workspace / os.fsdecode(b"bad \xff name")).write_text("x")
    (workspace / "link_to_outside").symlink_to(outside)
    (workspace / "sub" / "link_to_canary").symlink_to(outside / "canary.txt")
    os.mkfifo(workspace / "pipe")
    make_deep_tree(workspace, 3000)
    return root


def test_clear_empties_the_folder_and_keeps_it(chat: Path, outside: Path) -> None:
    chat_folders.clear(chat / "workspace")
    assert os.listdir(chat / "workspace") == []
    assert (outside / "canary.txt").read_text() == "still here"


def test_remove_tree_removes_everything_and_follows_no_link(chat: Path, outside: Path) -> None:
    chat_folders.remove_tree(chat)
    assert not chat.exists()
    assert (outside / "canary.txt").read_text() == "still here"
    # No descriptor of the walk is left open. Counted by target, not in total: the test process
    # (a pytest-xdist worker) may close descriptors of earlier tests meanwhile.
    assert not [fd for fd in _open_targets() if fd.startswith(str(chat))]


def test_missing_folders_are_nothing_to_do(tmp_path: Path) -> None:
    chat_folders.remove_tree(tmp_path / "never-made")
    with pytest.raises(FileNotFoundError):
        chat_folders.clear(tmp_path / "never-made")


def test_the_top_folder_is_not_followed_if_it_is_a_link(tmp_path: Path, outside: Path) -> None:
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(NotADirectoryError):
        chat_folders.clear(tmp_path / "link")
    assert (outside / "canary.txt").exists()


def test_a_folder_moved_during_the_walk_makes_it_start_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the walk is inside a/b, b is moved to the top: climbing back up through ".." would
    land in the top, not in a; the walk notices the parent is not the one it left and starts
    again."""
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f").write_text("x")
    real_open = os.open
    moved = False

    def moving_open(path, flags, mode=0o777, *, dir_fd=None):  # type: ignore[no-untyped-def]
        nonlocal moved
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        if path == "b" and not moved:
            moved = True
            os.rename(top / "a" / "b", top / "moved")
        return fd

    walks = []
    real_walk = chat_folders._empty_once

    def counted_walk(top_fd: int, device: int) -> bool:
        walks.append(real_walk(top_fd, device))
        return walks[-1]

    monkeypatch.setattr(os, "open", moving_open)
    monkeypatch.setattr(chat_folders, "_empty_once", counted_walk)
    chat_folders.clear(top)
    assert walks == [False, True]
    assert os.listdir(top) == []


def test_chown_tree_hands_everything_over_and_follows_no_link(
    tmp_path: Path, outside: Path
) -> None:
    # The suite runs as root (as CI does); chown to any uid works.
    workspace = tmp_path / "workspace"
    (workspace / "sub").mkdir(parents=True)
    (workspace / "sub" / "a.csv").write_text("a\n")
    (workspace / "link_to_outside").symlink_to(outside)
    (workspace / "sub" / "link_to_canary").symlink_to(outside / "canary.txt")
    os.mkfifo(workspace / "pipe")
    before = {p: p.stat().st_uid for p in [outside, *outside.iterdir()]}

    chat_folders.chown_tree(workspace, 123456)

    inside = [workspace, *workspace.rglob("*")]
    assert {p.lstat().st_uid for p in inside} == {123456}
    assert {p.lstat().st_gid for p in inside} == {123456}
    assert {p: p.stat().st_uid for p in [outside, *outside.iterdir()]} == before


def test_chown_tree_gives_up_on_a_pathologically_deep_tree(tmp_path: Path) -> None:
    make_deep_tree(tmp_path, 200)
    with pytest.raises(chat_folders.FolderNotCleared, match="deeper than"):
        chat_folders.chown_tree(tmp_path, 123456)
