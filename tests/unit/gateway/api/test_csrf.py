import logging

import pytest

from gateway.api.access_log import RedactSecrets, redact
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


def test_the_filter_redacts_uvicorn_access_records() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/login/local?token=secret-value", "1.1", 303),
        None,
    )
    assert RedactSecrets().filter(record)
    assert "secret-value" not in record.getMessage()
    assert "token=***" in record.getMessage()
