"""What a user sees from ordinary cells: values, output, errors, figures and files."""

import base64

from tests.unit.sandbox_runner.conftest import Executor


def test_namespace_persists_across_cells(executor: Executor) -> None:
    assert executor.run("import math\nx = 20\ndef double(v):\n    return 2 * v").end.status == "ok"
    cell = executor.run("double(x) + math.floor(1.5)")
    assert cell.end.status == "ok"
    assert cell.displays[0].data["text/plain"] == "41"


def test_code_runs_as_main_in_the_workspace(executor: Executor) -> None:
    cell = executor.run("import os, sys\nprint(__name__, os.getcwd(), sys.argv)")
    assert cell.stdout == f"__main__ {executor.workspace} ['']\n"


def test_kernel_starts_without_heavy_imports(executor: Executor) -> None:
    cell = executor.run(
        "import sys\n[m for m in ('matplotlib', 'pandas', 'pydantic') if m in sys.modules]"
    )
    assert cell.displays[0].data["text/plain"] == "[]"


def test_workspace_modules_are_importable_but_cannot_break_the_kernel(executor: Executor) -> None:
    (executor.workspace / "helpers.py").write_text("def answer():\n    return 42\n")
    # Named like a module the kernel itself needs: must not stop a fresh kernel from starting.
    (executor.workspace / "queue.py").write_text("raise RuntimeError('shadowed')\n")
    executor.run("import os\nos._exit(0)")
    assert executor.run("import helpers\nhelpers.answer()").displays[0].data["text/plain"] == "42"


def test_stdin_is_empty_even_after_quit(executor: Executor) -> None:
    assert executor.run("quit()").errors[0].ename == "SystemExit"
    assert executor.run("input('name? ')").errors[0].ename == "EOFError"


def test_a_cells_env_is_set_while_it_runs_and_gone_after(executor: Executor) -> None:
    show = "import os\nprint(os.environ.get('TOKEN'), os.environ.get('HOME'))"
    home = executor.run(show).stdout.split()[1]
    cell = executor.run(show, env={"TOKEN": "t0k", "HOME": "/elsewhere"})
    assert cell.stdout == "t0k /elsewhere\n"
    # Set for the cell only: the next one has the kernel's own environment again.
    assert executor.run(show).stdout == f"None {home}\n"


def test_execution_count_increments_per_cell(executor: Executor) -> None:
    counts = [executor.run("pass").end.execution_count for _ in range(3)]
    assert counts == [1, 2, 3]
    assert executor.health()["execution_count"] == 3


def test_last_expression_value_is_displayed(executor: Executor) -> None:
    cell = executor.run("a = [1, 2]\na + [3]")
    assert [d.data for d in cell.displays] == [{"text/plain": "[1, 2, 3]"}]
    assert executor.run("x = 1").displays == []
    assert executor.run("None").displays == []
    assert executor.run("print('no value')").displays == []


def test_long_repr_is_capped(executor: Executor) -> None:
    text = executor.run("'y' * 50_000").displays[0].data["text/plain"]
    assert 10_000 < len(text) < 10_200
    assert "[truncated:" in text


def test_dataframe_value_has_html(executor: Executor) -> None:
    cell = executor.run("import pandas as pd\npd.DataFrame({'city': ['Oslo', 'Rome']})")
    data = cell.displays[0].data
    assert "Oslo" in data["text/plain"]
    assert "<table" in data["text/html"] and "Rome" in data["text/html"]


def test_display_builtin_shows_each_object(executor: Executor) -> None:
    cell = executor.run("display(1, 'two')\n3")
    assert [d.data["text/plain"] for d in cell.displays] == ["1", "'two'", "3"]


def test_top_level_await(executor: Executor) -> None:
    cell = executor.run("import asyncio\nawait asyncio.sleep(0)\nawait asyncio.sleep(0, 'done')")
    assert cell.end.status == "ok"
    assert cell.displays[0].data["text/plain"] == "'done'"


def test_stdout_and_stderr_are_captured_in_order(executor: Executor) -> None:
    cell = executor.run("import sys\nprint('out 1')\nprint('err', file=sys.stderr)\nprint('out 2')")
    assert cell.stdout == "out 1\nout 2\n"
    assert cell.stderr == "err\n"
    streams = [e.type for e in cell.events if e.type in ("stdout", "stderr")]
    assert streams == ["stdout", "stderr", "stdout"]


def test_print_loop_is_coalesced(executor: Executor) -> None:
    cell = executor.run("for i in range(2000):\n    print(i)")
    assert cell.stdout == "".join(f"{i}\n" for i in range(2000))
    assert len([e for e in cell.events if e.type == "stdout"]) < 10


