"""Bulk INSERT of plain tuples, for the few writes that carry a whole cohort (import, event recording).

>>> insert_many(conn, imaging_studies, ("patient_id", "date", "modality", "created_at"), rows,
...             "ON CONFLICT DO NOTHING")                                          # doctest: +SKIP
>>> insert_many(conn, events, EVENT_COLUMNS, rows, "ON CONFLICT DO NOTHING",
...             returning=("patient_id", "kind", "event_key"))                     # doctest: +SKIP
[('MRN0000001', 'due', '2026-05-20'), ...]

SQLAlchemy's per-row parameter handling (a dict per row, processed column by column) costs more
than the insert itself at a million rows. Here the rows go to the driver as they are:
PostgreSQL gets one statement, each column as one array (INSERT ... SELECT FROM unnest(...));
SQLite an executemany, or multi-row VALUES pages when rows must come back. Values still go
through each column type's own bind processor on SQLite, so what is stored is exactly what
SQLAlchemy would have stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table

from netflow.batching import batched

__all__ = ["insert_many"]

SQLITE_MAX_VARIABLES = 32766  # SQLite >= 3.32; a page of VALUES rows stays under it


def insert_many(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
                conflict: str, returning: Sequence[str] = ()) -> list[tuple[Any, ...]]:
    """INSERT `rows` (tuples in `columns` order) with the ON CONFLICT clause `conflict`.

    Returns the `returning` columns of the rows actually inserted (none when `returning` is empty).
    Rows must not repeat a key that ON CONFLICT DO UPDATE would update twice.
    """
    if not rows:
        return []
    dialect = conn.dialect
    quote = dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)})"
    back = f" RETURNING {', '.join(quote(c) for c in returning)}" if returning else ""
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{table.c[name].type.compile(dialect)}[]" for name in columns)
        result = conn.exec_driver_sql(f"{into} SELECT * FROM unnest({arrays}) {conflict}{back}",
                                      tuple(list(values) for values in zip(*rows, strict=True)))
        return [tuple(row) for row in result] if returning else []
    processors = [(n, p) for n, name in enumerate(columns)
                  if (p := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    values = [_processed(row, processors) for row in rows] if processors else list(rows)
    marks = "(" + ", ".join("?" * len(columns)) + ")"
    if not returning:
        conn.exec_driver_sql(f"{into} VALUES {marks} {conflict}", values)
        return []
    found: list[tuple[Any, ...]] = []
    page = SQLITE_MAX_VARIABLES // len(columns)
    for chunk in batched(values, page):
        statement = f"{into} VALUES {', '.join([marks] * len(chunk))} {conflict}{back}"
        found.extend(tuple(row) for row in conn.exec_driver_sql(statement, tuple(v for row in chunk for v in row)))
    return found


def _processed(row: tuple[Any, ...], processors: Sequence[tuple[int, Callable[[Any], Any]]]) -> tuple[Any, ...]:
    values = list(row)
    for n, process in processors:
        if values[n] is not None:
            values[n] = process(values[n])
    return tuple(values)
