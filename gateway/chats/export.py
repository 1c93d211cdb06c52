"""A chat's history taken away: a Jupyter notebook, a Python script, a Markdown report.

The notebook is nbformat 4.5 JSON, made here from the history (the format is small and stable, so
the gateway needs no Jupyter package; the tests validate it with `nbformat` and run it with
`nbclient`). Each question and answer is a Markdown cell, each step's code a code cell with its
outputs; an upload becomes the code that loads the file again and a restart `%reset -f`, so the
notebook, run top to bottom beside the chat's files, does the analysis again. A file kept only as a
file (a PDF, an image, data that did not load) is a note.

Figures are kept in the history without their pixels (they are files in the workspace), so the
notebook embeds each from the workspace, through `FigureReader`, which reads by descriptor and
within a size budget: a figure that is gone or too large is a text note instead.
"""

import base64
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from gateway.chats.journal import (
    CellResult,
    CodeRecord,
    HistoryRecord,
    PackagesRecord,
    QueryRecord,
    RestartRecord,
    UploadRecord,
)
from gateway.chats.store import Chat
from shared.packages import InvalidRequirement, parse_requirement
from shared.uploads import is_variable_name

# The PNG bytes of a workspace file, or None when it cannot be embedded (gone, not a regular
# file, past the budget left).
FigureReader = Callable[[str], Awaitable[bytes | None]]

# All figures of one notebook together; past it, the rest are named, not embedded.
FIGURES_BUDGET_BYTES = 50 * 1024 * 1024

_KERNEL = {"name": "python3", "display_name": "Python 3", "language": "python"}


class _Notebook:
    def __init__(self, figure: FigureReader) -> None:
        self.cells: list[dict[str, Any]] = []
        self._figure = figure
        self._count = 0

    def _id(self) -> str:
        # nbformat 4.5: unique, 1-64 characters of [a-zA-Z0-9-_].
        return f"cell-{len(self.cells) + 1}"

    def markdown(self, text: str) -> None:
        self.cells.append(
            {"id": self._id(), "cell_type": "markdown", "metadata": {}, "source": text}
        )

    async def code(self, source: str, result: CellResult | None) -> None:
        self._count += 1
        outputs = [] if result is None else await self._outputs(result)
        self.cells.append(
            {
                "id": self._id(),
                "cell_type": "code",
                "metadata": {},
                "execution_count": self._count if result is not None else None,
                "source": source,
                "outputs": outputs,
            }
        )

    async def _outputs(self, result: CellResult) -> list[dict[str, Any]]:
        outputs: list[dict[str, Any]] = []
        for name, text in (("stdout", result.stdout), ("stderr", result.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        for display in result.outputs:
            data = dict(display.data)
            if display.filename is not None and "image/png" not in data:
                png = await self._figure(display.filename)
                if png is None:
                    data["text/plain"] = f"[figure {display.filename}: in the chat's files]"
                else:
                    data["image/png"] = base64.b64encode(png).decode()
            if display.is_result:
                outputs.append(
                    {
                        "output_type": "execute_result",
                        "execution_count": self._count,
                        "data": data,
                        "metadata": display.metadata,
                    }
                )
            else:
                outputs.append(
                    {"output_type": "display_data", "data": data, "metadata": display.metadata}
                )
        if result.error is not None:
            outputs.append(
                {
                    "output_type": "error",
                    "ename": result.error.ename,
                    "evalue": result.error.evalue,
                    "traceback": result.error.traceback,
                }
            )
        return outputs


def _ended(record: HistoryRecord) -> str | None:
    """A note for a run that did not end well, or None."""
    if record.status == "done":
        return None
    why = f": {record.error}" if record.error else ""
    return f"*This run ended `{record.status}`{why}.*"


def _packages_note(record: PackagesRecord) -> str:
    """Packages installed from the server's store. Only entries of the requirement grammar are
    named (shared.packages), so nothing journaled becomes Markdown or code of its own; the
    notebook does not install them (it may run where there is an index, or none)."""
    named = []
    for entry in record.installed:
        try:
            named.append(str(parse_requirement(entry)))
        except InvalidRequirement:
            continue
    return f"Packages installed here from the server's store: {', '.join(named) or 'none'}."


def _load_upload(record: UploadRecord) -> str | None:
    """The code that loads an upload's DataFrames again, from the chat's files beside the
    notebook, with the reader and options that loaded them (None: it was kept only as a file).
    Every value is written with repr, and a name that is not an identifier (what a sandbox made
    up) is left out, so nothing journaled becomes code of its own."""
    lines = []
    for dataset in record.loaded():
        if not is_variable_name(dataset.variable):
            continue
        options = "".join(
            f", {key}={value!r}"
            for key, value in dataset.options.model_dump(exclude_none=True).items()
        )
        lines.append(f"{dataset.variable} = pd.{dataset.reader}({record.file!r}{options})")
    if not lines:
        return None
    return "import pandas as pd\n\n" + "\n".join(lines)


def _upload_note(record: UploadRecord) -> str:
    """What an upload was, in words (Markdown)."""
    datasets = record.loaded()
    loaded = ", ".join(
        f"`{d.variable}`" + (f" (sheet {d.sheet!r})" if d.sheet is not None else "")
        for d in datasets
    )
    if loaded:
        plural = "s" if len(datasets) > 1 else ""
        return f"Uploaded `{record.file}` as the DataFrame{plural} {loaded}."
    if record.load_error:
        return (
            f"Uploaded `{record.file}`, kept as a file: it was not loaded as {record.format} "
            f"({record.load_error})."
        )
    return f"Uploaded `{record.file}`, kept as a file."


async def notebook(chat: Chat, history: list[HistoryRecord], figure: FigureReader) -> str:
    """The chat as an nbformat 4.5 notebook, JSON."""
    book = _Notebook(figure)
    book.markdown(f"# {chat.title or chat.chat_id}\n\nExported from AI Data Scientist, {_now()}.")
    for record in history:
        match record:
            case QueryRecord():
                book.markdown(f"**Question:** {record.query}")
                for step in record.steps:
                    await book.code(step.code, step)
                if record.answer:
                    book.markdown(f"**Answer:** {record.answer}")
            case CodeRecord():
                await book.code(record.code, record.result)
            case UploadRecord():
                book.markdown(_upload_note(record))
                if (code := _load_upload(record)) is not None:
                    await book.code(code, None)
            case PackagesRecord():
                book.markdown(_packages_note(record))
            case RestartRecord():
                book.markdown("The session was restarted here: variables and files cleared.")
                await book.code("%reset -f", None)
        if (note := _ended(record)) is not None:
            book.markdown(note)
    document = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": _KERNEL,
            "language_info": {"name": "python"},
            "ai_data_scientist": {"chat_id": chat.chat_id, "title": chat.title},
        },
        "cells": book.cells,
    }
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"


