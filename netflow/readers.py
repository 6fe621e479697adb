"""Read import files into raw rows: JSON Lines of patient records, CSV of patients or of imaging.

>>> source = open_source("examples/patients.csv")   # doctest: +SKIP
>>> source.kind, next(iter(source.rows()))           # doctest: +SKIP
('patients', SourceRow(line_no=2, raw={'patient_id': 'P01', ...}, text='{...}'))

A row that cannot be read (not UTF-8, not JSON, wrong number of CSV columns) still comes out,
with `problem` set, so the importer quarantines it: no row is ever skipped except blank lines.
CSV cells are converted to JSON types first ('' -> null, numbers for the numeric fields); a cell
that does not convert stays a string, so validation names the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from netflow.domain.record import RECORD_FIELDS, FieldError

__all__ = ["IMAGING_COLUMNS", "PATIENT_COLUMNS", "Source", "SourceError", "SourceRow", "open_source"]

PATIENT_COLUMNS = tuple(f for f in RECORD_FIELDS if f != "imaging")
IMAGING_COLUMNS = ("patient_id", "date", "modality")
INT_COLUMNS = frozenset(("grade", "nodes_positive", "nodes_examined"))
FLOAT_COLUMNS = frozenset(("ki67_percent", "tumor_size_mm"))
JSONL_SUFFIXES = (".jsonl", ".ndjson")
BOM = "\ufeff"


class SourceError(ValueError):
    """The file as a whole cannot be imported (unknown kind, bad header); nothing was read from it."""


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of a file: its parsed content (None when unreadable) and its raw JSON text."""

    line_no: int
    raw: Any
    text: str
    problem: FieldError | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """An import file whose kind ('patients' or 'imaging') and format ('jsonl' or 'csv') are known."""

    path: Path
    kind: str
    format: str
    header: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self) -> Iterator[SourceRow]:
        return _jsonl_rows(self.path) if self.format == "jsonl" else _csv_rows(self.path, self.header)


def open_source(path: Path | str) -> Source:
    """Check a file and tell its kind from its extension and header; raise SourceError if it cannot be."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"cannot read {path.name}: no such file")
    if path.suffix.lower() in JSONL_SUFFIXES:
        return Source(path, "patients", "jsonl")
    if path.suffix.lower() != ".csv":
        raise SourceError(f"cannot tell what {path.name} holds: name it .jsonl (patient records) "
                          f"or .csv (patients or imaging)")
    header = _csv_header(path)
    return Source(path, _csv_kind(path.name, header), "csv", header)


def _csv_kind(name: str, header: tuple[str, ...]) -> str:
    if not header:
        raise SourceError(f"{name} is empty: a CSV file needs a header line")
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if duplicates:
        raise SourceError(f"{name}: column(s) {', '.join(duplicates)} appear more than once in the header")
    if set(header) == set(IMAGING_COLUMNS):
        return "imaging"
    unknown = [c for c in header if c not in PATIENT_COLUMNS]
    if unknown or "patient_id" not in header:
        problem = f"unknown column(s) {', '.join(unknown)}" if unknown else "no patient_id column"
        raise SourceError(f"{name}: {problem}. A patients file has patient_id and any of "
                          f"{', '.join(PATIENT_COLUMNS[1:])}; an imaging file has exactly "
                          f"{','.join(IMAGING_COLUMNS)}")
    return "patients"


def _decoded(stream: IO[bytes], bad_lines: set[int]) -> Iterator[str]:
    """Lines as text; a line that is not UTF-8 is decoded with replacements and its number noted."""
    for number, data in enumerate(stream, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            text = data.decode("utf-8", "replace")
        yield text.removeprefix(BOM) if number == 1 else text


def _csv_header(path: Path) -> tuple[str, ...]:
    with path.open("rb") as stream:
        try:
            first = next(csv.reader(_decoded(stream, set())), [])
        except csv.Error as exc:
            raise SourceError(f"{path.name}: the header line cannot be read as CSV ({exc})") from None
    return tuple(cell.strip() for cell in first)


def _jsonl_rows(path: Path) -> Iterator[SourceRow]:
    bad_lines: set[int] = set()
    with path.open("rb") as stream:
        for number, line in enumerate(_decoded(stream, bad_lines), start=1):
            text = line.strip()
            if not text:
                continue
            if number in bad_lines:
                yield _unreadable(number, text, "is not valid UTF-8")
                continue
            try:
                raw = json.loads(text)
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not JSON"
                yield _unreadable(number, text, f"is not valid JSON ({reason})")
                continue
            yield SourceRow(number, raw, text)


def _unreadable(number: int, content: Any, why: str) -> SourceRow:
    return SourceRow(number, None, json.dumps(content, ensure_ascii=False), FieldError("line", f"{number} {why}"))


def _csv_rows(path: Path, header: tuple[str, ...]) -> Iterator[SourceRow]:
    bad_lines: set[int] = set()
    with path.open("rb") as stream:
        reader = csv.reader(_decoded(stream, bad_lines))
        last = 0
        try:
            next(reader, None)  # the header, checked by open_source
            last = reader.line_num
            for cells in reader:
                first, last = last + 1, reader.line_num
                if cells:
                    yield _csv_row(first, cells, header, any(n in bad_lines for n in range(first, last + 1)))
        except csv.Error as exc:
            yield _unreadable(last + 1, f"(unreadable from line {last + 1} to the end)",
                              f"and the lines after it cannot be read as CSV ({exc})")


def _csv_row(number: int, cells: list[str], header: tuple[str, ...], not_utf8: bool) -> SourceRow:
    if not_utf8:
        return _unreadable(number, cells, "is not valid UTF-8")
    if len(cells) != len(header):
        return _unreadable(number, cells, f"has {len(cells)} columns; the header has {len(header)}")
    text_row = dict(zip(header, cells, strict=True))
    raw = {column: _convert(column, cell) for column, cell in text_row.items()}
    return SourceRow(number, raw, json.dumps(text_row, ensure_ascii=False))


def _convert(column: str, cell: str) -> Any:
    """A CSV cell as the JSON value it stands for; a cell that does not convert stays as it is."""
    if cell.strip() == "":
        return None
    try:
        if column in INT_COLUMNS:
            return int(cell)
        if column in FLOAT_COLUMNS:
            return float(cell)
    except ValueError:
        return cell
    return cell
