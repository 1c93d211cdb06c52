"""Uploads in an exported chat: the code that loads each DataFrame again, with the reader and
options that loaded it; files kept only as files as notes; nothing journaled becomes code."""

import ast

from gateway.chats import export
from gateway.chats.journal import UploadedDataset, UploadRecord
from gateway.chats.store import Chat
from shared.protocol import ReaderOptions

CHAT = Chat(chat_id="chat_20261201_000000_abcd", user_id="local", created_at="", title="")


def dataset(variable: str, reader: str = "read_csv", **options: object) -> UploadedDataset:
    return UploadedDataset.model_validate(
        {"variable": variable, "shape": [2, 2], "reader": reader, "options": options}
    )


def test_each_format_is_loaded_again_as_it_was() -> None:
    history = [
        UploadRecord(file="old.csv", variable="old", shape=[3, 2]),  # before datasets
        UploadRecord(
            file="towns.csv",
            format="csv",
            datasets=[dataset("towns", sep=";", encoding="latin-1")],
        ),
        UploadRecord(
            file="book.xlsx",
            format="excel",
            datasets=[
                dataset("book_sales", "read_excel", sheet_name="Sales"),
                dataset("book_costs", "read_excel", sheet_name="Costs '24"),
            ],
        ),
        UploadRecord(
            file="v.jsonl", format="jsonl", datasets=[dataset("v", "read_json", lines=True)]
        ),
        UploadRecord(file="report.pdf", size=10),
        UploadRecord(file="bad.parquet", format="parquet", load_error="not Parquet"),
    ]
    script = export.script(CHAT, history)
    ast.parse(script)
    code = [line for line in script.splitlines() if line and not line.startswith(("#", "import"))]
    assert code == [
        "old = pd.read_csv('old.csv')",
        "towns = pd.read_csv('towns.csv', sep=';', encoding='latin-1')",
        "book_sales = pd.read_excel('book.xlsx', sheet_name='Sales')",
        "book_costs = pd.read_excel('book.xlsx', sheet_name=\"Costs '24\")",
        "v = pd.read_json('v.jsonl', lines=True)",
    ]
    assert "# Uploaded `report.pdf`, kept as a file." in script
    assert (
        "# Uploaded `bad.parquet`, kept as a file: it was not loaded as parquet (not Parquet)."
        in (script)
    )


def test_a_name_that_is_not_an_identifier_never_becomes_code() -> None:
    # Only a sandbox that user code took over could answer with such a name.
    record = UploadRecord(
        file="x.csv",
        datasets=[UploadedDataset(variable="os.system('id') or x", options=ReaderOptions())],
    )
    assert "os.system" not in "\n".join(
        line for line in export.script(CHAT, [record]).splitlines() if not line.startswith("#")
    )
