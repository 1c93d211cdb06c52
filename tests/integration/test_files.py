"""Workspace files: plots appear and download; nothing outside the workspace is ever served."""

import pytest

from tests.gateway_process import GatewayProcess

PLOT = """
import matplotlib.pyplot as plt
import numpy as np
x = np.linspace(0, 6.28, 100)
plt.plot(x, np.sin(x))
plt.title('sine')
"""


def test_plot_is_listed_and_downloads_as_png(gateway: GatewayProcess, chat_id: str) -> None:
    reply = gateway.run(chat_id, PLOT)
    assert reply["status"] == "ok", reply
    created = [f["path"] for f in reply["files"] if f["change"] == "created"]
    assert created == ["plot_1.png"]
    assert any(o["filename"] == "plot_1.png" and "image/png" in o["data"] for o in reply["outputs"])

    listing = gateway.client.get(f"/files/{chat_id}").json()
    assert [(f["path"], f["media_type"]) for f in listing] == [("plot_1.png", "image/png")]

    download = gateway.client.get(f"/file/{chat_id}/plot_1.png")
    assert download.status_code == 200
    assert download.headers["content-type"] == "image/png"
    assert download.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(download.content) == listing[0]["size"]


def test_text_file_in_subfolder_downloads(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(
        chat_id,
        "import os\nos.makedirs('out', exist_ok=True)\n"
        "open('out/data.csv', 'w').write('a,b\\n1,2\\n')",
    )
    response = gateway.client.get(f"/file/{chat_id}/out/data.csv")
    assert response.status_code == 200
    assert response.text == "a,b\n1,2\n"
    assert response.headers["content-type"].startswith("text/csv")


def test_html_written_by_code_is_never_served_inline(gateway: GatewayProcess, chat_id: str) -> None:
    gateway.run(chat_id, "open('x.html', 'w').write('<script>alert(1)</script>')")
    response = gateway.client.get(f"/file/{chat_id}/x.html")
    assert response.status_code == 200
    assert response.headers["content-disposition"].startswith("attachment")
    assert response.headers["x-content-type-options"] == "nosniff"


HOST_SECRET = "root:x:0:0"  # the first line of the host's /etc/passwd


@pytest.mark.parametrize(
    "path",
    [
        "../../../../../../etc/passwd",
        "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "link_to_passwd",
        "link_to_root/etc/passwd",
        "link_to_state/x",
    ],
)
def test_file_route_never_leaves_the_workspace(
    gateway: GatewayProcess, chat_id: str, path: str
) -> None:
    planted = gateway.run(
        chat_id,
        "import os\n"
        "os.symlink('/etc/passwd', 'link_to_passwd')\n"
        "os.symlink('/', 'link_to_root')\n"
        "os.symlink('/state', 'link_to_state')\n",
    )
    assert planted["status"] == "ok", planted
    response = gateway.client.get(f"/file/{chat_id}/{path}")
    assert 400 <= response.status_code < 500, (path, response.status_code)
    assert HOST_SECRET not in response.text
    listing = gateway.client.get(f"/files/{chat_id}").json()
    assert [f["path"] for f in listing] == []
