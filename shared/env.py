"""Environment variables that a chat, or one run, gives its code (README: `env`): which names and
how much. The gateway checks what a client sends (`Env`); the executor checks what the gateway
sends, a chat's and a run's together (`MergedEnv`), before its kernel sets them for the run.
"""

import json
import re
from typing import Annotated, Any

from pydantic import AfterValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_]*$"
MAX_VARS = 100
MAX_NAME_CHARS = 128
MAX_VALUE_BYTES = 32 * 1024
# Names and values together, in UTF-8.
MAX_TOTAL_BYTES = 256 * 1024

_NAME = re.compile(NAME_PATTERN)
# A name or value quoted in a message: cut, and escaped so that it reads as what was sent.
_SHOWN_CHARS = 40


def check(env: dict[str, str]) -> dict[str, str]:
    """`env` if every name and value can be an environment variable within the limits above;
    else a validation error (`env_invalid`) saying which one cannot, and why."""
    return _check(env, MAX_VARS, MAX_TOTAL_BYTES)


def check_merged(env: dict[str, str]) -> dict[str, str]:
    """As `check`, for a chat's variables and a run's together: each within the limits, so
    both within twice as many."""
    return _check(env, 2 * MAX_VARS, 2 * MAX_TOTAL_BYTES)


def _check(env: dict[str, str], max_vars: int, max_total: int) -> dict[str, str]:
    if len(env) > max_vars:
        raise _invalid(f"at most {max_vars} environment variables, not {len(env)}")
    total = 0
    for name, value in env.items():
        if len(name) > MAX_NAME_CHARS:
            raise _invalid(
                f"the environment variable name {_shown(name)} is longer than "
                f"{MAX_NAME_CHARS} characters"
            )
        if not _NAME.fullmatch(name):
            raise _invalid(
                f"{_shown(name)} is not an environment variable name: use letters, digits "
                "and _, not starting with a digit"
            )
        if "\x00" in value:
            raise _invalid(f"the value of {name} holds a NUL character, which no variable can")
        try:
            size = len(value.encode())
        except UnicodeEncodeError:
            raise _invalid(
                f"the value of {name} is not valid Unicode text (a lone surrogate)"
            ) from None
        if size > MAX_VALUE_BYTES:
            raise _invalid(
                f"the value of {name} has {size} bytes; at most {MAX_VALUE_BYTES} (32 KiB) each"
            )
        total += len(name) + size
    if total > max_total:
        raise _invalid(
            f"the environment variables have {total} bytes in all (names and values); "
            f"at most {max_total} ({max_total // 1024} KiB)"
        )
    return env


def _shown(text: str) -> str:
    cut = text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."
    return json.dumps(cut)


def _invalid(message: str) -> PydanticCustomError:
    # No context: the message is used as it is, braces in a name included.
    return PydanticCustomError("env_invalid", message)


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "maxProperties": MAX_VARS,
    "propertyNames": {"pattern": NAME_PATTERN, "maxLength": MAX_NAME_CHARS},
    "additionalProperties": {"type": "string"},
}
Env = Annotated[dict[str, str], AfterValidator(check), WithJsonSchema(_SCHEMA)]
MergedEnv = Annotated[dict[str, str], AfterValidator(check_merged)]
