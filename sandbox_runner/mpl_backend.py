"""The kernel's matplotlib backend: Agg rendering, and plt.show() saves and closes the open figures.

Plain Agg warns that it "cannot show" on every plt.show(), which generated code calls all the time,
and never closes figures, so two plot-then-show blocks in one cell would draw into one figure.
Selected through MPLBACKEND=module://sandbox_runner.mpl_backend in the kernel's environment.
"""

from typing import Any

from matplotlib.backend_bases import FigureManagerBase
from matplotlib.backends.backend_agg import FigureCanvasAgg

from sandbox_runner import figures

FigureCanvas = FigureCanvasAgg
FigureManager = FigureManagerBase


def show(*args: Any, **kwargs: Any) -> None:
    figures.show()
