"""The environment variables a chat or a run may give its code: names, sizes, characters."""

import pytest
from pydantic import BaseModel, ValidationError

from shared import env
from shared.env import Env, MergedEnv


class Body(BaseModel):
    env: Env = {}


class Merged(BaseModel):
    env: MergedEnv = {}


def problem(model: type[BaseModel], value: object) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate({"env": value})
    [issue] = caught.value.errors()
    return str(issue["msg"])


def test_names_values_and_sizes_within_the_limits_are_taken() -> None:
    ok = {"A": "", "_x1": "ünï ✓", "N" * env.MAX_NAME_CHARS: "v", "LONG": "x" * 32 * 1024}
    assert Body(env=ok).env == ok
    many = {f"V{i}": "" for i in range(env.MAX_VARS)}
    assert Body(env=many).env == many


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ({"1X": ""}, '"1X" is not an environment variable name'),
        ({"A=B": ""}, '"A=B" is not an environment variable name'),
        ({"A\n": ""}, '"A\\n" is not an environment variable name'),
        ({"{x}": ""}, '"{x}" is not an environment variable name'),
        ({"Ä": ""}, "is not an environment variable name"),
        ({"N" * 129: ""}, "is longer than 128 characters"),
        ({"V": "a\x00"}, "the value of V holds a NUL character"),
        ({"V": "\ud800"}, "the value of V is not valid Unicode text"),
        ({"V": "x" * (32 * 1024 + 1)}, "the value of V has 32769 bytes; at most 32768 (32 KiB)"),
        ({f"V{i}": "" for i in range(101)}, "at most 100 environment variables, not 101"),
        ({f"V{i}": "x" * 32 * 1024 for i in range(8)}, "262160 bytes in all"),
        ({"V": 1}, "Input should be a valid string"),
    ],
)
def test_what_cannot_be_an_environment_variable_is_refused_saying_why(
    value: object, says: str
) -> None:
    assert says in problem(Body, value)


def test_a_chats_and_a_runs_variables_together_may_be_twice_as_many() -> None:
    both = {f"V{i}": "x" * 1024 for i in range(2 * env.MAX_VARS)}
    assert Merged(env=both).env == both
    assert "at most 100" in problem(Body, both)
    assert "at most 200" in problem(Merged, {**both, "ONE_MORE": ""})
    assert "is not an environment variable name" in problem(Merged, {"1X": ""})
