"""The checkpoint file format and the change scan, without a kernel."""

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sandbox_runner import checkpoint_files as files
from sandbox_runner.changes import scan_cell


def _round_trip(tmp_path: Path, value: object) -> object:
    files.write_data(str(tmp_path), "v", value)
    return files.read_data(files.data_path(str(tmp_path), "v"))


def test_a_mixed_frame_comes_back_with_its_dtypes_and_index(tmp_path: Path) -> None:
    n = 20_000  # past the size where object strings go through arrow
    frame = pd.DataFrame(
        {
            "i": np.arange(n),
            "f": np.linspace(0, 1, n),
            "b": np.arange(n) % 2 == 0,
            "t": pd.date_range("2024-01-01", periods=n, freq="min"),
            "c": pd.Categorical(["x", "y"] * (n // 2)),
            "str": [f"v{i}" for i in range(n)],
        },
        index=pd.RangeIndex(100, 100 + n, name="row"),
    )
    strings = [f"s{i}" if i % 7 else None for i in range(n)]
    frame["s"] = pd.Series(strings, index=frame.index, dtype=object)
    back = _round_trip(tmp_path, frame)
    pd.testing.assert_frame_equal(back, frame)
    assert back["s"].dtype == object and back["s"].iloc[0] is None
    back.iloc[0, 0] = -1  # rebuilt on writable memory
    assert back.iloc[0, 0] == -1


def test_object_arrays_that_are_not_all_strings_keep_their_items(tmp_path: Path) -> None:
    n = 20_000
    for items in (
        [b"raw"] + ["text"] * (n - 1),  # arrow would turn the bytes into str
        [float("nan")] + ["text"] * (n - 1),
        [1] + ["text"] * (n - 1),
    ):
        back = _round_trip(tmp_path, np.array(items, dtype=object))
        assert type(back[0]) is type(items[0]) and list(back[1:3]) == ["text", "text"]


def test_shared_references_inside_one_variable_are_kept(tmp_path: Path) -> None:
    inner = [1]
    back = _round_trip(tmp_path, {"a": inner, "b": inner})
    assert back["a"] is back["b"]


def test_a_damaged_file_is_refused(tmp_path: Path) -> None:
    files.write_data(str(tmp_path), "v", np.arange(1000))
    path = Path(files.data_path(str(tmp_path), "v"))
    data = path.read_bytes()
    for damaged in (b"", b"garbage" * 10, data[:-5], data[:50] + data[60:]):
        path.write_bytes(damaged)
        with pytest.raises(files.CorruptCheckpoint):
            files.read_data(str(path))


def _scan(code: str, namespace: dict | None = None) -> set[str]:
    tree = ast.parse(code)
    scan = scan_cell(tree, code, namespace or {})
    return scan.names | {n for n, methods in scan.method_calls.items()}


@pytest.mark.parametrize(
    "code",
    ["len(df)", "print(df)", "df", "df.shape", "df.shape[0] + 1", "f'{df}'", "x[df]", "df > 1"],
)
def test_reading_positions_are_not_candidates(code: str) -> None:
    assert "df" not in _scan(code)


@pytest.mark.parametrize(
    "code",
    [
        "df.append(1)",
        "df['k'] = 1",
        "df.a = 1",
        "del df['k']",
        "df[0] += 1",
        "f(df)",
        "for r in df: pass",
        "y = df",
        "df.x.fillna(0, inplace=True)",
        "def g():\n    global df\n    df = 1",
        "[r.append(1) for r in df]",
    ],
)
def test_possibly_changing_positions_are_candidates(code: str) -> None:
    assert "df" in _scan(code)


def test_a_shadowed_builtin_is_not_trusted_to_only_read() -> None:
    assert "df" in _scan("len(df)", {"len": print})
    assert "df" in _scan("len = print\nlen(df)")


def test_method_calls_are_recorded_for_the_pandas_check_unless_inplace() -> None:
    code = "df.head()\ns.sort_values(inplace=True)\nt.sort_values(inplace=False)"
    scan = scan_cell(ast.parse(code), code, {})
    assert scan.method_calls == {"df": {"head"}, "t": {"sort_values"}}
    assert "s" in scan.names


def test_exec_and_globals_make_every_variable_a_candidate() -> None:
    for code in ("exec('x = 1')", "globals()['x'] = 1", "import __main__"):
        assert scan_cell(ast.parse(code), code, {}).everything, code
