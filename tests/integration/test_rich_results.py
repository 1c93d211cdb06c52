"""Rich results through the gateway: IPython's MIME bundles, the cell's own result, a figure's
chart data, kept in the chat's history and its notebook export."""

import nbformat

from tests.gateway_process import GatewayProcess

CHART_CELL = """
import matplotlib.pyplot as plt
fig, (left, right) = plt.subplots(1, 2)
left.plot([1, 2, 3], [4, 1, 9], label="temp")
left.set_xlabel("day")
right.pie([1, 3], labels=["cats", "dogs"])
fig.suptitle("Pets and weather")
plt.show()
"""


def test_a_cells_outputs_carry_every_format_and_its_result_flag(
    gateway: GatewayProcess, chat_id: str
) -> None:
    reply = gateway.run(
        chat_id,
        "import pandas as pd\n"
        "from IPython.display import Markdown, display\n"
        "display(Markdown('**bold**'))\n"
        "!echo from-the-shell\n"
        "pd.DataFrame({'city': ['Oslo', 'Rome'], 'temp': [3.5, 18.0]})",
    )
    assert reply["status"] == "ok", reply
    assert reply["stdout"] == "from-the-shell\n"
    markdown, table = reply["outputs"]
    assert markdown["data"]["text/markdown"] == "**bold**" and not markdown["is_result"]
    assert table["is_result"]
    resource = table["data"]["application/vnd.dataresource+json"]
    assert resource["data"] == [
        {"index": 0, "city": "Oslo", "temp": 3.5},
        {"index": 1, "city": "Rome", "temp": 18.0},
    ]
    assert reply["result"] == table["text"] == table["data"]["text/plain"]


def test_a_figure_comes_with_chart_data_kept_in_history_and_export(
    gateway: GatewayProcess, chat_id: str
) -> None:
    reply = gateway.run(chat_id, CHART_CELL)
    assert reply["status"] == "ok", reply
    (figure,) = reply["outputs"]
    chart = figure["chart"]
    assert figure["filename"] == "plot_1.png"
    assert chart["type"] == "composite" and chart["title"] == "Pets and weather"
    line, pie = chart["elements"]
    assert line["type"] == "line" and line["x_label"] == "day"
    assert line["elements"] == [{"label": "temp", "points": [[1, 4], [2, 1], [3, 9]]}]
    assert [(e["label"], round(e["angle"])) for e in pie["elements"]] == [
        ("cats", 90),
        ("dogs", 270),
    ]

    history = gateway.client.get(f"/chat/{chat_id}/messages").json()
    kept = history[-1]["result"]["outputs"][0]
    assert kept["chart"] == chart
    assert "image/png" not in kept["data"]  # the file holds it

    notebook = nbformat.reads(gateway.client.get(f"/chat/{chat_id}/export.ipynb").text, 4)
    nbformat.validate(notebook)
    (output,) = notebook.cells[-1].outputs
    assert output.output_type == "display_data" and "image/png" in output.data
