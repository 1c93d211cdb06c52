"""The kernel runs cells as IPython does: magics, shell escapes, input transformations, its
display system and formatters, and the cell's own result flagged as such."""

import base64
import json

import pytest

from tests.unit.sandbox_runner.conftest import Executor


def test_shell_escapes_run_with_their_output_in_the_cell(executor: Executor) -> None:
    cell = executor.run("!pwd\n!echo to-stderr >&2\n!exit 3")
    assert cell.stdout.strip() == str(executor.workspace)
    assert "to-stderr" in cell.stderr
    assert cell.end.status == "ok"
    assert executor.value("_exit_code") == "3"


def test_a_shell_escape_sees_python_variables_and_its_output_can_be_kept(
    executor: Executor,
) -> None:
    executor.run("name = 'abc'")
    assert executor.run("!echo $name-{1 + 1}").stdout.strip() == "abc-2"
    executor.run("lines = !printf 'a\\nb\\n'")
    assert executor.value("list(lines)") == "['a', 'b']"


def test_a_long_shell_escape_is_interrupted_by_the_cell_timeout(executor: Executor) -> None:
    cell = executor.run("!sleep 30", timeout_s=1)
    assert cell.end.status == "timeout"
    assert cell.end.duration_ms < 10_000
    assert executor.run("1 + 1").displays[0].data["text/plain"] == "2"


def test_line_and_cell_magics(executor: Executor) -> None:
    timed = executor.run("%time x = sum(range(1000))")
    assert "Wall time" in timed.stdout
    assert executor.value("x") == "499500"
    assert "loops" in executor.run("%timeit -n 3 -r 2 sum(range(10))").stdout
    assert "x" in executor.run("%who").stdout.split()
    executor.run("%%writefile notes.txt\nhello from a cell magic\n")
    assert (executor.workspace / "notes.txt").read_text() == "hello from a cell magic\n"
    executor.run("%matplotlib inline")
    assert executor.run("%matplotlib inline").errors == []


def test_an_unknown_magic_is_an_error_naming_it(executor: Executor) -> None:
    error = executor.run("%nosuchmagic").errors[0]
    assert error.ename == "UsageError"
    assert "nosuchmagic" in error.evalue


def test_pip_install_answers_from_the_package_store(executor: Executor) -> None:
    cell = executor.run("%pip install pandas numpy==0.0.1 surely-not-a-package")
    assert "Requirement already satisfied: pandas==" in cell.stdout
    assert "no network" in cell.stdout
    assert 'make packages PKGS="numpy==0.0.1 surely-not-a-package"' in cell.stdout
    assert "pandas" in executor.run("%pip list").stdout


def test_indented_snippets_and_top_level_await(executor: Executor) -> None:
    assert executor.run("    a = 1\n    a + 1").displays[0].data["text/plain"] == "2"
    cell = executor.run("import asyncio\nawait asyncio.sleep(0)\nawait asyncio.sleep(0, 'done')")
    assert cell.displays[0].data["text/plain"] == "'done'"


def test_ipython_is_importable_and_is_this_shell(executor: Executor) -> None:
    assert executor.value("import IPython\nIPython.get_ipython() is get_ipython()") == "True"


def test_the_cells_own_result_is_flagged_and_its_text_is_the_value(executor: Executor) -> None:
    cell = executor.run("display('shown')\n'abc'")
    shown, result = cell.displays
    assert not shown.is_result and shown.data == {"text/plain": "'shown'"}
    assert result.is_result and result.text == "abc"
    assert result.data["text/plain"] == "'abc'"
    assert executor.run("[1, 2]").displays[0].text == "[1, 2]"
    assert executor.run("x = 1;").displays == []
    assert executor.run("1;").displays == []


