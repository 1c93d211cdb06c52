"""The variable routes, reset and CSV loading, as the gateway uses them."""

import concurrent.futures
import io
import os

import pandas as pd

from tests.unit.sandbox_runner.conftest import Executor

SETUP = """
import math
import pandas as pd
n = 5
text = 'hi'
numbers = list(range(1000))
df = pd.DataFrame({'a': [1, 2, 3], 'b': ['x', 'y', 'z']})
gen = (i for i in [])
def f(x, y=1):
    return x
"""


def test_variable_list_describes_each_variable(executor: Executor) -> None:
    assert executor.run(SETUP).end.status == "ok"
    listed = {v["name"]: v for v in executor.client.get("/variables").json()["variables"]}
    assert set(listed) == {"n", "text", "numbers", "df", "gen", "f"}  # no modules
    frame = listed["df"]
    assert frame["type"] == "pandas.DataFrame" and frame["shape"] == [3, 2]
    assert frame["persisted"] is True
    assert frame["size_bytes"] == (executor.state / "df.pkl").stat().st_size
    assert frame["preview"] == "DataFrame 3\u00d72: a, b"
    assert listed["n"] == {
        "name": "n",
        "type": "int",
        "shape": None,
        "size_bytes": (executor.state / "n.pkl").stat().st_size,
        "persisted": True,
        "not_persisted_reason": None,
        "preview": "5",
    }
    assert listed["numbers"]["shape"] is None
    assert listed["numbers"]["preview"].startswith("list of 1000: [0, 1, 2")
    assert len(listed["numbers"]["preview"]) <= 200
    assert listed["gen"]["persisted"] is False
    assert "generator" in listed["gen"]["not_persisted_reason"]
    assert listed["gen"]["size_bytes"] > 0
    assert listed["f"]["type"] == "function" and listed["f"]["preview"] == "def f(x, y=1)"
    executor.run("del n")
    names = [v["name"] for v in executor.client.get("/variables").json()["variables"]]
    assert names == ["df", "f", "gen", "numbers", "text"]


def test_variable_list_answers_from_the_last_finished_cell_while_one_runs(
    executor: Executor,
) -> None:
    executor.run("before = 1")
    other = executor.new_client()
    with executor.stream("during = 2\nprint('started')\nimport time\ntime.sleep(30)") as lines:
        assert "started" in next(lines)
        response = other.get("/variables")  # answered while the cell sleeps its 30 s
        assert [v["name"] for v in response.json()["variables"]] == ["before"]
        response = other.get("/variables/before")
        assert response.status_code == 409
        assert response.json() == {
            "detail": "a cell is running; variables can be read when it finishes"
        }
        other.post("/interrupt")
        list(lines)
    other.close()


