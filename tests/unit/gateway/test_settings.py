import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.settings import Settings


def test_empty_import_dir_from_compose_means_unset() -> None:
    assert Settings(import_dir="").import_dir is None


@pytest.mark.parametrize("field", ["data_dir", "import_dir", "packages_dir"])
def test_relative_folders_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="absolute"):
        Settings(**{field: "relative/folder"})


def test_local_mode_unless_a_github_client_is_configured() -> None:
    assert Settings().effective_auth_mode == "local"
    assert Settings(github_client_id="abc").effective_auth_mode == "github"


README = Path(__file__).resolve().parents[3] / "README.md"


def readme_settings() -> set[str]:
    """The names in the first column of the README's settings table."""
    section = README.read_text().split("\n## Settings (environment)\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z0-9_]+)`", row.split("|")[1])}


def test_every_setting_names_its_environment_variable() -> None:
    for field, info in Settings.model_fields.items():
        assert (info.description or "").startswith(f"{field.upper()}: "), field


def test_the_readme_lists_every_setting_and_nothing_else() -> None:
    assert readme_settings() == {field.upper() for field in Settings.model_fields}


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ("0", 0),
        ("5242880", 5 * 1024**2),
        ("500m", 500 * 1024**2),
        ("2g", 2 * 1024**3),
        ("2GB", 2 * 1024**3),
        ("1.5GiB", 3 * 1024**3 // 2),
        (" 64 k ", 64 * 1024),
        ("1t", 1024**4),
    ],
)
def test_the_disk_limit_takes_bytes_or_a_unit(value: str, size: int) -> None:
    assert Settings(sandbox_disk_limit=value).sandbox_disk_limit == size


def test_the_disk_limit_defaults_to_2g() -> None:
    assert Settings().sandbox_disk_limit == 2 * 1024**3


@pytest.mark.parametrize("value", ["", "lots", "-5m", "5x", "m", "1e9", "5 m b"])
def test_a_disk_limit_that_is_not_a_size_is_refused_by_name(value: str) -> None:
    with pytest.raises(ValidationError, match="SANDBOX_DISK_LIMIT must be a number of bytes"):
        Settings(sandbox_disk_limit=value)


def test_the_disk_limit_is_read_from_its_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SANDBOX_DISK_LIMIT", "5m")
    assert Settings().sandbox_disk_limit == 5 * 1024**2


def test_sandbox_images_are_named_after_the_default() -> None:
    settings = Settings(
        sandbox_image="ads/sandbox:1", sandbox_images="gpu = ads/gpu:2, big=ads/big:3"
    )
    assert settings.image_choices == {
        "default": "ads/sandbox:1",
        "gpu": "ads/gpu:2",
        "big": "ads/big:3",
    }
    assert Settings().image_choices == {"default": "ai-data-scientist/sandbox:latest"}


@pytest.mark.parametrize("value", ["gpu", "=ads/x", "GPU=ads/x", "default=ads/x", "a=x,a=y"])
def test_a_bad_sandbox_images_entry_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="SANDBOX_IMAGES"):
        Settings(sandbox_images=value)
