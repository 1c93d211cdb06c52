"""Variables survive a kernel that dies: checkpoints after each cell, restore on every start."""

import os

from tests.unit.sandbox_runner.conftest import Executor


def test_in_place_mutations_survive_a_kernel_kill(executor: Executor) -> None:
    setup = """
import pandas as pd
lst = [1]
d = {}
df = pd.DataFrame({"a": [1, 2], "b": [3, 4]})
items = []
def add(v):
    items.append(v)
target = []
"""
    assert executor.run(setup).end.status == "ok"
    assert executor.run("a = target").end.status == "ok"
    for code in (
        "lst.append(2)",
        "d['k'] = 'v'",
        "df.drop(columns=['b'], inplace=True)",
        "add(5)",
        "a.append('via alias')",
    ):
        cell = executor.run(code)
        assert cell.end.status == "ok", cell.events
        assert cell.end.variables_changed, code
    executor.kill_kernel()
    cell = executor.run("(lst, d, list(df.columns), items, target, a)")
    assert cell.end.kernel.restarted and cell.end.kernel.state == "restored"
    assert "last finished cell" in cell.end.kernel.reason
    expected = "([1, 2], {'k': 'v'}, ['a'], [5], ['via alias'], ['via alias'])"
    assert cell.displays[0].data["text/plain"] == expected


def test_only_what_a_cell_may_change_is_checkpointed(executor: Executor) -> None:
    executor.run("import pandas as pd\nbig = list(range(10))\ndf = pd.DataFrame({'a': [1]})")
    files = {name: executor.state / f"{name}.pkl" for name in ("big", "df")}
    before = {name: (p.stat().st_mtime_ns, p.stat().st_ino) for name, p in files.items()}
    reads = ("x = 1", "len(big)", "print(big)", "big[0] + 1", "df.head()", "df.shape")
    for code in (*reads, "len(df), df.shape", "[big[0], df.columns]"):
        cell = executor.run(code)
        assert cell.end.status == "ok"
        assert "big" not in cell.end.variables_changed and "df" not in cell.end.variables_changed
    after = {name: (p.stat().st_mtime_ns, p.stat().st_ino) for name, p in files.items()}
    assert after == before
    assert executor.run("big.append(10)").end.variables_changed == ["big"]
    assert files["big"].stat().st_ino != before["big"][1]
    assert executor.run("1 + 1").end.variables_changed == []
    # A literal that keeps a reference is not a mere read: `t[0]` is `big` itself.
    assert executor.run("t = (big, 1)\nt[0].append(11)").end.variables_changed == ["big", "t"]


def test_a_deleted_variable_is_not_restored(executor: Executor) -> None:
    executor.run("gone = 1\nkept = 2")
    assert (executor.state / "gone.pkl").exists()
    cell = executor.run("del gone")
    assert cell.end.variables_deleted == ["gone"]
    assert not (executor.state / "gone.pkl").exists()
    executor.kill_kernel()
    assert executor.run("gone").errors[0].ename == "NameError"
    assert executor.value("kept") == "2"


def test_unpicklable_variables_are_reported_and_the_others_survive(executor: Executor) -> None:
    executor.run("gen = 'an old value'")
    code = """
import threading
gen = (i for i in range(3))
handle = open('notes.txt', 'w')
lock = threading.Lock()
fn = lambda: 1
ok = 42
"""
    cell = executor.run(code)
    assert cell.end.status == "ok"
    assert set(cell.end.not_persisted) == {"gen", "handle", "lock", "fn"}
    assert "generator" in cell.end.not_persisted["gen"]
    assert "lambda" in cell.end.not_persisted["fn"]
    assert "ok" in cell.end.variables_changed
    cell = executor.run("import os\nos._exit(1)")
    assert cell.end.status == "crashed" and cell.end.kernel.state == "restored"
    assert "ok" in cell.end.kernel.restored and "gen" not in cell.end.kernel.restored
    assert executor.value("ok") == "42"
    # The stale checkpoint of the old `gen` must not come back in its place.
    assert executor.run("gen").errors[0].ename == "NameError"


