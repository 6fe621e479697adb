"""Import files written by tests."""

from __future__ import annotations

import csv
import io


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """A CSV file's text: the header line, then the rows, quoted as the csv module quotes them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()
