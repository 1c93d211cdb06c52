import os
from pathlib import Path

import pytest

from gateway.sandbox.upload_models import UploadOptions, upload_options
from gateway.sandbox.uploads import (
    StagedUpload,
    numbered,
    open_import,
    refuse_traversal,
    safe_filename,
    variable_name,
)
from shared.errors import Forbidden, InvalidInput, InvalidPath, NotFound, Unprocessable


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("rentals.csv", "rentals.csv"),
        ("TD project/tdi rentals.csv", "tdi_rentals.csv"),
        ("..\\..\\evil.csv", "evil.csv"),
        ("../../etc/passwd", "passwd"),
        ("", "upload.csv"),
        (None, "upload.csv"),
        ("...", "upload.csv"),
    ],
)
def test_safe_filename(given: str | None, expected: str) -> None:
    assert safe_filename(given) == expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("tdi_rentals_dataset.csv", "tdi_rentals_dataset"),
        ("TD rentals-2024.csv", "td_rentals_2024"),
        ("2024.csv", "df_2024"),
        ("class.csv", "df_class"),
        ("___.csv", "df"),
    ],
)
def test_variable_name_is_an_identifier(filename: str, expected: str) -> None:
    name = variable_name(filename)
    assert name == expected
    assert name.isidentifier()


def test_import_is_confined_to_import_dir(tmp_path: Path) -> None:
    root = tmp_path / "imports"
    root.mkdir()
    (root / "ok.csv").write_text("a\n1\n")
    (tmp_path / "secret.csv").write_text("s\n")
    (root / "link.csv").symlink_to(tmp_path / "secret.csv")
    os.mkfifo(root / "pipe.csv")

    for given in ["ok.csv", str(root / "ok.csv")]:
        imported = open_import(root, given)
        with imported.file as f:
            assert (f.read(), imported.name, imported.size) == (b"a\n1\n", "ok.csv", 4)
    for outside in ["../secret.csv", str(tmp_path / "secret.csv"), "link.csv", "/etc/passwd"]:
        with pytest.raises(Forbidden):
            open_import(root, outside)
    with pytest.raises(NotFound):
        open_import(root, "missing.csv")
    with pytest.raises(InvalidInput):
        open_import(root, "pipe.csv")
    with pytest.raises(Forbidden, match="IMPORT_DIR"):
        open_import(None, "ok.csv")


def test_import_checks_the_file_it_opened_not_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The link is retargeted outside between the check and the open: what was opened is refused."""
    root = tmp_path / "imports"
    root.mkdir()
    (root / "ok.csv").write_text("a\n")
    (tmp_path / "secret.csv").write_text("s\n")
    (root / "data.csv").symlink_to(root / "ok.csv")
    real_open = os.open

    def retargeting_open(path, flags, mode=0o777, **kwargs):  # type: ignore[no-untyped-def]
        (root / "data.csv").unlink()
        (root / "data.csv").symlink_to(tmp_path / "secret.csv")
        return real_open(path, flags, mode, **kwargs)

    monkeypatch.setattr(os, "open", retargeting_open)
    with pytest.raises(Forbidden):
        open_import(root, "data.csv")


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file outside the workspace that an upload must never touch."""
    path = tmp_path / "canary"
    path.write_text("root's")
    path.chmod(0o600)
    return path


def test_staged_upload_never_acts_on_a_link_put_in_its_place(tmp_path: Path, canary: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    before = canary.stat()
    staged = StagedUpload(workspace, "data.csv")
    staged.write(b"a\n1\n")
    # User code swaps the staged name for a link to the canary.
    os.rename(workspace / staged.name, workspace / "renamed-by-user-code")
    (workspace / staged.name).symlink_to(canary)
    staged.hand_to_sandbox(12345)
    staged.keep_as("data.csv")
    staged.close()
    after = canary.stat()
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid,
        before.st_gid,
        before.st_mode,
    )
    assert canary.read_text() == "root's"
    assert (workspace / "data.csv").is_symlink()
    assert (workspace / "renamed-by-user-code").read_bytes() == b"a\n1\n"
    if os.getuid() == 0:
        assert (workspace / "renamed-by-user-code").stat().st_uid == 12345