def script(chat: Chat, history: list[HistoryRecord]) -> str:
    """The chat as a Python script: the code as it ran, the questions and answers as comments."""
    lines = [f"# {chat.title or chat.chat_id}", f"# Exported from AI Data Scientist, {_now()}.", ""]
    for record in history:
        match record:
            case QueryRecord():
                lines += [*_comment("Question: " + record.query), ""]
                for step in record.steps:
                    lines += [step.code.rstrip(), ""]
                if record.answer:
                    lines += [*_comment("Answer: " + record.answer), ""]
            case CodeRecord():
                lines += [record.code.rstrip(), ""]
            case UploadRecord():
                code = _load_upload(record)
                lines += [*_comment(_upload_note(record)), *([code] if code else []), ""]
            case PackagesRecord():
                lines += [*_comment(_packages_note(record)), ""]
            case RestartRecord():
                lines += [
                    *_comment("The session was restarted here: variables, files cleared."),
                    "",
                ]
        if record.status != "done":
            lines += [*_comment(f"This run ended {record.status}: {record.error or ''}"), ""]
    return "\n".join(lines).rstrip() + "\n"


def report(chat: Chat, history: list[HistoryRecord]) -> str:
    """The chat as a Markdown report; figures are linked by their file names (they come with
    the chat's files)."""
    parts = [f"# {chat.title or chat.chat_id}", f"Exported from AI Data Scientist, {_now()}."]
    for record in history:
        match record:
            case QueryRecord():
                parts.append(f"## {record.query}")
                for step in record.steps:
                    parts += _code_and_result(step.code, step)
                if record.answer:
                    parts.append(record.answer)
            case CodeRecord():
                parts += _code_and_result(record.code, record.result)
            case UploadRecord():
                shapes = ", ".join(
                    f"`{d.variable}` {' x '.join(map(str, d.shape))}" for d in record.loaded()
                )
                parts.append(f"*{_upload_note(record)}*" + (f" ({shapes})" if shapes else ""))
            case PackagesRecord():
                parts.append(f"*{_packages_note(record)}*")
            case RestartRecord():
                parts.append("*The session was restarted here: variables and files cleared.*")
        if (note := _ended(record)) is not None:
            parts.append(note)
    return "\n\n".join(parts) + "\n"


def _code_and_result(code: str, result: CellResult | None) -> list[str]:
    parts = [_fenced(code, "python")]
    if result is None:
        return parts
    text = result.stdout + result.stderr
    if result.result is not None:
        text += result.result + "\n"
    if result.error is not None:
        text += f"{result.error.ename}: {result.error.evalue}\n"
    if text:
        parts.append(_fenced(text.rstrip("\n"), "text"))
    for output in result.outputs:
        if output.filename is not None:
            parts.append(f"![{output.filename}]({output.filename})")
    return parts


def _fenced(text: str, language: str) -> str:
    # A fence longer than any run of backticks inside, so no text can close it early.
    fence = "`" * max(3, _longest_backticks(text) + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def _longest_backticks(text: str) -> int:
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    return longest


def _comment(text: str) -> list[str]:
    return [f"# {line}".rstrip() for line in text.splitlines() or [""]]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
