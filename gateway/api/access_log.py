"""Keep secrets carried in URLs out of the log (README: Sign-in).

Local mode's login link holds its token, and GitHub's callback a one-time `code` and `state`;
each request's access line (gateway.api.request_ids) shows its path with its query string, with
those values replaced.
"""

import re

SECRET_PARAMS = ("token", "code", "state")
_SECRET_QUERY = re.compile(r"([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\s\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the value of every secret query parameter replaced by `***`."""
    return _SECRET_QUERY.sub(r"\1***", text)
