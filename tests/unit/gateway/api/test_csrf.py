import pytest

from gateway.api.access_log import redact
from gateway.api.csrf import origin_of


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8018", "http://127.0.0.1:8018"),
        ("HTTPS://Ads.Example:443/some/path", "https://ads.example"),
        ("http://ads.example:80", "http://ads.example"),
        ("http://[::1]:8018", "http://[::1]:8018"),
        ("null", None),
        ("http://bad:port", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


def test_secret_query_values_are_redacted() -> None:
    assert redact("/login/local?token=abc&next=/") == "/login/local?token=***&next=/"
    assert redact("/auth/github/callback?code=c1&state=s1") == (
        "/auth/github/callback?code=***&state=***"
    )
    assert redact("/files/x?stream=true&encoding=csv") == "/files/x?stream=true&encoding=csv"
