"""Metrics across processes: each process writes its own files, a scrape from any sums them, and
a dead process's runs stop counting as in progress. Real processes, as the workers are."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.metrics_dir import ENV, metrics_dir

ROOT = Path(__file__).resolve().parents[3]

_RUN = """
from gateway import metrics
started = metrics.run_started("code")
metrics.run_ended("code", "ok", started)
"""
_STAY_IN_A_RUN = """
import time
from gateway import metrics
metrics.run_started("agent")
print("running", flush=True)
time.sleep(60)
"""
_SCRAPE = """
from gateway import metrics
body, _ = metrics.scrape(metrics.SandboxCounts(running=3, pooled=None), "")
print(body.decode())
"""


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def env(folder: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), ENV: str(folder)}


def scrape(folder: Path) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    done = subprocess.run(
        python(_SCRAPE), env=env(folder), capture_output=True, text=True, check=True
    )
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(done.stdout)
        for sample in family.samples
    }


def test_a_scrape_sums_every_process_and_forgets_dead_ones_runs(tmp_path: Path) -> None:
    for _ in range(2):
        subprocess.run(python(_RUN), env=env(tmp_path), check=True)
    with subprocess.Popen(
        python(_STAY_IN_A_RUN), env=env(tmp_path), stdout=subprocess.PIPE, text=True
    ) as running:
        assert running.stdout is not None and running.stdout.readline() == "running\n"
        live = scrape(tmp_path)
        running.kill()
    after = scrape(tmp_path)

    code_ok = ("ads_runs_total", (("kind", "code"), ("outcome", "ok")))
    in_progress = ("ads_runs_in_progress", (("kind", "agent"),))
    assert live[code_ok] == after[code_ok] == 2
    assert live[in_progress] == 1
    assert after.get(in_progress, 0) == 0  # killed: no process_ended, found dead at the scrape
    assert after[("ads_sandboxes_running", ())] == 3
    assert not any(name == "ads_sandboxes_pooled" for name, _ in after)  # Redis did not answer


def test_an_operators_folder_is_emptied_of_an_earlier_runs_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "README").write_text("theirs")
    monkeypatch.setenv(ENV, str(tmp_path))
    with metrics_dir() as folder:
        assert folder == tmp_path
        assert sorted(p.name for p in tmp_path.iterdir()) == ["README"]
    assert os.environ[ENV] == str(tmp_path)


def test_without_one_a_fresh_folder_is_made_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    with metrics_dir() as folder:
        assert os.environ[ENV] == str(folder)
        assert folder.is_dir() and not any(folder.iterdir())
    assert ENV not in os.environ
    assert not folder.exists()