def test_display_takes_all_its_arguments(executor: Executor) -> None:
    cell = executor.run(
        "display({'text/plain': 'raw text', 'text/markdown': '**raw**'}, raw=True)\n"
        "display(1, 2, metadata={'text/plain': {'note': 1}})\n"
        "display('<b>x</b>', include=['text/plain'])\n"
        "from IPython.display import display as show, HTML\n"
        "show(HTML('<b>bold</b>'), exclude=['text/plain'])"
    )
    raw, one, two, included, html = cell.displays
    assert raw.data == {"text/plain": "raw text", "text/markdown": "**raw**"}
    assert one.data == {"text/plain": "1"} and one.metadata == {"text/plain": {"note": 1}}
    assert two.data == {"text/plain": "2"}
    assert included.data == {"text/plain": "'<b>x</b>'"}
    assert html.data == {"text/html": "<b>bold</b>"}


def test_every_mime_type_of_ipython_formatters(executor: Executor) -> None:
    cell = executor.run(
        "from IPython.display import Markdown, Latex, SVG, JSON, Image, HTML\n"
        'svg = \'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"></svg>\'\n'
        "for obj in (Markdown('# Title'), Latex(r'$\\alpha^2$'), SVG(svg), JSON({'a': [1, 2]}),\n"
        "            HTML('<i>i</i>')):\n"
        "    display(obj)\n"
    )
    by_type = {next(k for k in d.data if k != "text/plain"): d.data for d in cell.displays}
    assert by_type["text/markdown"]["text/markdown"] == "# Title"
    assert by_type["text/latex"]["text/latex"] == "$\\alpha^2$"
    assert by_type["image/svg+xml"]["image/svg+xml"].startswith("<svg")
    assert by_type["application/json"]["application/json"] == {"a": [1, 2]}
    assert by_type["text/html"]["text/html"] == "<i>i</i>"


def test_pil_images_are_shown_as_png_and_jpeg(executor: Executor) -> None:
    cell = executor.run(
        "from PIL import Image\nimg = Image.new('RGB', (3, 2), 'red')\nimg.show()\nimg"
    )
    shown, result = cell.displays
    assert result.is_result and not shown.is_result
    for display in (shown, result):
        png = base64.b64decode(str(display.data["image/png"]))
        assert png.startswith(b"\x89PNG")
        assert base64.b64decode(str(display.data["image/jpeg"])).startswith(b"\xff\xd8")


def test_a_dataframe_comes_with_its_table_as_data(executor: Executor) -> None:
    cell = executor.run(
        "import pandas as pd\n"
        "pd.DataFrame({'n': range(500), 's': ['x' * 5] * 500, 'f': [0.5] * 499 + [float('nan')]})"
    )
    data = cell.displays[0].data
    assert "text/html" in data and "text/plain" in data
    table = data["application/vnd.dataresource+json"]
    assert isinstance(table, dict)
    assert [f["name"] for f in table["schema"]["fields"]] == ["index", "n", "s", "f"]
    assert table["total_rows"] == 500 and table["truncated"] is True
    assert len(table["data"]) == 200
    assert table["data"][3] == {"index": 3, "n": 3, "s": "xxxxx", "f": 0.5}


def test_a_formatter_that_fails_leaves_the_other_types(executor: Executor) -> None:
    cell = executor.run(
        "class Odd:\n"
        "    def _repr_html_(self):\n"
        "        raise ValueError('no html today')\n"
        "    def __repr__(self):\n"
        "        return 'Odd()'\n"
        "Odd()"
    )
    assert cell.displays[0].data == {"text/plain": "Odd()"}
    assert "no html today" in cell.stderr
    assert cell.end.status == "ok"


def test_a_bundle_entry_over_its_cap_is_dropped_and_the_cell_marked_cut(
    executor: Executor,
) -> None:
    cell = executor.run(
        "class Big:\n"
        "    def _repr_html_(self):\n"
        "        return '<p>' + 'x' * 300_000 + '</p>'\n"
        "    def _repr_json_(self):\n"
        "        return {'ok': True}\n"
        "Big()"
    )
    data = cell.displays[0].data
    assert "text/html" not in data
    assert data["application/json"] == {"ok": True}
    assert cell.end.output_truncated