def test_output_streams_while_the_cell_runs(executor: Executor) -> None:
    # The cell goes on only once the test has seen its first line: without streaming, neither
    # would ever get further (the cell's time limit would end it).
    code = (
        "import os, time\nprint('early')\n"
        "while not os.path.exists('go'):\n    time.sleep(0.01)\nprint('late')"
    )
    with executor.stream(code, timeout_s=20) as lines:
        assert '"early' in next(lines)
        (executor.workspace / "go").touch()
        rest = list(lines)
    assert any('"late' in line for line in rest)
    assert '"status":"ok"' in rest[-1]


def test_logging_configured_in_one_cell_works_in_the_next(executor: Executor) -> None:
    executor.run("import logging\nlogging.basicConfig(format='LOG %(message)s')")
    assert executor.run("logging.warning('careful')").stderr == "LOG careful\n"


def test_output_beyond_the_limit_is_truncated_with_a_marker(
    small_output_executor: Executor,
) -> None:
    cell = small_output_executor.run("print('a' * 3000)\nprint('still running')")
    assert cell.stdout.startswith("a" * 1000)
    assert cell.stdout.endswith("\n[output truncated: 2015 more bytes not shown]\n")
    assert cell.end.stdout_truncated and not cell.end.stderr_truncated
    assert small_output_executor.run("print('fresh')").stdout == "fresh\n"


def test_exception_traceback_shows_the_users_lines(executor: Executor) -> None:
    executor.run("def ratio(a, b):\n    return a / b")
    cell = executor.run("x = 1\nratio(x, 0)")
    assert cell.end.status == "error"
    (error,) = cell.errors
    assert (error.ename, error.evalue) == ("ZeroDivisionError", "division by zero")
    text = "\n".join(error.traceback)
    assert 'File "<cell 2>", line 2, in <module>' in text
    assert "ratio(x, 0)" in text
    assert 'File "<cell 1>", line 2, in ratio' in text
    assert "return a / b" in text
    assert "sandbox_runner" not in text
    assert error.traceback[-1] == "ZeroDivisionError: division by zero"
    assert executor.run("x").displays[0].data["text/plain"] == "1"


def test_syntax_error_is_reported(executor: Executor) -> None:
    cell = executor.run("x = = 1")
    assert cell.end.status == "error"
    assert cell.errors[0].ename == "SyntaxError"
    assert "x = = 1" in "\n".join(cell.errors[0].traceback)


def test_output_before_an_error_is_kept(executor: Executor) -> None:
    cell = executor.run("print('before')\nraise ValueError('bad value')")
    assert cell.stdout == "before\n"
    assert cell.errors[0].evalue == "bad value"


def test_figure_is_saved_as_png_and_reported(executor: Executor) -> None:
    cell = executor.run("import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nx = 1")
    assert cell.end.status == "ok", cell.errors
    (figure,) = cell.displays
    assert figure.filename == "plot_1.png"
    png = base64.b64decode(figure.data["image/png"])
    assert png.startswith(b"\x89PNG")
    assert (executor.workspace / "plot_1.png").read_bytes() == png
    assert [(f.path, f.change) for f in cell.end.files] == [("plot_1.png", "created")]
    assert executor.run("plt.get_fignums()").displays[0].data["text/plain"] == "[]"


def test_each_show_is_its_own_figure_and_files_are_never_overwritten(executor: Executor) -> None:
    (executor.workspace / "plot_1.png").write_bytes(b"the user's own file")
    code = """
import matplotlib.pyplot as plt
plt.plot([1, 2])
plt.show()
plt.plot([2, 1])
plt.show()
"""
    cell = executor.run(code)
    assert [d.filename for d in cell.displays] == ["plot_2.png", "plot_3.png"]
    assert cell.stderr == ""  # no "non-interactive backend cannot show" warning
    assert (executor.workspace / "plot_1.png").read_bytes() == b"the user's own file"
    assert sorted(f.path for f in cell.end.files) == ["plot_2.png", "plot_3.png"]


def test_figures_are_saved_even_when_the_cell_fails(executor: Executor) -> None:
    cell = executor.run("import matplotlib.pyplot as plt\nplt.bar(['a'], [1])\n1 / 0")
    assert cell.end.status == "error"
    assert [d.filename for d in cell.displays] == ["plot_1.png"]


def test_files_created_modified_and_deleted_are_reported(executor: Executor) -> None:
    (executor.workspace / "old.txt").write_text("old")
    (executor.workspace / "keep.txt").write_text("v1")
    code = (
        "import os\n"
        "os.makedirs('out', exist_ok=True)\n"
        "open('out/new.csv', 'w').write('a,b\\n1,2\\n')\n"
        "open('keep.txt', 'a').write(' and v2')\n"
        "os.remove('old.txt')\n"
        "os.symlink('/etc/passwd', 'link')"
    )
    cell = executor.run(code)
    assert cell.end.status == "ok", cell.errors
    changes = {f.path: (f.change, f.size) for f in cell.end.files}
    assert changes == {
        "out/new.csv": ("created", 8),
        "keep.txt": ("modified", 9),
        "old.txt": ("deleted", 3),
    }
    assert executor.run("x = 1").end.files == []
