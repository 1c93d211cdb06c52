"""Real data files, made by the tests with the libraries that write these formats (no binaries are
checked in): workbooks (openpyxl for .xlsx, xlwt for .xls), Parquet and Feather (pyarrow), JSON
Lines, a latin-1 CSV with semicolons, and files that only claim to be data."""

import io
import json
import struct
import zipfile

import pyarrow as pa
import pyarrow.feather as feather
import pyarrow.parquet as pq
from openpyxl import Workbook

# Two sheets, with the cells each test reads back.
SALES = [("region", "units"), ("north", 3), ("south", 4), ("east", 5)]
COSTS = [("item", "cost", "paid"), ("rent", 1200.5, True), ("power", 80.25, False)]


def xlsx(sheets: dict[str, list[tuple[object, ...]]]) -> bytes:
    book = Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def two_sheet_workbook() -> bytes:
    return xlsx({"Sales": SALES, "Costs 2024": COSTS})


def xls() -> bytes:
    """A real BIFF8 .xls (the format xlrd reads), one sheet."""
    import xlwt

    book = xlwt.Workbook()
    sheet = book.add_sheet("Budget")
    for r, row in enumerate([("team", "amount"), ("data", 10), ("ops", 32)]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def parquet() -> bytes:
    table = pa.table({"city": ["Oslo", "Rome", "Lima"], "temp": [3.5, 18.0, 22.25]})
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def feather_file() -> bytes:
    out = io.BytesIO()
    feather.write_feather(pa.table({"id": [1, 2], "ok": [True, False]}), out)
    return out.getvalue()


def json_lines() -> bytes:
    rows = [{"user": "ada", "visits": 3}, {"user": "bob", "visits": 5}, {"user": "cy"}]
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def latin1_semicolons() -> bytes:
    """A CSV as a French Excel saves it: latin-1, semicolons, decimal commas inside quotes."""
    text = 'ville;prix;note\nMontréal;"3,5";élevé\nGenève;"4,25";modéré\nZürich;"5";bas\n'
    return text.encode("latin-1")


def pdf_like() -> bytes:
    """Not a real PDF, but what one starts with, and binary after."""
    return b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + bytes(
        range(256)
    )


def zip_bomb() -> bytes:
    """A small zip whose one part inflates to 64 MiB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", bytes(64 * 1024 * 1024))
    return out.getvalue()


def zip_claiming(size: int) -> bytes:
    """A workbook-looking zip whose one part claims (in the central directory, which readers
    trust for how far to inflate) to unpack to `size` bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/workbook.xml", b"<workbook/>")
    data = bytearray(out.getvalue())
    header = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, header + 24, min(size, 0xFFFFFFFE))
    return bytes(data)
