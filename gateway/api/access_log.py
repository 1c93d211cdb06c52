"""Keep secrets carried in URLs out of the access log (README: Sign-in).

Local mode's login link holds its token, and GitHub's callback a one-time `code` and `state`;
uvicorn logs every request's path with its query string. This filter replaces those values;
`python -m gateway` sets it on uvicorn's access log in every worker (gateway/__main__.py).
"""

import logging
import re

SECRET_PARAMS = ("token", "code", "state")
_SECRET_QUERY = re.compile(r"([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by `***`."""
    return _SECRET_QUERY.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
