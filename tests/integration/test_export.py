"""A chat taken away as a notebook, a script and a report: the notebook is valid nbformat, embeds
its figures, and run top to bottom by nbclient on a Jupyter kernel beside the chat's files it gives
the same values as the chat did."""

import base64
import json
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from tests import data_files
from tests.gateway_process import GatewayProcess

CSV = b"region,units\nnorth,3\nsouth,4\neast,5\n"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def values(notebook: nbformat.NotebookNode) -> list[str]:
    """The text of every cell's value (execute_result), in order."""
    return [
        output["data"]["text/plain"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if output.output_type == "execute_result"
    ]


def test_a_chat_exports_as_a_notebook_that_runs_again(
    gateway: GatewayProcess, chat_id: str, tmp_path: Path
) -> None:
    gateway.run(
        chat_id, "import pandas as pd\nframe = pd.DataFrame({'a': [1, 2, 3]})\nframe.a.sum()"
    )
    gateway.run(chat_id, "print('checked')\nlen(frame)")
    upload = gateway.client.post(
        f"/upload_csv/{chat_id}", files={"file": ("sales.csv", CSV, "text/csv")}
    )
    assert upload.status_code == 200, upload.text
    gateway.run(chat_id, "int(sales.units.sum())")
    plotted = gateway.run(
        chat_id,
        "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('trend')\nplt.show()",
    )
    assert plotted["outputs"][0]["filename"]
    failed = gateway.run(chat_id, "1 / 0")
    assert failed["error"]["ename"] == "ZeroDivisionError"

    response = gateway.client.get(f"/chat/{chat_id}/export.ipynb")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ipynb+json")
    assert ".ipynb" in response.headers["content-disposition"]
    notebook = nbformat.reads(response.text, as_version=4)
    nbformat.validate(notebook)

    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert [cell.source.splitlines()[-1] for cell in code] == [
        "frame.a.sum()",
        "len(frame)",
        "sales = pd.read_csv('sales.csv')",
        "int(sales.units.sum())",
        "plt.show()",
        "1 / 0",
    ]
    exported = values(notebook)
    assert exported[1:] == ["3", "12"]
    assert code[1].outputs[0] == {"output_type": "stream", "name": "stdout", "text": "checked\n"}
    [figure] = code[4].outputs
    assert base64.b64decode(figure["data"]["image/png"]).startswith(PNG_SIGNATURE)
    assert code[5].outputs[-1]["ename"] == "ZeroDivisionError"

    # Run top to bottom on a Jupyter kernel, beside the chat's files.
    (tmp_path / "sales.csv").write_bytes(CSV)
    NotebookClient(
        notebook,
        timeout=60,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(tmp_path)}},
    ).execute()
    assert values(notebook) == exported


def test_uploads_of_every_format_export_as_the_code_that_loads_them(
    gateway: GatewayProcess, chat_id: str, tmp_path: Path
) -> None:
    files = {
        "book.xlsx": data_files.two_sheet_workbook(),
        "towns.csv": data_files.latin1_semicolons(),
        "cities.parquet": data_files.parquet(),
        "visits.jsonl": data_files.json_lines(),
        "budget.xls": data_files.xls(),
        "report.pdf": data_files.pdf_like(),
        "broken.parquet": b"not parquet",
    }
    parts = [("file", (name, data)) for name, data in files.items()]
    response = gateway.client.post(f"/upload/{chat_id}", files=parts, timeout=120)
    assert response.status_code == 200, response.text
    # As one string: IPython would wrap a long list where the sandbox does not.
    summary = (
        "str([float(book_costs_2024.cost.sum()), int(book_sales.units.sum()), "
        "towns.ville.tolist(), cities.temp.tolist(), int(visits.visits.sum()), "
        "int(budget.amount.sum())])"
    )
    reply = gateway.run(chat_id, summary)
    # The notebook's Out is the value's text/plain, as the chat's own result display has it.
    in_chat = next(o["data"]["text/plain"] for o in reply["outputs"] if o["is_result"])

    notebook = nbformat.reads(gateway.client.get(f"/chat/{chat_id}/export.ipynb").text, 4)
    nbformat.validate(notebook)
    code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    assert code[:5] == [
        "import pandas as pd\n\n"
        "book_sales = pd.read_excel('book.xlsx', sheet_name='Sales')\n"
        "book_costs_2024 = pd.read_excel('book.xlsx', sheet_name='Costs 2024')",
        "import pandas as pd\n\ntowns = pd.read_csv('towns.csv', sep=';', encoding='latin-1')",
        "import pandas as pd\n\ncities = pd.read_parquet('cities.parquet')",
        "import pandas as pd\n\nvisits = pd.read_json('visits.jsonl', lines=True)",
        "import pandas as pd\n\nbudget = pd.read_excel('budget.xls', sheet_name='Budget')",
    ]
    notes = [cell.source for cell in notebook.cells if cell.cell_type == "markdown"]
    assert "Uploaded `report.pdf`, kept as a file." in notes
    assert any(
        n.startswith("Uploaded `broken.parquet`, kept as a file: it was not loaded") for n in notes
    )

    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    assert values(notebook) == [in_chat]

    script = gateway.client.get(f"/chat/{chat_id}/export.py").text
    compile(script, "export.py", "exec")
    assert "towns = pd.read_csv('towns.csv', sep=';', encoding='latin-1')" in script
    report = gateway.client.get(f"/chat/{chat_id}/export.md").text
    assert "`book_sales` 3 x 2" in report


def test_a_chat_exports_as_a_script_and_a_report(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "total = sum(range(10))\ntotal")
    gateway.client.post(f"/restart/{chat_id}")
    gateway.run(chat_id, "x = '```'\nx")

    script = gateway.client.get(f"/chat/{chat_id}/export.py")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/x-python")
    compile(script.text, "export.py", "exec")
    assert "total = sum(range(10))" in script.text
    assert "# The session was restarted here" in script.text

    report = gateway.client.get(f"/chat/{chat_id}/export.md")
    assert report.status_code == 200
    assert "```python\ntotal = sum(range(10))\ntotal\n```" in report.text
    assert "```text\n45\n```" in report.text
    # A value holding backticks cannot close its block early.
    assert "````text\n```\n````" in report.text


def test_another_users_chat_cannot_be_exported(gateway: GatewayProcess) -> None:
    for suffix in ("ipynb", "py", "md"):
        response = gateway.client.get(f"/chat/chat_20200101_000000_none/export.{suffix}")
        assert (response.status_code, response.json()["code"]) == (404, "chat_not_found")


def test_an_empty_chat_exports_an_empty_valid_notebook(
    gateway: GatewayProcess, chat_id: str
) -> None:
    notebook = nbformat.reads(gateway.client.get(f"/chat/{chat_id}/export.ipynb").text, 4)
    nbformat.validate(notebook)
    assert [cell.cell_type for cell in notebook.cells] == ["markdown"]
    assert json.loads(nbformat.writes(notebook))["metadata"]["ai_data_scientist"]["chat_id"] == (
        chat_id
    )
