"""The default sandbox image's data stack: every package imports in a real sandbox (gVisor, our
seccomp profile, no network) at the version its lock file pins."""

import json
from pathlib import Path

from tests.gateway_process import GatewayProcess

LOCK = Path(__file__).parents[2] / "deploy" / "requirements-sandbox.lock.txt"
# Import name -> the project whose pinned version it must be.
STACK = {
    "IPython": "ipython",
    "plotly": "plotly",
    "sympy": "sympy",
    "xlrd": "xlrd",
    "PIL": "pillow",
    "bs4": "beautifulsoup4",
    "lxml": "lxml",
    "xarray": "xarray",
    "skimage": "scikit-image",
    "cv2": "opencv-python-headless",
    "pytz": "pytz",
    "networkx": "networkx",
    "duckdb": "duckdb",
    "polars": "polars",
    "pandas": "pandas",
    "seaborn": "seaborn",
    "sklearn": "scikit-learn",
    "statsmodels": "statsmodels",
}


def pinned() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split()[0].split("==")
            pins[name] = version
    return pins


def test_every_package_of_the_stack_imports_at_its_pinned_version(
    gateway: GatewayProcess, chat_id: str
) -> None:
    code = (
        "import importlib, importlib.metadata, json\n"
        f"stack = {STACK!r}\n"
        "for module in stack:\n"
        "    importlib.import_module(module)\n"
        "json.dumps({p: importlib.metadata.version(p) for p in stack.values()})"
    )
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "ok", reply
    pins = pinned()
    assert json.loads(reply["result"]) == {project: pins[project] for project in STACK.values()}


def test_the_stack_works_offline_in_the_sandbox(gateway: GatewayProcess, chat_id: str) -> None:
    code = """
import cv2, duckdb, networkx as nx, numpy as np, polars as pl, sympy, xarray as xr
from bs4 import BeautifulSoup
from skimage import filters
image = np.zeros((8, 8), np.uint8); image[2:6, 2:6] = 255
edges = int(cv2.Canny(image, 50, 150).astype(bool).sum())
rows = duckdb.sql("select 40 + 2 as answer").fetchall()[0][0]
total = pl.DataFrame({"a": [1, 2, 3]}).select(pl.col("a").sum()).item()
root = sympy.solve(sympy.Symbol("x") ** 2 - 4)
path = nx.shortest_path_length(nx.path_graph(5), 0, 4)
mean = float(xr.DataArray(np.arange(4.0), dims="t").mean())
text = BeautifulSoup("<p>hi <b>there</b></p>", "lxml").get_text()
smooth = float(filters.gaussian(image / 255.0, sigma=1).max()) < 1
(edges > 0, rows, total, [int(r) for r in root], path, mean, text, smooth)
"""
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "ok", reply
    assert reply["result"] == "(True, 42, 6, [-2, 2], 4, 1.5, 'hi there', True)"