def test_variable_values_are_json_where_they_can_be(executor: Executor) -> None:
    code = (
        "n = 5\nx = float('nan')\no = object()\nd = {'a': [1, 2.5, None, float('inf')], 'b': 't'}"
    )
    executor.run(code)
    get = executor.client.get
    assert get("/variables/n").json() == {
        "name": "n",
        "type": "int",
        "kind": "json",
        "value": 5,
        "columns": None,
        "dtypes": None,
        "rows": None,
        "offset": 0,
        "limit": None,
        "total_rows": None,
        "repr": None,
    }
    assert get("/variables/x").json()["value"] is None
    assert get("/variables/d").json()["value"] == {"a": [1, 2.5, None, "inf"], "b": "t"}
    other = get("/variables/o").json()
    assert other["kind"] == "repr" and other["repr"].startswith("<object object at")
    executor.run("huge = list(range(100_000))")
    huge = get("/variables/huge").json()
    assert huge["kind"] == "repr" and len(huge["repr"]) <= 10_000
    missing = get("/variables/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "variable 'nope' not found"}
    assert get("/variables/math").status_code == 404  # modules are not variables
    assert get("/variables/__builtins__").status_code == 404


def test_dataframe_values_are_paginated(executor: Executor) -> None:
    code = """
import pandas as pd, numpy as np
df = pd.DataFrame({
    'i': range(25),
    'f': [np.nan if i == 11 else i / 2 for i in range(25)],
    't': pd.date_range('2024-01-01', periods=25, freq='D'),
    'c': pd.Categorical(['a', 'b'] * 12 + ['a']),
})
s = df['i'].rename('ids')
"""
    executor.run(code)
    get = executor.client.get
    page = get("/variables/df", params={"offset": 10, "limit": 3}).json()
    assert page["kind"] == "dataframe" and page["total_rows"] == 25
    assert page["columns"] == ["i", "f", "t", "c"]
    assert page["dtypes"]["t"].startswith("datetime64") and page["dtypes"]["c"] == "category"
    assert page["rows"] == [
        [10, 5.0, "2024-01-11T00:00:00", "a"],
        [11, None, "2024-01-12T00:00:00", "b"],
        [12, 6.0, "2024-01-13T00:00:00", "a"],
    ]
    assert page["offset"] == 10 and page["limit"] == 3
    assert len(get("/variables/df").json()["rows"]) == 25
    assert get("/variables/df", params={"limit": 5000}).json()["limit"] == 1000
    assert get("/variables/df", params={"offset": 30}).json()["rows"] == []
    series = get("/variables/s", params={"limit": 2}).json()
    assert series["kind"] == "series" and series["columns"] == ["ids"]
    assert series["rows"] == [[0], [1]]
    for params in ({"offset": -1}, {"limit": 0}, {"limit": "many"}, {"format": "xml"}):
        response = get("/variables/df", params=params)
        assert response.status_code == 422, params
        assert isinstance(response.json()["detail"], str)


def test_a_dataframe_streams_as_csv(executor: Executor) -> None:
    executor.run(
        "import pandas as pd\nbig = pd.DataFrame({'k': range(45_000), 'v': ['x'] * 45_000})"
    )
    with executor.client.stream("GET", "/variables/big", params={"format": "csv"}) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["transfer-encoding"] == "chunked"
        body = response.read()
    frame = pd.read_csv(io.BytesIO(body))
    assert frame.shape == (45_000, 2) and frame["k"].iloc[-1] == 44_999
    executor.run("n = 1")
    response = executor.client.get("/variables/n", params={"format": "csv"})
    assert response.status_code == 400 and "DataFrames" in response.json()["detail"]
    # The kept-alive connection is still in step with the server.
    assert executor.value("n") == "1"


def test_reset_deletes_variables_and_files(executor: Executor, tmp_path: os.PathLike) -> None:
    outside = os.path.join(tmp_path, "outside.txt")
    with open(outside, "w") as f:
        f.write("must survive")
    executor.run(
        "x = 1\nimport os\nos.makedirs('sub/deeper')\nopen('sub/deeper/a.txt', 'w').close()"
    )
    os.symlink(outside, executor.workspace / "link")
    os.symlink(tmp_path, executor.workspace / "dirlink")
    response = executor.client.post("/reset")
    assert response.status_code == 200 and response.json() == {"reset": True}
    assert os.listdir(executor.workspace) == [] and os.listdir(executor.state) == []
    assert os.path.exists(outside)
    assert executor.client.get("/variables").json() == {"variables": []}
    cell = executor.run("x")
    assert cell.errors[0].ename == "NameError"
    assert cell.end.kernel.state == "kept" and cell.end.kernel.restored == []
    assert cell.end.execution_count == 1
    executor.kill_kernel()
    assert executor.run("x").end.kernel.restored == []


def test_reset_wins_over_a_running_cell(executor: Executor) -> None:
    executor.run("x = 1")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(executor.run, "import time\ntime.sleep(30)")
        executor.wait_until_busy()
        other = executor.new_client()
        assert other.post("/reset").status_code == 200
        cell = future.result()
        other.close()
    assert cell.end.status == "crashed"
    assert "reset" in cell.errors[0].evalue and cell.end.kernel.state == "lost"
    after = executor.run("x")
    assert after.errors[0].ename == "NameError" and not after.end.kernel.restarted


def test_load_csv_binds_and_checkpoints_a_dataframe(executor: Executor) -> None:
    (executor.workspace / "data").mkdir()
    (executor.workspace / "data" / "sales.csv").write_text(
        "month,units,city\n2024-01,10,Oslo\n2024-02,,Rome\n2024-03,7,Oslo\n"
    )
    response = executor.client.post(
        "/load_csv", json={"path": "data/sales.csv", "variable": "sales"}
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["variable"] == "sales" and result["path"] == "data/sales.csv"
    assert result["shape"] == [3, 3] and result["columns"] == ["month", "units", "city"]
    assert result["dtypes"]["units"] == "float64"
    assert result["head"][1] == {"month": "2024-02", "units": None, "city": "Rome"}
    assert (executor.state / "sales.pkl").exists()
    assert "sales" in [v["name"] for v in executor.client.get("/variables").json()["variables"]]
    executor.kill_kernel()
    assert executor.value("float(sales['units'].sum())") == "17.0"


def test_load_csv_refuses_what_is_not_a_csv_and_keeps_the_old_variable(
    executor: Executor,
) -> None:
    executor.run("kept = 'old'")
    (executor.workspace / "ragged.csv").write_text("a,b\n1,2\n3,4,5\n")
    (executor.workspace / "empty.csv").write_text("")
    (executor.workspace / "image.csv").write_bytes(bytes(range(256)) * 8)
    for name in ("ragged.csv", "empty.csv", "image.csv"):
        response = executor.client.post("/load_csv", json={"path": name, "variable": "kept"})
        assert response.status_code == 400, (name, response.text)
        assert response.json()["detail"].startswith("the file could not be read as CSV")
    assert (
        "Expected 2 fields"
        in executor.client.post(
            "/load_csv", json={"path": "ragged.csv", "variable": "kept"}
        ).json()["detail"]
    )
    assert executor.value("kept") == "'old'"


def test_load_csv_checks_the_name_and_the_path(executor: Executor, tmp_path: os.PathLike) -> None:
    (executor.workspace / "ok.csv").write_text("a\n1\n")
    outside = os.path.join(tmp_path, "secret.csv")
    with open(outside, "w") as f:
        f.write("a\n1\n")
    os.symlink(outside, executor.workspace / "link.csv")
    (executor.workspace / "folder").mkdir()
    post = executor.client.post
    for variable in ("1abc", "class", "_hidden", "with space"):
        response = post("/load_csv", json={"path": "ok.csv", "variable": variable})
        assert response.status_code == 422, variable
    for path, status in (
        ("../ok.csv", 400),
        ("/etc/passwd", 400),
        ("link.csv", 400),
        ("folder", 400),
        ("missing.csv", 404),
    ):
        response = post("/load_csv", json={"path": path, "variable": "v"})
        assert response.status_code == status, (path, response.text)
        assert isinstance(response.json()["detail"], str)
    assert post("/load_csv", json={"path": "ok.csv"}).status_code == 422
    assert executor.run("v").errors[0].ename == "NameError"


def test_load_csv_while_a_cell_runs_is_refused(executor: Executor) -> None:
    (executor.workspace / "ok.csv").write_text("a\n1\n")
    other = executor.new_client()
    with executor.stream("print('started')\nimport time\ntime.sleep(30)") as lines:
        assert "started" in next(lines)
        response = other.post("/load_csv", json={"path": "ok.csv", "variable": "v"})
        assert response.status_code == 409 and "cell is running" in response.json()["detail"]
        other.post("/interrupt")
        list(lines)
    other.close()
