"""Kernel side: open matplotlib figures become PNG files in the workspace and display outputs,
each with the figure as chart data (charts.py).

matplotlib is never imported here unless user code already did: importing it costs a noticeable
part of a second, which a cell that never plots should not pay.
"""

import base64
import io
import os
import sys
from collections.abc import Callable
from typing import Any

from sandbox_runner import charts, pipe

Emit = Callable[[pipe.DisplayMessage], None]

_saver: "FigureSaver | None" = None


class FigureSaver:
    def __init__(self, workspace: str, emit: Emit, warn: Callable[[str], object]) -> None:
        self._workspace = workspace
        self._emit = emit
        self._warn = warn
        self._next_number = 1

    def save_open_figures(self) -> None:
        """Save every open pyplot figure as the next free plot_N.png, emit it, close them all."""
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is None:
            return
        try:
            for number in pyplot.get_fignums():
                figure = pyplot.figure(number)
                try:
                    self._save(figure)
                except Exception as e:  # one broken figure must not hide the others
                    self._warn(f"could not save figure {number}: {type(e).__name__}: {e}\n")
        finally:
            pyplot.close("all")

    def _save(self, figure: Any) -> None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", bbox_inches="tight")
        png = buffer.getvalue()
        filename = self._write_new_file(png)
        data = {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": repr(figure)}
        self._emit(pipe.display(data, filename=filename, chart=charts.describe(figure)))

    def _write_new_file(self, data: bytes) -> str:
        while True:
            filename = f"plot_{self._next_number}.png"
            self._next_number += 1
            try:
                # "x" so a file the user already has under this name is never overwritten.
                with open(os.path.join(self._workspace, filename), "xb") as f:
                    f.write(data)
            except FileExistsError:
                continue
            return filename


def install(saver: FigureSaver) -> None:
    global _saver
    _saver = saver


def show() -> None:
    """What plt.show() does in the kernel (see mpl_backend)."""
    if _saver is not None:
        _saver.save_open_figures()
