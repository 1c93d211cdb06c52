"""An executor that answers with an error is reported as what it is, in JSON, and not asked
again: here its kernel fails while loading an upload (user code broke pandas in the kernel, as
any code may), and the executor answers a 500 of its own."""

from tests.gateway_process import GatewayProcess

BREAK_THE_LOADER = """
import pandas
loads = []
def broken_head(self, n=5):
    loads.append(n)
    raise MemoryError("no memory left for the preview")
pandas.DataFrame.head = broken_head
"""


def test_an_executor_error_answer_is_a_json_502_with_its_detail_and_not_retried(
    gateway: GatewayProcess, chat_id: str
) -> None:
    gateway.run(chat_id, BREAK_THE_LOADER)

    response = gateway.client.post(
        f"/upload_csv/{chat_id}", files={"file": ("sales.csv", b"a,b\n1,2\n", "text/csv")}
    )

    assert response.status_code == 502, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert detail.startswith("the sandbox failed at /load_csv (500): ")
    assert "MemoryError: no memory left for the preview" in detail
    assert gateway.run(chat_id, "len(loads)")["result"] == "1"  # asked once, not again
    assert gateway.client.get(f"/files/{chat_id}").json() == []  # the upload was discarded
    kinds = [m["kind"] for m in gateway.client.get(f"/chat/{chat_id}/messages").json()]
    assert kinds == ["code", "code"]  # no upload record for an upload that failed
