from pathlib import Path

import pytest

from gateway.uploads import resolve_import, safe_filename, variable_name
from shared.errors import Forbidden, NotFound


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

    assert resolve_import(root, "ok.csv") == (root / "ok.csv").resolve()
    assert resolve_import(root, str(root / "ok.csv")) == (root / "ok.csv").resolve()
    for outside in ["../secret.csv", str(tmp_path / "secret.csv"), "link.csv", "/etc/passwd"]:
        with pytest.raises(Forbidden):
            resolve_import(root, outside)
    with pytest.raises(NotFound):
        resolve_import(root, "missing.csv")
    with pytest.raises(Forbidden, match="IMPORT_DIR"):
        resolve_import(None, "ok.csv")
