"""What a pooled sandbox's first kernel does before it says it is ready: import the data stack
and run what its first use loads lazily, so that the chat which claims the sandbox finds
`import pandas as pd` and its first frame or figure already paid for.

Nothing is left behind for user code to see: the names are this function's locals, the figure is
closed, and only `sys.modules` (which every import fills anyway) and matplotlib's font cache in
/tmp keep the work.
"""

import io


def warm_imports() -> None:
    import matplotlib.pyplot as plt
    import numpy
    import pandas

    frame = pandas.DataFrame({"a": numpy.arange(3), "b": [0.5, 1.5, 2.5], "c": list("xyz")})
    # The HTML and text reprs, describe() and a group-by each import modules of their own.
    frame._repr_html_()
    repr(frame)
    frame.describe()
    frame.groupby("c").sum()
    figure, axes = plt.subplots()
    axes.plot(frame["a"], frame["b"])
    axes.set_title("warm")
    figure.savefig(io.BytesIO(), format="png")
    plt.close(figure)
