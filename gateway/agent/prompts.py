"""What the model is told: the system prompt with the chat's live context, and past turns.

The context is rebuilt for every query from the sandbox itself (variables, DataFrame columns,
files), so the model never works from a stale idea of the session.
"""

from collections.abc import Sequence

from gateway.chats.journal import (
    CodeRecord,
    HistoryRecord,
    PackagesRecord,
    QueryRecord,
    RestartRecord,
    UploadRecord,
)
from gateway.sandbox.files import FileInfo
from shared.protocol import VariableInfo, VariableValue

RULES = """\
You are an expert data scientist working with the user in a chat. You have a Python 3.11 \
sandbox that runs cells with IPython (magics and `!cmd` shell escapes work as in Jupyter): \
call the `run_python` tool to run code there, look at what it prints, and continue until you \
can answer. When the analysis needs a package that is not installed, call the \
`install_packages` tool with packages the server's store offers (listed below). The namespace \
persists: variables defined earlier in this chat, and datasets the user uploaded, are already \
loaded.

The sandbox:
- has NO network access: nothing can be downloaded, and pip does not work there (never \
run or suggest pip install): only `install_packages` installs, and only from the store;
- has pandas, numpy, matplotlib, seaborn, plotly, scipy, scikit-learn, statsmodels, sympy, \
networkx, xarray, polars, duckdb, pyarrow, openpyxl, xlrd, pillow, scikit-image, opencv \
(cv2), beautifulsoup4 and lxml installed;
- runs in the working directory /workspace: read the user's files there and save every output \
file there, with a clear name;
- shows matplotlib figures left open at the end of a cell to the user as PNG files \
(plot_1.png, ...), so do not call plt.savefig unless the user wants a specific file name;
- stops a cell after {timeout:g} seconds.

Print only what you need to read (df.head(), shapes, summaries), never whole large tables. If \
code fails, read the error and fix it. When you are done, answer in concise Markdown: say what \
you found, and name the files you created."""

MAX_FRAMES_DESCRIBED = 8
MAX_COLUMNS_DESCRIBED = 40
MAX_FILES_LISTED = 50
# Uploads described, newest kept: each dataset or kept file is a line or two.
MAX_UPLOADS_DESCRIBED = 30
# Packages named in the prompt at most, of those installed and of the store's.
MAX_PACKAGES_LISTED = 150


def system_prompt(
    timeout_s: float,
    variables: list[VariableInfo],
    frames: dict[str, VariableValue],
    files: list[FileInfo],
    uploads: list[UploadRecord],
    installed: Sequence[str] = (),
    installable: Sequence[str] = (),
) -> str:
    """`installed`: the chat's own packages (name==version); `installable`: the store's."""
    lines = [RULES.format(timeout=timeout_s), "", "## The session now"]
    lines.append(f"Packages installed in this chat: {_listed(installed) or 'none yet'}.")
    lines.append(
        f"Packages the store offers to install_packages: {_listed(installable)}."
        if installable
        else "The package store is empty: no more packages can be installed."
    )
    if variables:
        lines.append("Variables:")
        for var in variables:
            shape = f" shape {tuple(var.shape)}" if var.shape else ""
            lines.append(f"- `{var.name}`: {var.type}{shape}: {var.preview[:120]}")
            frame = frames.get(var.name)
            if frame is not None and frame.dtypes:
                columns = list(frame.dtypes.items())[:MAX_COLUMNS_DESCRIBED]
                described = ", ".join(f"{name} ({dtype})" for name, dtype in columns)
                more = len(frame.dtypes) - len(columns)
                lines.append(f"  columns: {described}" + (f", and {more} more" if more > 0 else ""))
    else:
        lines.append("Variables: none yet.")
    if files:
        listed = ", ".join(f"{f.path} ({f.size} bytes)" for f in files[:MAX_FILES_LISTED])
        lines.append(f"Files in /workspace: {listed}")
    else:
        lines.append("Files in /workspace: none yet.")
    for upload in uploads[-MAX_UPLOADS_DESCRIBED:]:
        lines += _upload_lines(upload)
    return "\n".join(lines)


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_PACKAGES_LISTED])
    more = len(names) - MAX_PACKAGES_LISTED
    return shown + (f", and {more} more" if more > 0 else "")


