"""The folder where every process of `python -m gateway` writes its metrics, made ready before
any worker starts (README: Operating, "Metrics").

prometheus_client chooses, when it is first imported, between values in memory and values in
files under PROMETHEUS_MULTIPROC_DIR, so the variable must be set before then: this module does
not import it, and gateway/__main__.py calls it before anything does. The workers inherit the
variable, each writes files named by its pid, and any of them can serve a scrape of them all.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_dir() -> Iterator[Path]:
    """The folder for this run's metrics: the operator's PROMETHEUS_MULTIPROC_DIR, emptied of an
    earlier run's files (their pids may be reused, and their counts are not this run's), or a
    fresh one, removed again at the end."""
    given = os.environ.get(ENV)
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("*.db"):
            old.unlink(missing_ok=True)
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="ads-metrics-"))
    os.environ[ENV] = str(folder)
    try:
        yield folder
    finally:
        del os.environ[ENV]
        shutil.rmtree(folder, ignore_errors=True)
