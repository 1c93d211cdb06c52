from datetime import UTC, datetime

import pytest

from shared.errors import InvalidPath
from shared.ids import is_chat_id, new_chat_id, workspace_parts


def test_new_chat_id_has_utc_stamp_and_suffix() -> None:
    chat_id = new_chat_id(datetime(2025, 2, 2, 16, 21, 45, tzinfo=UTC))
    assert chat_id.startswith("chat_20250202_162145_")
    assert is_chat_id(chat_id)
    assert len({new_chat_id() for _ in range(50)}) == 50


@pytest.mark.parametrize("value", ["chat_20250202_162145", "chat_20250202_162145_x7k2"])
def test_brief_and_new_ids_are_valid(value: str) -> None:
    assert is_chat_id(value)


@pytest.mark.parametrize(
    "value", ["", "chat_", "chat_2025_1", "../chat_20250202_162145", "chat_20250202_162145_X7K2"]
)
def test_malformed_ids_are_refused(value: str) -> None:
    assert not is_chat_id(value)


@pytest.mark.parametrize(
    "path", ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a\\b", "a\x00"]
)
def test_paths_that_could_leave_the_workspace_are_refused(path: str) -> None:
    with pytest.raises(InvalidPath):
        workspace_parts(path)


def test_nested_relative_path_splits() -> None:
    assert workspace_parts("out/data.csv") == ["out", "data.csv"]
