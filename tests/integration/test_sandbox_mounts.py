"""Every folder a sandbox can write comes from a noexec,nosuid,nodev mount (issue 11): a program
or shared library user code writes there does not run, under runc or gVisor, while Python files
there still import and the data stack works."""

import ast
from collections.abc import Iterator

import pytest

from tests.gateway_process import GatewayProcess

# Copies a real program and a real shared library into each writable folder and tries them. A
# refused exec is EACCES under runc; under gVisor the program dies of SIGSEGV (-11) when its pages
# are mapped, and so does a library load, so that is tried in a child process.
_TRY_TO_RUN = """
import os, shutil, subprocess, sys
outcomes = {}
for folder in ("/workspace", "/state", "/run/executor", "/tmp"):
    program = os.path.join(folder, "true-copy")
    shutil.copy("/bin/true", program)
    os.chmod(program, 0o755)
    try:
        ran = subprocess.run([program]).returncode == 0
    except PermissionError:
        ran = False
    library = os.path.join(folder, "libm-copy.so")
    shutil.copy("/lib/x86_64-linux-gnu/libm.so.6", library)
    loaded = subprocess.run(
        [sys.executable, "-c", f"import ctypes; ctypes.CDLL({library!r}).cos"],
        capture_output=True,
    ).returncode == 0
    outcomes[folder] = (ran, loaded)
    os.remove(program)
    os.remove(library)
outcomes
"""
_FOLDERS = ("/workspace", "/state", "/run/executor", "/tmp")
_STILL_WORKS = """
open("helper_mod.py", "w").write("def twice(x):\\n    return 2 * x\\n")
import importlib, helper_mod
importlib.reload(helper_mod)
import numpy as np, pandas as pd, matplotlib.pyplot as plt
plt.plot(np.arange(3)); plt.savefig("plot.png")
(helper_mod.twice(21), int(pd.DataFrame({"a": [1, 2]})["a"].sum()))
"""


@pytest.fixture(scope="module", params=["runc", "runsc"])
def runtime_gateway(
    request: pytest.FixtureRequest, gateway_env: dict[str, str], tmp_path_factory
) -> Iterator[GatewayProcess]:
    env = {**gateway_env, "SANDBOX_RUNTIME": request.param}
    with GatewayProcess(env, tmp_path_factory.mktemp(f"mounts-{request.param}")) as process:
        yield process


def test_nothing_written_by_user_code_runs_as_a_program(
    runtime_gateway: GatewayProcess,
) -> None:
    health = runtime_gateway.client.get("/health").json()
    assert health["sandbox_folders_noexec"] is True
    with runtime_gateway.new_chat() as chat_id:
        reply = runtime_gateway.run(chat_id, _TRY_TO_RUN)
        assert reply["status"] == "ok", reply
        expected = {folder: (False, False) for folder in _FOLDERS}
        if health["sandbox_runtime"] == "runsc":
            # /tmp is gVisor's own memory file system: its noexec stops programs but not a
            # library mapped by ld.so, and what runs there only ever talks to gVisor's kernel.
            expected["/tmp"] = (False, True)
        # As data: IPython's pretty printer wraps a long dict over several lines.
        assert ast.literal_eval(reply["result"]) == expected, health
        works = runtime_gateway.run(chat_id, _STILL_WORKS)
        assert works["status"] == "ok", works
        assert works["result"] == "(42, 3)"