def test_a_corrupt_checkpoint_loses_only_its_own_variable(executor: Executor) -> None:
    executor.run("import json\ngood = 1\nbad = 2")
    (executor.state / "bad.pkl").write_bytes(b"not a checkpoint")
    (executor.state / "_modules.json").write_text("[1, 2")
    executor.kill_kernel()
    cell = executor.run("good")
    assert cell.displays[0].data["text/plain"] == "1"
    assert cell.end.kernel.restored == ["good"]
    assert set(cell.end.kernel.restore_errors) == {"bad", "_modules.json"}
    assert "could not be restored" in cell.end.kernel.reason


def test_modules_functions_classes_and_instances_survive_a_restart(executor: Executor) -> None:
    code = """
import json as j
import functools
from math import sqrt

def square(x):
    return x * x

@functools.lru_cache
def cached(n):
    return square(n) + 1

class Point:
    def __init__(self, x):
        self.x = x

    def norm(self):
        return abs(self.x)

p = Point(-3)
"""
    assert executor.run(code).end.status == "ok"
    executor.restart()
    cell = executor.run(
        "(j.dumps([1]), square(4), cached(2), p.norm(), isinstance(p, Point), sqrt(4))"
    )
    assert cell.displays[0].data["text/plain"] == "('[1]', 16, 5, 3, True, 2.0)"
    # From the user's point of view the kernel restarted, so the first cell says so.
    assert cell.end.kernel.restarted and cell.end.kernel.state == "restored"
    assert {"j", "square", "cached", "Point", "p", "sqrt"} <= set(cell.end.kernel.restored)
    assert not executor.run("1").end.kernel.restarted


def test_a_function_redefined_after_a_failed_cell_keeps_the_last_working_definition(
    executor: Executor,
) -> None:
    executor.run("def f():\n    return 'first'")
    cell = executor.run("raise ValueError('before the def')\ndef f():\n    return 'second'")
    assert cell.end.status == "error"
    executor.kill_kernel()
    assert executor.value("f()") == "'first'"


def test_an_error_cell_is_checkpointed_and_interrupted_changes_carry_over(
    executor: Executor,
) -> None:
    cell = executor.run("before_error = 1\nraise ValueError('boom')")
    assert cell.end.status == "error" and cell.end.variables_changed == ["before_error"]
    executor.run("grow = []")
    other = executor.new_client()
    code = "grow.append(1)\nprint('appended')\nimport time\ntime.sleep(30)"
    with executor.stream(code) as lines:
        assert "appended" in next(lines)
        assert other.post("/interrupt").json() == {"interrupted": True}
        events = list(lines)
    assert '"status":"interrupted"' in events[-1] and '"variables_changed":[]' in events[-1]
    cell = executor.run("x = 1")
    assert cell.end.variables_changed == ["grow", "x"]
    executor.kill_kernel()
    assert executor.value("(before_error, grow)") == "(1, [1])"
    other.close()


def test_a_variable_whose_restore_kills_the_kernel_is_skipped(executor: Executor) -> None:
    code = """
class Bomb:
    def __reduce__(self):
        import os
        return (os._exit, (3,))

bomb = Bomb()
survivor = 'here'
"""
    assert executor.run(code).end.status == "ok"
    executor.kill_kernel()
    cell = executor.run("survivor")
    assert cell.displays[0].data["text/plain"] == "'here'"
    assert "stopped the kernel" in cell.end.kernel.restore_errors["bomb"]
    assert executor.run("bomb").errors[0].ename == "NameError"


def test_checkpoint_files_are_private_and_temp_files_do_not_linger(executor: Executor) -> None:
    executor.run("secret = 'x' * 100")
    path = executor.state / "secret.pkl"
    assert path.stat().st_mode & 0o777 == 0o600
    (executor.state / ".secret.pkl.tmp").write_bytes(b"torn")
    executor.kill_kernel()
    assert executor.value("len(secret)") == "100"
    assert os.listdir(executor.state) == ["secret.pkl"]
