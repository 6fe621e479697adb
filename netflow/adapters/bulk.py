"""Bulk INSERT of plain tuples, for the few writes that carry a whole cohort (import, event recording).

>>> insert_many(conn, imaging_studies, ("patient_id", "date", "modality", "created_at"), rows,
...             "ON CONFLICT DO NOTHING")                                          # doctest: +SKIP
>>> insert_many(conn, events, EVENT_COLUMNS, rows, "ON CONFLICT DO NOTHING",
...             returning=("patient_id", "kind", "event_key"))                     # doctest: +SKIP
[('MRN0000001', 'due', '2026-05-20'), ...]

SQLAlchemy's per-row parameter handling (a dict per row, processed column by column) costs more
than the insert itself at a million rows. Here the rows go to the driver as they are:

- PostgreSQL: COPY into a temporary staging table (the driver's C row writer; no parameters to bind),
  then one `INSERT ... SELECT ... <conflict>` from it. The staging table has the target's column types,
  lives as long as the connection, and is emptied after each use and at each commit.
- SQLite: an executemany of one prepared statement, or multi-row VALUES pages when rows must come back.
  Values still go through each column type's own bind processor, so what is stored is exactly what
  SQLAlchemy would have stored; a value repeated in a column (the import's `now`, a common date) is
  processed once.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

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
    quote = conn.dialect.identifier_preparer.quote
    into = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)})"
    back = f" RETURNING {', '.join(quote(c) for c in returning)}" if returning else ""
    if conn.dialect.name == "postgresql":
        return _copied(conn, table, columns, rows, into, f"{conflict}{back}", bool(returning))
    values = _sqlite_values(conn, table, columns, rows)
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


def staging_table(table: Table, columns: Sequence[str]) -> str:
    """The name of the temporary table that stages rows of `columns` for `table` (one per column list)."""
    return f"netflow_stage_{table.name}_{zlib.crc32(','.join(columns).encode()):08x}"


def _copied(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]],
            into: str, tail: str, returning: bool) -> list[tuple[Any, ...]]:
    """PostgreSQL: COPY the rows into the staging table, then `{into} SELECT ... FROM <staging> {tail}`
    moves them to `table`; the staging table is left empty."""
    quote = conn.dialect.identifier_preparer.quote
    listed = ", ".join(quote(c) for c in columns)
    stage = quote(staging_table(table, columns))
    conn.exec_driver_sql(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
                         f"SELECT {listed} FROM {quote(table.name)} WITH NO DATA")
    driver = conn.connection.driver_connection
    assert driver is not None
    copy_sql = f"COPY {stage} ({listed}) FROM STDIN"
    try:
        with driver.cursor() as cursor, cursor.copy(copy_sql) as copy:
            for row in rows:
                copy.write_row(row)
    except conn.dialect.loaded_dbapi.Error as exc:  # the driver's own error: wrapped as SQLAlchemy's are
        raise DBAPIError.instance(copy_sql, None, exc, conn.dialect.loaded_dbapi.Error, hide_parameters=True,
                                  dialect=conn.dialect) from None
    result = conn.exec_driver_sql(f"{into} SELECT {listed} FROM {stage} {tail}")
    found = [tuple(row) for row in result] if returning else []
    conn.exec_driver_sql(f"DELETE FROM {stage}")  # empty for the next call in this transaction
    return found


def _sqlite_values(conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
                   ) -> list[tuple[Any, ...]]:
    """The rows with each column's bind processor applied (each distinct value of a column processed once)."""
    dialect = conn.dialect
    processors = [(n, p) for n, name in enumerate(columns)
                  if (p := table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) is not None]
    if not processors:
        return list(rows)
    values: list[Sequence[Any]] = list(zip(*rows, strict=True))
    for n, process in processors:
        values[n] = _each_once(values[n], process)
    return list(zip(*values, strict=True))


def _each_once(column: Sequence[Any], process: Callable[[Any], Any]) -> list[Any]:
    """`process` applied to each value but None; equal values are processed once (a column holds one type:
    equal values of its type are bound alike)."""
    done: dict[Any, Any] = {}
    try:
        return [None if v is None else done[v] if v in done else done.setdefault(v, process(v)) for v in column]
    except TypeError:  # an unhashable value (a list, a dict): each processed on its own
        return [None if v is None else process(v) for v in column]
