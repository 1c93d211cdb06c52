"""A chat's session from the browser: uploads (a CSV by picker and by drag and drop, a file past
the limit, several files of any kind at once), the variables panel and its previews, the files
panel as a folder tree, downloading and deleting files, taking the chat away (a zip, a notebook),
restarting."""

import json
import zipfile

from playwright.sync_api import Page, expect

from tests import data_files
from tests.e2e.screen import MAX_UPLOAD_BYTES, screenshot, sign_in
from tests.gateway_process import GatewayProcess

TIMES = "\N{MULTIPLICATION SIGN}"  # how the page writes shapes
RENTALS = "month,rentals,city\n" + "".join(
    f"2024-{m:02d},{100 + 7 * m},{'Paris' if m % 2 else 'Lyon'}\n" for m in range(1, 13)
)


def open_prepared_chat(page: Page, gateway: GatewayProcess, code: str) -> str:
    """A chat made and filled through the API, then opened in the browser (the newest chat
    opens by itself)."""
    chat_id = gateway.client.post("/create_chat").json()["chat_id"]
    assert gateway.run(chat_id, code)["status"] == "ok"
    sign_in(page, gateway)
    expect(page.locator("#chat-view")).to_be_visible()
    assert page.url.endswith(f"#/chat/{chat_id}")
    return chat_id


def drop(page: Page, selector: str, name: str, text: str) -> None:
    """Drag a file over `selector` and drop it there, as from the desktop."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([text], name, { type: "text/csv" }));
            return transfer;
        }""",
        [name, text],
    )
    page.dispatch_event(selector, "dragenter", {"dataTransfer": transfer})
    expect(page.locator("#drop-overlay")).to_be_visible()
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})
    expect(page.locator("#drop-overlay")).to_be_hidden()


def test_upload_by_picker_and_by_drop_then_preview_the_variable(
    page: Page, web_gateway: GatewayProcess
) -> None:
    sign_in(page, web_gateway)
    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()
    expect(page.locator("#variables .empty")).to_contain_text("No variables yet")
    expect(page.locator("#files .empty")).to_contain_text("No files yet")

    page.set_input_files(
        "#file-input",
        files=[{"name": "rentals.csv", "mimeType": "text/csv", "buffer": RENTALS.encode()}],
    )
    upload = page.locator(".turn-upload")
    expect(upload).to_contain_text(f"Loaded rentals.csv as rentals · 12 {TIMES} 3")
    expect(upload.locator("tbody tr")).to_have_count(5)
    expect(page.locator("#upload-status")).to_be_hidden()
    variable = page.locator('.var-item[data-name="rentals"]')
    expect(variable).to_contain_text(f"DataFrame · 12 {TIMES} 3")
    expect(page.locator('.file-item[data-path="rentals.csv"]')).to_be_visible()
    screenshot(page, "upload")

    drop(page, "#chat-view", "sales 2024.csv", "region,amount\nnorth,10\nsouth,32\n")
    expect(page.locator(".turn-upload").last).to_contain_text(f"as sales_2024 · 2 {TIMES} 2")
    expect(page.locator('.var-item[data-name="sales_2024"]')).to_be_visible()

    variable.click()
    dialog = page.locator("dialog")
    expect(dialog.locator(".dialog-title")).to_have_text("rentals")
    expect(dialog.locator("thead th > span:first-child")).to_have_text(["month", "rentals", "city"])
    expect(dialog.locator("thead .dtype").nth(1)).to_have_text("int64")
    expect(dialog.locator("tbody tr")).to_have_count(12)
    expect(dialog.locator(".pager")).to_contain_text("Rows 1\N{EN DASH}12 of 12")
    screenshot(page, "variable-preview")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)

    # After a reload the history still says what was uploaded.
    page.reload()
    expect(page.locator(".turn-event").first).to_contain_text("Loaded rentals.csv as rentals")


