"""SANDBOX_RUNTIME against what the Docker engine has registered."""

import pytest

from gateway.sandbox.runtime import choose
from gateway.settings import SettingsError


def test_auto_prefers_gvisor_where_the_engine_has_it() -> None:
    assert choose("auto", {"runc", "runsc", "io.containerd.runc.v2"}) == "runsc"
    assert choose("auto", {"runc"}) == "runc"


def test_an_explicit_runtime_is_used_when_registered() -> None:
    assert choose("runc", {"runc", "runsc"}) == "runc"
    assert choose("runsc", {"runc", "runsc"}) == "runsc"


def test_asking_for_a_missing_runtime_is_an_error_not_a_weaker_fallback() -> None:
    with pytest.raises(SettingsError, match=r"SANDBOX_RUNTIME=runsc.*make deps"):
        choose("runsc", {"runc"})
    with pytest.raises(SettingsError, match="auto, runsc or runc"):
        choose("kata", {"runc", "kata"})
