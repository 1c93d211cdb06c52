"""POST /load on a real executor: each data format becomes DataFrames with the pandas call that
made them; a file that does not parse binds nothing and says why; names never clash."""

import json
from typing import Any

import pytest

from sandbox_runner import loaders
from tests import data_files
from tests.unit.sandbox_runner.conftest import Executor


def load(executor: Executor, name: str, data: bytes, **fields: Any) -> dict[str, Any]:
    (executor.workspace / name).write_bytes(data)
    variable = fields.pop("variable", "data")
    response = executor.client.post(
        "/load", json={"path": name, "variable": variable, **fields}, timeout=60
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_two_sheet_workbook_is_a_dataframe_per_sheet(executor: Executor) -> None:
    result = load(executor, "book.xlsx", data_files.two_sheet_workbook(), format="excel")
    assert result["error"] is None
    sales, costs = result["datasets"]
    assert (sales["variable"], sales["sheet"], sales["shape"]) == ("data_sales", "Sales", [3, 2])
    assert (costs["variable"], costs["sheet"]) == ("data_costs_2024", "Costs 2024")
    assert costs["dtypes"] == {"item": "str", "cost": "float64", "paid": "bool"}
    assert costs["head"][0] == {"item": "rent", "cost": 1200.5, "paid": True}
    assert sales["reader"] == "read_excel" and sales["options"]["sheet_name"] == "Sales"
    assert executor.value("int(data_sales.units.sum())") == "12"
    executor.kill_kernel()
    assert executor.value("data_costs_2024.shape") == "(2, 3)"  # checkpointed


def test_an_xls_workbook_loads_through_xlrd(executor: Executor) -> None:
    result = load(executor, "budget.xls", data_files.xls(), format="excel", variable="budget")
    [budget] = result["datasets"]
    assert (budget["variable"], budget["shape"], budget["sheet"]) == ("budget", [2, 2], "Budget")
    assert executor.value("int(budget.amount.sum())") == "42"


def test_parquet_feather_and_json_lines(executor: Executor) -> None:
    [cities] = load(executor, "c.parquet", data_files.parquet(), format="parquet")["datasets"]
    assert cities["shape"] == [3, 2] and cities["reader"] == "read_parquet"
    assert cities["head"][2] == {"city": "Lima", "temp": 22.25}
    [flags] = load(
        executor, "f.feather", data_files.feather_file(), format="feather", variable="flags"
    )["datasets"]
    assert flags["dtypes"] == {"id": "int64", "ok": "bool"}
    [visits] = load(
        executor, "v.jsonl", data_files.json_lines(), format="jsonl", variable="visits"
    )["datasets"]
    assert visits["shape"] == [3, 2] and visits["options"] == {
        "sep": None,
        "encoding": None,
        "sheet_name": None,
        "orient": None,
        "lines": True,
    }
    assert executor.value("int(visits.visits.isna().sum())") == "1"


@pytest.mark.parametrize(
    ("document", "orient", "shape"),
    [
        ([{"a": 1, "b": "x"}, {"a": 2}], "records", [2, 2]),
        ([[1, 2], [3, 4], [5, 6]], "values", [3, 2]),
        ({"a": [1, 2], "b": [3, 4]}, "columns", [2, 2]),
        ({"columns": ["x", "y"], "data": [[1, 2]]}, "split", [1, 2]),
    ],
)
def test_table_shaped_json(
    executor: Executor, document: Any, orient: str, shape: list[int]
) -> None:
    [frame] = load(executor, "t.json", json.dumps(document).encode(), format="json")["datasets"]
    assert (frame["options"]["orient"], frame["shape"]) == (orient, shape)


def test_a_latin1_csv_with_semicolons_is_detected_or_told(executor: Executor) -> None:
    [towns] = load(
        executor, "towns.csv", data_files.latin1_semicolons(), format="csv", variable="towns"
    )["datasets"]
    assert towns["columns"] == ["ville", "prix", "note"]
    assert towns["head"][0] == {"ville": "Montréal", "prix": "3,5", "note": "élevé"}
    assert (towns["options"]["sep"], towns["options"]["encoding"]) == (";", "latin-1")
    # Told: a wrong delimiter makes one column, not an error.
    [told] = load(
        executor,
        "towns.csv",
        data_files.latin1_semicolons(),
        format="csv",
        variable="told",
        delimiter=",",
        encoding="cp1252",
    )["datasets"]
    assert told["options"]["encoding"] == "cp1252" and told["options"]["sep"] is None
    assert told["shape"][1] != 3


def test_a_file_that_does_not_parse_binds_nothing_and_says_why(executor: Executor) -> None:
    executor.run("data = 'old'")
    for name, fmt in [
        ("fake.parquet", "parquet"),
        ("fake.xlsx", "excel"),
        ("fake.xls", "excel"),
        ("fake.feather", "feather"),
        ("fake.json", "json"),
        ("fake.csv", "csv"),
    ]:
        result = load(executor, name, data_files.pdf_like(), format=fmt, overwrite=True)
        assert result["datasets"] == [], name
        assert result["error"].startswith("the file could not be read as"), result
    scalar = load(executor, "n.json", b"42", format="json", overwrite=True)
    assert "not table-shaped" in scalar["error"]
    lines = load(executor, "l.jsonl", b"[1, 2]\n", format="jsonl", overwrite=True)
    assert "JSON object" in lines["error"]
    assert executor.value("data") == "'old'"


def test_a_workbook_past_the_sheet_limit_is_not_loaded(executor: Executor) -> None:
    sheets = {f"S{i}": [("a",), (i,)] for i in range(loaders.MAX_SHEETS + 1)}
    result = load(executor, "many.xlsx", data_files.xlsx(sheets), format="excel")
    assert result["datasets"] == []
    assert f"{loaders.MAX_SHEETS + 1} sheets" in result["error"]
    assert executor.run("data_s0").errors[0].ename == "NameError"


def test_a_workbook_that_would_unpack_too_far_is_not_opened(executor: Executor) -> None:
    claimed = data_files.zip_claiming(loaders.MAX_UNPACKED_BYTES + 1)
    result = load(executor, "bomb.xlsx", claimed, format="excel")
    assert result["datasets"] == []
    claimed_size = loaders.MAX_UNPACKED_BYTES + 1
    assert result["error"].startswith(f"the workbook would unpack to {claimed_size} bytes")


def test_taken_names_get_suffixes_unless_overwrite(executor: Executor) -> None:
    executor.run("sales = 1")
    csv = b"a,b\n1,2\n"
    assert load(executor, "s.csv", csv, format="csv", variable="sales")["datasets"][0][
        "variable"
    ] == ("sales_2")
    assert load(executor, "s.csv", csv, format="csv", variable="sales")["datasets"][0][
        "variable"
    ] == ("sales_3")
    # A builtin is never hidden, even with overwrite.
    assert load(executor, "s.csv", csv, format="csv", variable="list", overwrite=True)["datasets"][
        0
    ]["variable"] == ("list_2")
    replaced = load(executor, "s.csv", csv, format="csv", variable="sales", overwrite=True)
    assert replaced["datasets"][0]["variable"] == "sales"
    assert executor.value("sales.shape") == "(1, 2)"
    # What an earlier file of the same upload bound is kept, overwrite or not.
    kept = load(
        executor, "s.csv", csv, format="csv", variable="sales", overwrite=True, keep=["sales"]
    )
    assert kept["datasets"][0]["variable"] == "sales_4"
    # Two sheets whose names make the same identifier.
    book = data_files.xlsx({"Q 1": [("a",), (1,)], "q-1": [("a",), (2,)]})
    names = [d["variable"] for d in load(executor, "b.xlsx", book, format="excel")["datasets"]]
    assert names == ["data_q_1", "data_q_1_2"]


def test_the_request_is_checked(executor: Executor) -> None:
    (executor.workspace / "ok.csv").write_text("a\n1\n")
    post = executor.client.post
    for body in (
        {"path": "ok.csv", "variable": "class", "format": "csv"},
        {"path": "ok.csv", "variable": "_x", "format": "csv"},
        {"path": "ok.csv", "variable": "v", "format": "pdf"},
        {"path": "ok.csv", "variable": "v", "format": "csv", "delimiter": ";;"},
        {"path": "ok.csv", "variable": "v", "format": "csv", "encoding": "utf 8; rm"},
    ):
        assert post("/load", json=body).status_code == 422, body
    response = post("/load", json={"path": "../ok.csv", "variable": "v", "format": "csv"})
    assert response.status_code == 400