def test_staged_upload_refuses_a_name_that_exists_and_discards_cleanly(
    tmp_path: Path, canary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    monkeypatch.setattr("secrets.token_hex", lambda _: "fixed")
    (workspace / ".upload-fixed-data.csv").symlink_to(canary)
    with pytest.raises(FileExistsError):
        StagedUpload(workspace, "data.csv")
    (workspace / ".upload-fixed-data.csv").unlink()
    staged = StagedUpload(workspace, "data.csv")
    staged.write(b"partial")
    staged.discard()
    staged.close()
    assert os.listdir(workspace) == []
    assert canary.read_text() == "root's"


def stage(workspace: Path, name: str, data: bytes) -> StagedUpload:
    staged = StagedUpload(workspace, name)
    staged.write(data)
    staged.hand_to_sandbox(os.getuid())
    return staged


def test_keep_numbers_a_taken_name_and_replaces_only_when_asked(tmp_path: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "data.csv").write_text("mine")
    (workspace / "folder.csv").mkdir()
    kept = []
    for name, overwrite, avoid in [
        ("data.csv", False, set()),
        ("data.csv", False, set()),
        ("data.csv", True, {"data.csv"}),  # the same upload's own file is never replaced
        ("folder.csv", True, set()),  # a folder never is
        ("data.csv", True, set()),
    ]:
        staged = stage(workspace, name, f"{len(kept)}".encode())
        kept.append(staged.keep(name, overwrite, avoid))
        staged.close()
    assert kept == ["data_2.csv", "data_3.csv", "data_4.csv", "folder_2.csv", "data.csv"]
    assert (workspace / "data.csv").read_text() == "4"
    assert (workspace / "data_2.csv").read_text() == "0"
    assert sorted(p.name for p in workspace.iterdir()) == [
        "data.csv",
        "data_2.csv",
        "data_3.csv",
        "data_4.csv",
        "folder.csv",
        "folder_2.csv",
    ]


def test_keep_links_no_link_user_code_put_in_its_place(tmp_path: Path, canary: Path) -> None:
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "data.csv").symlink_to(canary)
    staged = stage(workspace, "data.csv", b"new")
    assert staged.keep("data.csv", False, set()) == "data_2.csv"
    staged.close()
    assert canary.read_text() == "root's"
    assert (workspace / "data.csv").is_symlink()


@pytest.mark.parametrize(
    ("filename", "expected"),
    [("sales.csv", "sales_2.csv"), ("archive.tar.gz", "archive.tar_2.gz"), ("README", "README_2")],
)
def test_numbered(filename: str, expected: str) -> None:
    assert numbered(filename, 2) == expected


@pytest.mark.parametrize("name", ["../x.csv", "a/../../x.csv", "..\\x.csv", "/etc/passwd"])
def test_a_name_that_leaves_its_folder_is_refused(name: str) -> None:
    with pytest.raises(InvalidPath):
        refuse_traversal(name)


@pytest.mark.parametrize("name", ["x.csv", "folder/x.csv", "C:\\Users\\me\\x.csv", "..x.csv", None])
def test_a_plain_or_nested_name_is_taken(name: str | None) -> None:
    refuse_traversal(name)


def test_upload_options_take_only_what_the_schema_lists() -> None:
    assert upload_options("tab", "latin-1", True) == UploadOptions("\t", "latin-1", True)
    assert upload_options(";", None, False).delimiter == ";"
    for delimiter, encoding in [(";;", None), ('"', None), (None, "zlib"), (None, "UTF8")]:
        with pytest.raises(Unprocessable):
            upload_options(delimiter, encoding, False)
