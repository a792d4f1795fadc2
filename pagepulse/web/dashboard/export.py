"""CSV files of dashboard data, and the zip of a whole view.

Cells that a spreadsheet would run as a formula (starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return: OWASP's "CSV injection" list) get a leading ``'``.
Page paths and referrers come from visitors, so this matters. Numbers are written
as they are (a negative number never occurs in our data).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    text = str(value)
    if text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([escape_cell(column) for column in columns])
    for row in rows:
        writer.writerow([escape_cell(row.get(column)) for column in columns])
    return buffer.getvalue()


def rows_csv(rows: Sequence[Mapping[str, Any]], default_columns: Sequence[str] = ("name",)) -> str:
    """Every column the rows have, in their order (a header alone when empty)."""
    columns = list(rows[0]) if rows else list(default_columns)
    return csv_text(columns, rows)


def zip_bytes(files: Mapping[str, str]) -> bytes:
    """A zip of ``{file name: CSV text}``, UTF-8 encoded."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text.encode("utf-8"))
    return buffer.getvalue()
