import pytest
from pydantic import ValidationError

from gateway.settings import Settings


def test_empty_import_dir_from_compose_means_unset() -> None:
    assert Settings(import_dir="").import_dir is None


@pytest.mark.parametrize("field", ["data_dir", "import_dir"])
def test_relative_folders_are_refused(field: str) -> None:
    with pytest.raises(ValidationError, match="absolute"):
        Settings(**{field: "relative/folder"})


def test_local_mode_unless_a_github_client_is_configured() -> None:
    assert Settings().effective_auth_mode == "local"
    assert Settings(github_client_id="abc").effective_auth_mode == "github"
