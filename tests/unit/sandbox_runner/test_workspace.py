"""The workspace diff on its own: symlinks, nesting, and a walk cut short."""

import json
import os
from pathlib import Path

from sandbox_runner.workspace import changes, clear, snapshot


def test_nested_files_are_found_and_symlinks_skipped(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "deep.txt").write_text("x")
    (tmp_path / "top.txt").write_text("xy")
    (tmp_path / "link.txt").symlink_to(tmp_path / "top.txt")
    (tmp_path / "linkdir").symlink_to(tmp_path / "a")
    files = snapshot(str(tmp_path)).files
    assert {path: size for path, (_, size) in files.items()} == {"a/b/deep.txt": 1, "top.txt": 2}


def test_a_cut_walk_reports_no_changes_it_cannot_see(tmp_path: Path) -> None:
    for name in ("a", "b", "c", "d"):
        (tmp_path / name).write_text(name)
    before = snapshot(str(tmp_path), max_entries=2)
    assert set(before.files) == {"a", "b"}
    (tmp_path / "a").write_text("changed")
    (tmp_path / "0").write_text("new, sorts first")
    after = snapshot(str(tmp_path), max_entries=2)
    # "b" fell out of the cut walk; that is not a deletion.
    assert [(c.path, c.change) for c in changes(before, after)] == [
        ("0", "created"),
        ("a", "modified"),
    ]


def test_names_that_are_not_utf8_are_reported_and_serialize(tmp_path: Path) -> None:
    before = snapshot(str(tmp_path))
    (tmp_path / os.fsdecode(b"bad \xff.csv")).write_text("x")
    reported = changes(before, snapshot(str(tmp_path)))
    assert [(c.path, c.change) for c in reported] == [("bad \ufffd.csv", "created")]
    assert "bad \ufffd.csv" in json.loads(reported[0].model_dump_json())["path"]


def test_clear_empties_any_tree_and_follows_no_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    root = tmp_path / "workspace"
    root.mkdir()
    (root / "link").symlink_to(outside)
    (root / os.fsdecode(b"bad \xff")).write_text("x")
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(1200):
        os.mkdir("d", dir_fd=fd)
        below = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = below
    os.close(fd)
    clear(str(root))
    assert os.listdir(root) == []
    assert (outside / "keep.txt").read_text() == "kept"