def current_uploads(history: Sequence[HistoryRecord]) -> list[UploadRecord]:
    """The uploads since the session was last restarted (a restart deletes their files)."""
    uploads: list[UploadRecord] = []
    for record in history:
        if isinstance(record, RestartRecord):
            uploads = []
        elif isinstance(record, UploadRecord):
            uploads.append(record)
    return uploads


def _upload_lines(upload: UploadRecord) -> list[str]:
    """Each dataset an upload was loaded as (name, shape, columns), or the file it is kept as."""
    lines = []
    for dataset in upload.loaded():
        sheet = f" (sheet {dataset.sheet!r})" if dataset.sheet is not None else ""
        line = (
            f"Uploaded dataset: {upload.file}{sheet} loaded as DataFrame `{dataset.variable}`"
            f" with shape {tuple(dataset.shape)}."
        )
        lines.append(line)
        if dataset.columns:
            shown = dataset.columns[:MAX_COLUMNS_DESCRIBED]
            more = (dataset.shape[1] if len(dataset.shape) > 1 else 0) - len(shown)
            lines.append(
                f"  columns: {', '.join(shown)}" + (f", and {more} more" if more > 0 else "")
            )
    if lines:
        return lines
    size = f", {upload.size} bytes" if upload.size is not None else ""
    if upload.load_error:
        return [
            f"Uploaded file: {upload.file}{size}, kept in /workspace as a file; it was not "
            f"loaded as {upload.format}: {upload.load_error[:300]}"
        ]
    return [
        f"Uploaded file: {upload.file}{size}, kept in /workspace as a file (not a table: "
        "open it with code when the user asks about it)."
    ]


def history_messages(history: Sequence[HistoryRecord], budget_chars: int) -> list[dict[str, str]]:
    """Past turns as chat messages, newest kept first until `budget_chars` is spent, so a long
    chat keeps working: the model sees recent turns whole and older ones not at all."""
    turns: list[list[dict[str, str]]] = []
    for record in history:
        turn = _turn(record)
        if turn:
            turns.append(turn)
    kept: list[list[dict[str, str]]] = []
    spent = 0
    for turn in reversed(turns):
        size = sum(len(m["content"]) for m in turn)
        if spent + size > budget_chars:
            break
        kept.append(turn)
        spent += size
    return [message for turn in reversed(kept) for message in turn]


def _turn(record: HistoryRecord) -> list[dict[str, str]]:
    match record:
        case QueryRecord(status="done"):
            code = "\n\n".join(step.code for step in record.steps)
            answer = record.answer or ""
            if code:
                answer += f"\n\n(Code I ran for this:\n```python\n{_clip(code, 1500)}\n```)"
            return [_user(record.query), {"role": "assistant", "content": answer}]
        case CodeRecord(status="done"):
            result = record.result
            error = result.error.evalue if result and result.error else None
            outcome = error or (result.result if result else None) or "done"
            code = _clip(record.code, 1500)
            return [
                _user(
                    f"(I ran this code myself:\n```python\n{code}\n```\n"
                    f"Outcome: {_clip(outcome, 300)})"
                )
            ]
        case UploadRecord():
            names = ", ".join(f"`{dataset.variable}`" for dataset in record.loaded())
            if names:
                return [_user(f"(I uploaded {record.file}; it is loaded as {names}.)")]
            return [_user(f"(I uploaded {record.file}; it is kept as a file.)")]
        case PackagesRecord():
            return [_user(f"(Installed from the store: {', '.join(record.installed)}.)")]
        case RestartRecord():
            return [
                _user(
                    "(I restarted the session: all variables, files and installed packages "
                    "are gone.)"
                )
            ]
    return []


def _user(content: str) -> dict[str, str]:
    return {"role": "user", "content": content}


def _clip(text: object, limit: int) -> str:
    text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n... [{len(text) - limit} more characters]"


def clip_middle(text: str, limit: int) -> str:
    """Keep the start and the end of long output: where it began and how it ended both matter."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}\n... [{len(text) - limit} characters cut] ...\n{text[-tail:]}"
