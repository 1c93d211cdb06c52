"""The OpenAPI document is exact: schemathesis sends generated requests to every operation of a
real gateway, signed in as the local user, and checks each answer with its default checks: no
5xx, no status code, content type or header the document does not list, no body that violates
its schema, valid requests accepted and invalid ones refused.

The run has a world of its own, so that it neither sees nor deletes other tests' data: its own
Redis database (DELETE /chats/all deletes only its chats) and a fake LLM that always answers, so
that `{"query"}` is answered rather than refused with 503 for want of an LLM. Operations on a
chat get real ids: the copy of the document the run works from names its own chats, files and a
DataFrame in them, an API token and the login token as the only valid values, so valid requests
reach a live sandbox while invalid ones still probe the 404s.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from tests.fake_llm import FakeLLM, say
from tests.gateway_process import GatewayProcess

# Generated examples per operation past the coverage phase's own cases: enough to go beyond the
# boundaries, few enough that the run stays well under its three minutes on two cores.
MAX_EXAMPLES = 50
# Queries run code in a sandbox; one that runs this long is cut off (and still answers 200).
EXEC_TIMEOUT_S = "5"
SEED_CODE = """
import pandas as pd
import matplotlib.pyplot as plt
df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
df.to_csv("data.csv", index=False)
plt.plot(df["a"])
plt.savefig("plot.png")
"""

# Uploads are documented as CSV parts: valid requests send CSV that parses.
_CELLS = st.integers(-1000, 1000).map(str)
_CSV = st.lists(st.tuples(_CELLS, _CELLS), min_size=1, max_size=5).map(
    lambda rows: ("a,b\n" + "".join(f"{x},{y}\n" for x, y in rows)).encode()
)
schemathesis.openapi.media_type("text/csv", _CSV)


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeLLM]:
    with FakeLLM().running() as fake:
        fake.script(*[say("Here is the answer.")] * 10_000)
        yield fake


@pytest.fixture(scope="module")
def api_gateway(
    gateway_env: dict[str, str], llm: FakeLLM, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    env = {
        **gateway_env,
        "REDIS_URL": gateway_env["REDIS_URL"].rsplit("/", 1)[0] + "/1",
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "fake-model",
        "SANDBOX_EXEC_TIMEOUT_S": EXEC_TIMEOUT_S,
    }
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("openapi"))) as process:
        yield process
        process.client.delete("/chats/all")


@pytest.fixture(scope="module")
def api_schema(api_gateway: GatewayProcess) -> schemathesis.BaseSchema:
    client = api_gateway.client
    kept, restarted, deleted = (client.post("/create_chat").json()["chat_id"] for _ in range(3))
    # Its first cell imports pandas and matplotlib in a cold sandbox, which on two busy cores
    # can take longer than EXEC_TIMEOUT_S: imported once first (a cut-off import is retried).
    for _ in range(3):
        if api_gateway.run(kept, "import pandas, matplotlib.pyplot")["status"] == "ok":
            break
    reply = api_gateway.run(kept, SEED_CODE)
    assert reply["status"] == "ok", reply
    token = client.post("/tokens", json={"name": "schemathesis"}).json()["id"]
    document = client.get("/openapi.json").json()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            # What wipes a chat gets one of its own, so the rest keep the file and variables.
            chat = {"/restart/{chat_id}": restarted, "/chat/{chat_id}": deleted}.get(path, kept)
            _pin(
                operation,
                chat_id=[chat],
                path=["data.csv", "plot.png"],
                # A DataFrame: `?format=csv` of anything else is refused (400).
                name=["df"],
                token_id=[token],
                token=[api_gateway.token],  # /login/local's
            )
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(
        base_url=api_gateway.base_url,
        headers={"Authorization": f"Bearer {api_gateway.token}"},
        request_timeout=60,
    )
    return schema


def _pin(operation: dict[str, Any], **values: list[str]) -> None:
    for parameter in operation.get("parameters", []):
        if parameter["in"] in ("path", "query") and parameter["name"] in values:
            parameter["schema"] = {"type": "string", "enum": values[parameter["name"]]}


schema = schemathesis.pytest.from_fixture("api_schema")
# No deadline and no health checks: requests that reach a sandbox are slow by Hypothesis's
# measure, and pinned parameters leave little to vary. No example database in the checkout.
_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@schema.exclude(method="DELETE", path="/chats/all").parametrize()
@_SETTINGS
def test_every_operation_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate()


# Last, as it deletes the run's chats.
@schema.include(method="DELETE", path="/chats/all").parametrize()
@_SETTINGS
def test_deleting_all_chats_answers_as_documented(case: schemathesis.Case) -> None:
    case.call_and_validate()
