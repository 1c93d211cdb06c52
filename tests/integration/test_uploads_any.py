"""POST /upload of any files, with real files made here: each is kept, data formats become
DataFrames (a workbook's sheets one each), what does not parse is kept and says why, names never
clash, and bad requests leave nothing behind."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import data_files
from tests.gateway_process import GatewayProcess

CSV = b"region,units\nnorth,3\nsouth,4\n"


def post(
    gateway: GatewayProcess, chat_id: str, *files: tuple[str, bytes], **params: Any
) -> httpx.Response:
    parts = [("file", (name, data, "application/octet-stream")) for name, data in files]
    return gateway.client.post(f"/upload/{chat_id}", files=parts, params=params, timeout=120)


def upload(gateway: GatewayProcess, chat_id: str, *files: tuple[str, bytes], **params: Any):
    response = post(gateway, chat_id, *files, **params)
    assert response.status_code == 200, response.text
    return response.json()["files"]


def paths(gateway: GatewayProcess, chat_id: str) -> list[str]:
    return sorted(f["path"] for f in gateway.client.get(f"/files/{chat_id}").json())


def variables(gateway: GatewayProcess, chat_id: str) -> list[str]:
    return sorted(v["name"] for v in gateway.client.get(f"/variables/{chat_id}").json())


def value(gateway: GatewayProcess, chat_id: str, code: str) -> str:
    reply = gateway.run(chat_id, code)
    assert reply["status"] == "ok", reply
    return reply["result"]


def test_a_two_sheet_workbook_is_a_dataframe_per_sheet(
    gateway: GatewayProcess, chat_id: str
) -> None:
    [book] = upload(gateway, chat_id, ("Q1 book.xlsx", data_files.two_sheet_workbook()))
    assert (book["name"], book["kind"], book["path"], book["format"]) == (
        "Q1 book.xlsx",
        "dataset",
        "Q1_book.xlsx",
        "excel",
    )
    sales, costs = book["datasets"]
    assert (sales["variable"], sales["sheet"], sales["shape"]) == ("q1_book_sales", "Sales", [3, 2])
    assert sales["columns"] == ["region", "units"] and sales["dtypes"]["units"] == "int64"
    assert sales["head"][0] == {"region": "north", "units": 3}
    assert (costs["variable"], costs["shape"], costs["path"]) == (
        "q1_book_costs_2024",
        [2, 3],
        "Q1_book.xlsx",
    )
    assert value(gateway, chat_id, "int(q1_book_sales.units.sum())") == "12"
    assert value(gateway, chat_id, "float(q1_book_costs_2024.cost.sum())") == "1280.75"
    assert paths(gateway, chat_id) == ["Q1_book.xlsx"]


def test_several_files_in_one_request_each_with_its_result(
    gateway: GatewayProcess, chat_id: str
) -> None:
    results = upload(
        gateway,
        chat_id,
        ("cities.parquet", data_files.parquet()),
        ("visits.jsonl", data_files.json_lines()),
        ("towns.csv", data_files.latin1_semicolons()),
        ("flags.feather", data_files.feather_file()),
        ("budget.xls", data_files.xls()),
        ("notes.txt", b"remember the milk\n"),
    )
    assert [r["kind"] for r in results] == ["dataset"] * 5 + ["file"]
    cities, visits, towns, flags, budget, notes = results
    assert cities["datasets"][0]["head"][2] == {"city": "Lima", "temp": 22.25}
    assert visits["datasets"][0]["shape"] == [3, 2]
    [town] = towns["datasets"]
    assert town["options"]["sep"] == ";" and town["options"]["encoding"] == "latin-1"
    assert town["head"][1] == {"ville": "Genève", "prix": "4,25", "note": "modéré"}
    assert flags["datasets"][0]["dtypes"] == {"id": "int64", "ok": "bool"}
    assert budget["datasets"][0]["variable"] == "budget"
    assert (notes["format"], notes["datasets"], notes["load_error"]) == (None, [], None)
    assert value(gateway, chat_id, "towns.ville.tolist()") == "['Montréal', 'Genève', 'Zürich']"
    assert value(gateway, chat_id, "int(budget.amount.sum())") == "42"
    assert variables(gateway, chat_id) == ["budget", "cities", "flags", "towns", "visits"]
    # Each is journaled on its own: the history (and so the prompt and the export) has them all.
    history = gateway.client.get(f"/chat/{chat_id}/messages").json()
    uploads = [m for m in history if m["kind"] == "upload"]
    assert [u["file"] for u in uploads] == [r["path"] for r in results]
    assert uploads[2]["datasets"][0]["options"]["sep"] == ";"
    assert uploads[5]["variable"] == "" and uploads[5]["size"] == len(b"remember the milk\n")


def test_a_pdf_and_a_zip_bomb_are_kept_as_files_untouched(
    gateway: GatewayProcess, chat_id: str
) -> None:
    pdf, bomb = data_files.pdf_like(), data_files.zip_bomb()
    results = upload(gateway, chat_id, ("report.pdf", pdf), ("bomb.zip", bomb))
    assert [(r["kind"], r["path"], r["size"]) for r in results] == [
        ("file", "report.pdf", len(pdf)),
        ("file", "bomb.zip", len(bomb)),
    ]
    assert gateway.client.get(f"/file/{chat_id}/report.pdf").content == pdf
    assert gateway.client.get(f"/file/{chat_id}/bomb.zip").content == bomb
    assert paths(gateway, chat_id) == ["bomb.zip", "report.pdf"]  # nothing unpacked
    assert variables(gateway, chat_id) == []


# Each claims a data format and is not it: (name, bytes, what the reason says).
NOT_WHAT_THEY_CLAIM = [
    ("broken.parquet", b"PAR1 but not really", "could not be read as Parquet"),
    ("broken.xls", data_files.pdf_like(), "could not be read as an Excel workbook"),
    ("broken.xlsx", b"PK\x03\x04 truncated zip", "could not be read as an Excel workbook"),
    ("list.json", b'{"a": 1}', "not table-shaped"),
    ("bomb.xlsx", data_files.zip_claiming(2**31), "would unpack to 2147483648 bytes"),
]


@pytest.mark.parametrize(
    ("name", "data", "why"), NOT_WHAT_THEY_CLAIM, ids=[c[0] for c in NOT_WHAT_THEY_CLAIM]
)
def test_a_file_that_claims_a_format_but_does_not_parse_is_kept_and_says_why(
    gateway: GatewayProcess, chat_id: str, name: str, data: bytes, why: str
) -> None:
    [result] = upload(gateway, chat_id, (name, data))
    assert (result["kind"], result["path"], result["datasets"]) == ("file", name, [])
    assert why in result["load_error"], result["load_error"]
    assert ".upload-" not in result["load_error"]  # named as the user knows it
    assert gateway.client.get(f"/file/{chat_id}/{name}").content == data
    assert variables(gateway, chat_id) == []
    [record] = gateway.client.get(f"/chat/{chat_id}/messages").json()
    assert (record["file"], record["load_error"]) == (name, result["load_error"])


def test_a_workbook_with_too_many_sheets_is_kept_with_the_limit(
    gateway: GatewayProcess, chat_id: str
) -> None:
    sheets = {f"S{i}": [("a",), (i,)] for i in range(60)}
    [result] = upload(gateway, chat_id, ("wide.xlsx", data_files.xlsx(sheets)))
    assert result["kind"] == "file"
    assert result["load_error"].startswith("the workbook has 60 sheets; at most 50 are loaded")
    assert "sheet_name" in result["load_error"]
    assert variables(gateway, chat_id) == []


def test_names_that_clash_get_numbers_unless_overwrite(
    gateway: GatewayProcess, chat_id: str
) -> None:
    value(gateway, chat_id, "units = 'mine'\nopen('units.csv', 'w').write('x\\n1\\n')\n1")
    first = upload(gateway, chat_id, ("units.csv", CSV))[0]
    assert (first["path"], first["datasets"][0]["variable"]) == ("units_2.csv", "units_2")
    # The same name twice in one request: never one over the other, overwrite or not.
    twice = upload(gateway, chat_id, ("units.csv", CSV), ("units.csv", CSV), overwrite="true")
    assert [r["path"] for r in twice] == ["units.csv", "units_3.csv"]
    assert [r["datasets"][0]["variable"] for r in twice] == ["units", "units_3"]
    assert value(gateway, chat_id, "units.shape") == "(2, 2)"  # replaced, as asked
    assert paths(gateway, chat_id) == ["units.csv", "units_2.csv", "units_3.csv"]
    assert gateway.client.get(f"/file/{chat_id}/units.csv").content == CSV
    # A name that is not an identifier, and one that hides nothing of Python's.
    odd = upload(gateway, chat_id, ("2024 sales (final).csv", CSV), ("print.csv", CSV))
    assert [r["datasets"][0]["variable"] for r in odd] == ["df_2024_sales_final", "print_2"]
    assert odd[0]["path"] == "2024_sales_final_.csv"


@pytest.mark.parametrize("name", ["../../etc/passwd.csv", "/etc/passwd", "a/../../b.csv"])
def test_a_name_that_leaves_its_folder_is_refused(
    gateway: GatewayProcess, chat_id: str, name: str
) -> None:
    response = post(gateway, chat_id, ("ok.csv", CSV), (name, CSV))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_path"
    assert paths(gateway, chat_id) == [] and variables(gateway, chat_id) == []


def test_delimiter_and_encoding_can_be_given(gateway: GatewayProcess, chat_id: str) -> None:
    pipes = "a|b\n1|é\n".encode("cp1252")
    [by_query] = upload(gateway, chat_id, ("p.csv", pipes), delimiter="|", encoding="cp1252")
    assert by_query["datasets"][0]["head"] == [{"a": 1, "b": "é"}]
    response = gateway.client.post(
        f"/upload/{chat_id}",
        files=[("file", ("t.txt.tsv", b"a;b\n1;2\n")), ("delimiter", (None, ";"))],
    )
    assert response.json()["files"][0]["datasets"][0]["columns"] == ["a", "b"]
    for params, problem in [
        ({"delimiter": ";;"}, "delimiter"),
        ({"delimiter": '"'}, "delimiter"),
        ({"encoding": "klingon"}, "encoding"),
        ({"encoding": "zlib"}, "encoding"),
    ]:
        response = post(gateway, chat_id, ("x.csv", CSV), **params)
        assert response.status_code == 422, (params, response.text)
        assert problem in str(response.json()["detail"])
    # As form fields, checked by the route: the same answer, in a sentence.
    for field, given in [("delimiter", "x"), ("encoding", "klingon"), ("overwrite", "yes")]:
        response = gateway.client.post(
            f"/upload/{chat_id}", files=[("file", ("x.csv", CSV)), (field, (None, given))]
        )
        assert response.status_code == 422, (field, response.text)
        assert response.json()["detail"].startswith(field), response.text
    response = gateway.client.post(
        f"/upload/{chat_id}", files=[("file", ("x.csv", CSV)), ("other", (None, "1"))]
    )
    assert response.status_code == 422 and "other" in response.json()["detail"]
    no_file = gateway.client.post(f"/upload/{chat_id}", files=[("delimiter", (None, ";"))])
    assert no_file.status_code == 422
    assert paths(gateway, chat_id) == ["p.csv", "t.txt.tsv"]


def test_import_any_file_from_import_dir(
    gateway: GatewayProcess, chat_id: str, import_dir: Path
) -> None:
    (import_dir / "quarterly.xlsx").write_bytes(data_files.two_sheet_workbook())
    response = gateway.client.post(
        f"/upload/{chat_id}", json={"file_path": str(import_dir / "quarterly.xlsx")}
    )
    assert response.status_code == 200, response.text
    [book] = response.json()["files"]
    assert [d["variable"] for d in book["datasets"]] == ["quarterly_sales", "quarterly_costs_2024"]
    (import_dir / "semi.csv").write_bytes(b"a;b\n1;2\n")
    response = gateway.client.post(
        f"/upload/{chat_id}", json={"file_path": "semi.csv", "delimiter": ",", "overwrite": True}
    )
    assert response.json()["files"][0]["datasets"][0]["columns"] == ["a;b"]
    outside = gateway.client.post(f"/upload/{chat_id}", json={"file_path": "/etc/passwd"})
    assert (outside.status_code, outside.json()["code"]) == (403, "import_not_allowed")
    bad = gateway.client.post(f"/upload/{chat_id}", json={"path": "semi.csv"})
    assert bad.status_code == 422


@pytest.fixture(scope="module")
def small_gateway(gateway_env: dict[str, str], tmp_path_factory) -> Iterator[GatewayProcess]:
    """Uploads capped at 64 KiB, and chats at 1 MiB of disk."""
    env = {**gateway_env, "MAX_UPLOAD_BYTES": str(64 * 1024), "SANDBOX_DISK_LIMIT": "1m"}
    with GatewayProcess(env, Path(tmp_path_factory.mktemp("small-any"))) as process:
        yield process


def test_files_past_the_limits_are_refused_and_leave_nothing(
    small_gateway: GatewayProcess,
) -> None:
    with small_gateway.new_chat() as chat_id:
        # A body past MAX_UPLOAD_BYTES (and its slack for the envelope) is refused as it comes.
        whole = post(
            small_gateway, chat_id, ("a.bin", bytes(70 * 1024)), ("b.bin", bytes(70 * 1024))
        )
        assert (whole.status_code, whole.json()["code"]) == (413, "payload_too_large")
        # One file past it: its own error, the others kept; it leaves no part of itself.
        big = ("big.bin", bytes(70 * 1024))
        alone = post(small_gateway, chat_id, big)
        assert (alone.status_code, alone.json()["code"]) == (413, "payload_too_large")
        assert "MAX_UPLOAD_BYTES" in alone.json()["detail"]
        assert paths(small_gateway, chat_id) == []
        ok, too_big = upload(small_gateway, chat_id, ("a.csv", CSV), big)
        assert (ok["kind"], too_big["kind"]) == ("dataset", "failed")
        assert (too_big["error"]["status"], too_big["error"]["code"]) == (413, "payload_too_large")
        assert paths(small_gateway, chat_id) == ["a.csv"]
        small_gateway.client.delete(f"/file/{chat_id}/a.csv")
        value(small_gateway, chat_id, "del a\n1")
        # Past the chat's disk limit, however the request is cut into files.
        value(small_gateway, chat_id, "open('fill.bin', 'wb').write(bytes(1000 * 1024))\n1")
        full = post(small_gateway, chat_id, ("a.csv", CSV), ("b.bin", bytes(40 * 1024)))
        assert (full.status_code, full.json()["code"]) == (413, "disk_quota_exceeded")
        assert paths(small_gateway, chat_id) == ["fill.bin"]
        assert variables(small_gateway, chat_id) == []


def test_the_brief_upload_csv_still_answers_as_it_did(
    gateway: GatewayProcess, chat_id: str
) -> None:
    response = gateway.client.post(
        f"/upload_csv/{chat_id}", files={"file": ("sales.csv", CSV, "text/csv")}
    )
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"variable", "path", "shape", "columns", "dtypes", "head"}
    assert paths(gateway, chat_id) == ["sales.csv"]