def test_a_bundle_of_the_wrong_kind_is_dropped_entry_by_entry(executor: Executor) -> None:
    cell = executor.run(
        "display({'text/plain': 'ok', 'text/html': 5, 'image/png': None,"
        " 'application/json': {'n': float('nan')}}, raw=True)"
    )
    assert cell.displays[0].data == {"text/plain": "ok"}
    assert json.dumps(cell.displays[0].data)


@pytest.mark.parametrize(
    ("code", "ename"),
    [
        ("1 +", "SyntaxError"),
        ("def f():\nreturn 1", "IndentationError"),
        ("undefined_name", "NameError"),
    ],
)
def test_errors_show_the_cell_not_the_shell(executor: Executor, code: str, ename: str) -> None:
    error = executor.run(code).errors[0]
    assert error.ename == ename
    text = "\n".join(error.traceback)
    assert "<cell " in text
    assert "IPython" not in text and "interactiveshell" not in text


def test_ipythons_own_names_are_not_variables(executor: Executor) -> None:
    end = executor.run("x = 1").end
    assert end.variables_changed == ["x"]
    for name in ("In", "Out", "exit", "quit", "get_ipython", "open"):
        assert executor.client.get(f"/variables/{name}").status_code == 404
    names = [v["name"] for v in executor.client.get("/variables").json()["variables"]]
    assert names == ["x"]


def test_cell_sources_stay_in_in_without_a_name_per_cell(executor: Executor) -> None:
    """`In` and `_i`/`_ii`/`_iii` work as in IPython; the `_iN` name IPython adds per cell is
    not kept, so the namespace does not grow with every cell (each cell's checkpoint pass
    walks it)."""
    for n in range(30):
        executor.run(f"n = {n}")
    size = executor.value("len(get_ipython().user_ns)")
    for n in range(30):
        executor.run(f"n = {n}")
    assert executor.value("len(get_ipython().user_ns)") == size
    assert executor.value("(In[1], _ii)") == "('n = 0', 'n = 29')"
    numbered = "[k for k in get_ipython().user_ns if k[:2] == '_i' and k[2:].isdigit()]"
    assert executor.value(f"len({numbered})") == "1"  # the running cell's own, until it ends


def test_a_matplotlib_figure_comes_with_its_chart_data(executor: Executor) -> None:
    cell = executor.run(
        "import matplotlib.pyplot as plt\n"
        "fig, ax = plt.subplots()\n"
        "ax.bar(['a', 'b'], [3, 5], label='sales')\n"
        "ax.set_title('Sales')\n"
        "plt.show()"
    )
    (figure,) = cell.displays
    assert figure.filename == "plot_1.png" and "image/png" in figure.data
    assert figure.chart is not None
    chart = figure.chart.model_dump()
    assert chart["type"] == "bar" and chart["title"] == "Sales"
    assert [(e["label"], e["group"], e["value"]) for e in chart["elements"]] == [
        ("a", "sales", 3.0),
        ("b", "sales", 5.0),
    ]


def test_plotly_figures_come_as_plotly_json(executor: Executor) -> None:
    cell = executor.run(
        "import plotly.graph_objects as go\n"
        "fig = go.Figure(go.Bar(x=['a', 'b'], y=[1, 2]))\n"
        "fig.show()\n"
        "fig"
    )
    # As in Jupyter, a figure that displays itself (_ipython_display_) is a display, last
    # expression or not.
    assert len(cell.displays) == 2
    for display in cell.displays:
        figure = display.data["application/vnd.plotly.v1+json"]
        assert isinstance(figure, dict)
        assert figure["data"][0]["type"] == "bar" and figure["data"][0]["y"] == [1, 2]


def test_an_idle_kernel_has_imported_none_of_the_data_stack(executor: Executor) -> None:
    loaded = executor.value(
        "import sys\n"
        "sorted(m for m in ('numpy', 'pandas', 'matplotlib', 'PIL', 'plotly', 'polars', 'duckdb',\n"
        "    'cv2', 'sympy', 'skimage', 'xarray', 'networkx', 'bs4', 'lxml', 'jedi', 'scipy')\n"
        "    if m in sys.modules)"
    )
    assert loaded == "[]"