def test_a_file_past_the_limit_is_refused_with_the_reason(
    page: Page, web_gateway: GatewayProcess
) -> None:
    sign_in(page, web_gateway)
    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()
    too_big = ("a,b\n" + "1,2\n" * (MAX_UPLOAD_BYTES // 4 + 10)).encode()
    page.set_input_files(
        "#file-input", files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": too_big}]
    )
    status = page.locator("#upload-status")
    expect(status).to_contain_text("File too large. big.csv was not uploaded")
    expect(status).to_contain_text(f"MAX_UPLOAD_BYTES allows ({MAX_UPLOAD_BYTES} bytes)")
    screenshot(page, "error-too-large")
    status.locator("button", has_text="Dismiss").click()
    expect(status).to_be_hidden()
    expect(page.locator("#variables .empty")).to_be_visible()
    expect(page.locator("#files .empty")).to_be_visible()


def test_several_files_of_any_kind_each_with_its_outcome(
    page: Page, web_gateway: GatewayProcess
) -> None:
    sign_in(page, web_gateway)
    page.click("#new-chat")
    expect(page.locator(".empty-chat")).to_be_visible()
    expect(page.locator("#file-input")).not_to_have_attribute("accept", ".csv,text/csv")
    page.set_input_files(
        "#file-input",
        files=[
            {"name": "report.pdf", "mimeType": "application/pdf", "buffer": data_files.pdf_like()},
            {
                "name": "book.xlsx",
                "mimeType": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "buffer": data_files.two_sheet_workbook(),
            },
            {"name": "fake.parquet", "mimeType": "", "buffer": b"not parquet at all"},
        ],
    )
    report = page.locator('.turn-upload[data-file="report.pdf"]')
    expect(report).to_contain_text("Uploaded report.pdf · kept as a file")
    book = page.locator('.turn-upload[data-file="book.xlsx"]')
    expect(book).to_contain_text(f"Loaded book.xlsx (sheet Sales) as book_sales · 3 {TIMES} 2")
    expect(book).to_contain_text(f"(sheet Costs 2024) as book_costs_2024 · 2 {TIMES} 3")
    expect(book.locator("table")).to_have_count(2)
    fake = page.locator('.turn-upload[data-file="fake.parquet"]')
    expect(fake).to_contain_text("not loaded: the file could not be read as Parquet")

    # The one that needs reading keeps the list of outcomes up until dismissed.
    status = page.locator("#upload-status")
    expect(status.locator(".upload-row")).to_have_count(3)
    expect(status).to_contain_text("report.pdf: kept as a file")
    expect(status).to_contain_text(f"book.xlsx: loaded as book_sales (3 {TIMES} 2)")
    expect(status).to_contain_text("fake.parquet: kept as a file, not loaded")
    screenshot(page, "upload-any-files")
    status.locator("button", has_text="Dismiss").click()
    expect(status).to_be_hidden()

    for path in ("report.pdf", "book.xlsx", "fake.parquet"):
        expect(page.locator(f'.file-item[data-path="{path}"]')).to_be_visible()
    for name in ("book_sales", "book_costs_2024"):
        expect(page.locator(f'.var-item[data-name="{name}"]')).to_be_visible()
    page.reload()
    expect(page.locator('.turn-upload[data-file="report.pdf"]')).to_contain_text("kept as a file")
    expect(page.locator('.turn-upload[data-file="book.xlsx"] .turn-event')).to_have_count(2)


def test_the_files_panel_shows_folders_as_a_tree(page: Page, web_gateway: GatewayProcess) -> None:
    open_prepared_chat(
        page,
        web_gateway,
        "import os\nos.makedirs('out/plots')\n"
        "for name in ('out/plots/a.txt', 'out/plots/b.txt', 'out/summary.txt', 'top.txt'):\n"
        "    open(name, 'w').write(name)",
    )
    out = page.locator('.folder-item[data-path="out"]')
    expect(out.locator("> details > summary")).to_contain_text("out3 files")
    plots = out.locator('.folder-item[data-path="out/plots"]')
    expect(plots.locator("summary")).to_contain_text("plots2 files")
    nested = plots.locator('.file-item[data-path="out/plots/a.txt"]')
    expect(nested.locator(".file-name")).to_have_text("a.txt")
    # Folders come before files, at every level.
    files = page.locator("#files > .file-list > li")
    expect(files).to_have_count(2)
    expect(files.nth(0)).to_have_attribute("data-path", "out")
    expect(files.nth(1)).to_have_attribute("data-path", "top.txt")
    screenshot(page, "files-tree")

    # A closed folder stays closed when the panel is refreshed.
    out.locator("> details > summary").click()
    expect(nested).to_be_hidden()
    expect(page.locator('.file-item[data-path="out/summary.txt"]')).to_be_hidden()
    page.click("#refresh-panels")
    expect(page.locator('.file-item[data-path="top.txt"]')).to_be_visible()
    expect(page.locator('.file-item[data-path="out/summary.txt"]')).to_be_hidden()
    out.locator("> details > summary").click()
    expect(nested).to_be_visible()
    with page.expect_download() as info:
        nested.locator("a[download]").click()
    assert info.value.suggested_filename == "a.txt"


def test_download_a_file_from_the_files_panel(page: Page, web_gateway: GatewayProcess) -> None:
    open_prepared_chat(
        page, web_gateway, "with open('report.txt', 'w') as f:\n    f.write('total: 42\\n')"
    )
    item = page.locator('.file-item[data-path="report.txt"]')
    expect(item).to_contain_text("10 B")
    with page.expect_download() as info:
        item.locator("a[download]").click()
    download = info.value
    assert download.suggested_filename == "report.txt"
    with open(download.path(), encoding="utf-8") as f:
        assert f.read() == "total: 42\n"


def test_restart_asks_first_then_empties_variables_and_files(
    page: Page, web_gateway: GatewayProcess
) -> None:
    open_prepared_chat(
        page,
        web_gateway,
        "import numpy as np\nimport matplotlib.pyplot as plt\nx = np.arange(5)\nplt.plot(x, x**2)",
    )
    expect(page.locator('.var-item[data-name="x"]')).to_be_visible()
    expect(page.locator('.file-item[data-path="plot_1.png"]')).to_be_visible()

    page.click("#restart-button")
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("All variables and files of this chat are deleted")
    screenshot(page, "restart-confirm")
    dialog.locator("button", has_text="Cancel").click()
    expect(dialog).to_have_count(0)
    expect(page.locator('.var-item[data-name="x"]')).to_be_visible()

    page.click("#restart-button")
    page.locator("dialog button.danger").click()
    expect(page.locator(".turn-divider")).to_contain_text("Session restarted")
    expect(page.locator("#variables .empty")).to_contain_text("No variables yet")
    expect(page.locator("#files .empty")).to_contain_text("No files yet")
    # Opened again, the figure in the history says it is gone instead of showing as broken.
    page.reload()
    expect(page.locator(".step figure")).to_contain_text("no longer in the workspace")


def test_delete_a_file_and_take_the_chat_away(page: Page, web_gateway: GatewayProcess) -> None:
    open_prepared_chat(
        page,
        web_gateway,
        "open('keep.txt', 'w').write('kept')\nopen('drop.txt', 'w').write('dropped')\n6 * 7",
    )
    item = page.locator('.file-item[data-path="drop.txt"]')
    item.get_by_role("button", name="Delete drop.txt").click()
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("drop.txt")
    dialog.locator("button.danger").click()
    expect(item).to_have_count(0)
    expect(page.locator('.file-item[data-path="keep.txt"]')).to_be_visible()

    with page.expect_download() as info:
        page.locator(".take-away a", has_text="All files").click()
    with zipfile.ZipFile(info.value.path()) as archive:
        assert archive.namelist() == ["keep.txt"]
    with page.expect_download() as info:
        page.locator(".take-away a", has_text="Notebook").click()
    assert info.value.suggested_filename.endswith(".ipynb")
    with open(info.value.path(), encoding="utf-8") as f:
        notebook = json.load(f)
    values = [
        output["data"]["text/plain"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if output["output_type"] == "execute_result"
    ]
    assert values == ["42"]
