"""What the model is told about uploads: every dataset (variable, shape, columns, sheet) and
every file kept as a file, since the session was last restarted."""

from gateway.agent.prompts import current_uploads, history_messages, system_prompt
from gateway.chats.journal import RestartRecord, UploadedDataset, UploadRecord

BOOK = UploadRecord(
    file="book.xlsx",
    format="excel",
    datasets=[
        UploadedDataset(
            variable="book_sales", shape=[3, 2], columns=["region", "units"], sheet="Sales"
        ),
        UploadedDataset(variable="book_wide", shape=[1, 45], columns=[f"c{i}" for i in range(45)]),
    ],
)
PDF = UploadRecord(file="report.pdf", size=1234)
BROKEN = UploadRecord(file="bad.parquet", format="parquet", load_error="magic bytes not found")


def test_the_prompt_describes_every_dataset_and_kept_file() -> None:
    prompt = system_prompt(60, [], {}, [], [BOOK, PDF, BROKEN])
    assert (
        "Uploaded dataset: book.xlsx (sheet 'Sales') loaded as DataFrame `book_sales` with "
        "shape (3, 2)." in prompt
    )
    assert "  columns: region, units" in prompt
    assert "c39, and 5 more" in prompt
    assert "Uploaded file: report.pdf, 1234 bytes, kept in /workspace as a file" in prompt
    assert "bad.parquet" in prompt and "not loaded as parquet: magic bytes not found" in prompt


def test_only_uploads_since_the_last_restart_are_current() -> None:
    old = UploadRecord(file="old.csv", variable="old", shape=[1, 1])
    assert current_uploads([old, RestartRecord(), PDF, BOOK]) == [PDF, BOOK]


def test_past_turns_name_what_an_upload_became() -> None:
    messages = history_messages([BOOK, PDF], 10_000)
    assert messages[0]["content"] == (
        "(I uploaded book.xlsx; it is loaded as `book_sales`, `book_wide`.)"
    )
    assert messages[1]["content"] == "(I uploaded report.pdf; it is kept as a file.)"
