"""Measuring a chat's disk use on a real file system, with what hostile code would leave there:
sparse files, hard links, links out to big host files, trees too large to walk."""

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.sandbox.disk_usage import DiskQuota, measure
from shared.errors import ErrorCode, PayloadTooLarge

MIB = 1024 * 1024


@pytest.fixture
def folders(tmp_path: Path) -> list[Path]:
    workspace, state = tmp_path / "workspace", tmp_path / "state"
    workspace.mkdir()
    state.mkdir()
    return [workspace, state]


def used(folders: list[Path]) -> int:
    measured = measure(folders)
    assert measured.cut is None
    return measured.used_bytes


def write(path: Path, size: int) -> None:
    path.write_bytes(os.urandom(size))


def test_counts_what_both_folders_hold(folders: list[Path]) -> None:
    empty = used(folders)
    write(folders[0] / "data.bin", MIB)
    (folders[0] / "sub" / "deeper").mkdir(parents=True)
    write(folders[0] / "sub" / "deeper" / "more.bin", MIB)
    write(folders[1] / "big_variable", MIB)
    assert 3 * MIB <= used(folders) - empty < 3 * MIB + 64 * 1024


def test_a_missing_folder_counts_nothing(tmp_path: Path) -> None:
    assert measure([tmp_path / "never-made"]).used_bytes == 0


def test_a_sparse_file_counts_what_it_holds_not_its_length(folders: list[Path]) -> None:
    empty = used(folders)
    with (folders[0] / "sparse.bin").open("wb") as f:
        f.truncate(50 * 1024**3)
        f.seek(10 * MIB)
        f.write(b"x")
    assert used(folders) - empty < 64 * 1024


def test_hard_links_count_their_file_once(folders: list[Path]) -> None:
    empty = used(folders)
    write(folders[0] / "data.bin", 2 * MIB)
    (folders[0] / "sub").mkdir()
    for n in range(5):
        os.link(folders[0] / "data.bin", folders[0] / "sub" / f"link{n}")
    assert 2 * MIB <= used(folders) - empty < 2 * MIB + 64 * 1024


def test_symlinks_are_counted_as_themselves_never_followed(
    folders: list[Path], tmp_path: Path
) -> None:
    empty = used(folders)
    host = tmp_path / "host"
    host.mkdir()
    write(host / "big.bin", 4 * MIB)
    (folders[0] / "to-file").symlink_to(host / "big.bin")
    (folders[0] / "to-folder").symlink_to(host)
    (folders[0] / "to-root").symlink_to("/")
    assert used(folders) - empty < 64 * 1024


def test_a_walk_past_its_bounds_says_it_was_cut(folders: list[Path]) -> None:
    for n in range(50):
        write(folders[0] / f"f{n}", 4096)
    cut = measure(folders, max_entries=10)
    assert cut.cut == "entries"
    assert cut.used_bytes < used(folders)

    deep = folders[1]
    for _ in range(5):
        deep = deep / "d"
    deep.mkdir(parents=True)
    write(deep / "hidden.bin", MIB)
    shallow = measure(folders, max_depth=3)
    assert shallow.cut == "depth"
    assert shallow.used_bytes < used(folders) - MIB

    assert measure(folders, time_limit_s=0).cut == "time"


def test_under_the_limit_a_run_is_measured_without_a_warning(folders: list[Path]) -> None:
    usage = asyncio.run(DiskQuota(5 * MIB).after_run("chat", folders, True))
    assert usage is not None
    assert (usage.over_limit, usage.warning, usage.limit_bytes) == (False, None, 5 * MIB)


def test_past_the_limit_a_run_warns_with_use_limit_and_what_to_do(folders: list[Path]) -> None:
    write(folders[0] / "data.bin", 3 * MIB)
    usage = asyncio.run(DiskQuota(2 * MIB).after_run("chat", folders, True))
    assert usage is not None
    assert usage.over_limit
    assert usage.used_bytes >= 3 * MIB
    assert usage.warning is not None
    for words in ("3.0 MiB", "2.0 MiB", "SANDBOX_DISK_LIMIT", "delete files", "restart"):
        assert words in usage.warning


def test_a_run_that_changed_nothing_reuses_the_chats_recent_measure(folders: list[Path]) -> None:
    quota = DiskQuota(5 * MIB)

    async def runs() -> list[int]:
        first = await quota.after_run("chat", folders, changed=True)
        write(folders[0] / "data.bin", MIB)  # behind the executor's back
        unchanged = await quota.after_run("chat", folders, changed=False)
        other_chat = await quota.after_run("other", folders, changed=False)
        changed = await quota.after_run("chat", folders, changed=True)
        return [u.used_bytes for u in (first, unchanged, other_chat, changed) if u is not None]

    first, unchanged, other_chat, changed = asyncio.run(runs())
    assert unchanged == first
    assert other_chat == changed >= first + MIB


def test_no_limit_measures_nothing(folders: list[Path]) -> None:
    quota = DiskQuota(0)
    assert asyncio.run(quota.after_run("chat", folders, True)) is None
    assert asyncio.run(quota.room_for_upload(folders, 10**12)) is None


def test_uploads_are_refused_past_the_limit_or_when_they_would_pass_it(
    folders: list[Path],
) -> None:
    write(folders[0] / "data.bin", MIB)
    quota = DiskQuota(2 * MIB)
    room = asyncio.run(quota.room_for_upload(folders, MIB // 2))
    assert room is not None and MIB // 2 < room <= MIB

    with pytest.raises(PayloadTooLarge) as crossing:
        asyncio.run(quota.room_for_upload(folders, 2 * MIB))
    assert crossing.value.code is ErrorCode.DISK_QUOTA_EXCEEDED
    assert "this upload of 2.0 MiB would take it past" in crossing.value.detail

    write(folders[1] / "variable", 2 * MIB)
    with pytest.raises(PayloadTooLarge) as full:
        asyncio.run(quota.room_for_upload(folders, None))
    assert full.value.code is ErrorCode.DISK_QUOTA_EXCEEDED
    for words in ("3.0 MiB", "past its disk limit of 2.0 MiB", "delete files"):
        assert words in full.value.detail


def test_an_upload_of_unknown_size_is_cut_once_it_passes_the_room_left() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b"x" * 1000

    async def read(room: int | None) -> int:
        return sum([len(chunk) async for chunk in DiskQuota(MIB).within(chunks(), room)])

    assert asyncio.run(read(None)) == 10_000
    assert asyncio.run(read(10_000)) == 10_000
    with pytest.raises(PayloadTooLarge) as cut:
        asyncio.run(read(4_500))
    assert cut.value.code is ErrorCode.DISK_QUOTA_EXCEEDED
