"""Read import files into raw rows: JSON Lines of patient records, CSV of patients or of imaging.

>>> source = open_source("examples/patients.csv")   # doctest: +SKIP
>>> source.kind, next(iter(source.rows()))           # doctest: +SKIP
('patients', SourceRow(line_no=2, raw={'patient_id': 'P01', ...}, text='{...}'))

A row that cannot be read (not UTF-8, not JSON, wrong number of CSV columns) still comes out,
with `problem` set, so the importer quarantines it: no row is ever skipped except blank lines.
CSV cells are converted to JSON types first ('' -> null, numbers for the numeric fields, true/false
for lymphovascular_invasion); a cell that does not convert stays a string, so validation names the field.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from netflow.domain.record import RECORD_FIELDS, FieldError
from netflow.errors import InputError

__all__ = ["IMAGING_COLUMNS", "PATIENT_COLUMNS", "Source", "SourceError", "SourceRow", "open_source"]

PATIENT_COLUMNS = tuple(f for f in RECORD_FIELDS if f != "imaging")
IMAGING_COLUMNS = ("patient_id", "date", "modality")
INT_COLUMNS = frozenset(("grade", "nodes_positive", "nodes_examined", "gastric_type"))
FLOAT_COLUMNS = frozenset(("ki67_percent", "tumor_size_mm"))
BOOL_COLUMNS = frozenset(("lymphovascular_invasion",))
BOOL_CELLS = {"true": True, "false": False}  # compared case-folded: TRUE, True and true alike
JSONL_SUFFIXES = (".jsonl", ".ndjson")
BOM = "\ufeff"
# Byte-order marks of encodings that are not UTF-8: such a file is refused as a whole.
WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32", b"\xff\xfe": "UTF-16",
             b"\xfe\xff": "UTF-16"}
# A CSV cell may be this long (the csv module's default limit is 128 KiB).
MAX_CSV_FIELD = 16 * 1024 * 1024
# A JSON escape that may decode to text no database stores: NUL or half of a surrogate pair.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class SourceError(InputError):
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
    _check_encoding(path)
    if path.suffix.lower() in JSONL_SUFFIXES:
        return Source(path, "patients", "jsonl")
    if path.suffix.lower() != ".csv":
        raise SourceError(f"cannot tell what {path.name} holds: name it .jsonl (patient records) "
                          f"or .csv (patients or imaging)")
    header = _csv_header(path)
    return Source(path, _csv_kind(path.name, header), "csv", header)


def _check_encoding(path: Path) -> None:
    """Refuse a UTF-16 or UTF-32 file at once: read as UTF-8 it would be nothing but unreadable rows."""
    with path.open("rb") as stream:
        head = stream.read(4)
    wide = next((name for bom, name in WIDE_BOMS.items() if head.startswith(bom)), None)
    if wide is None and b"\x00" in head[:2]:
        wide = "UTF-16 or UTF-32"
    if wide is not None:
        raise SourceError(f"{path.name} is {wide} text, not UTF-8: save it as UTF-8 and import it again")


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
    _allow_large_csv_fields()
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
            except (ValueError, RecursionError) as exc:
                reason = (exc.msg if isinstance(exc, json.JSONDecodeError)
                          else "nested too deeply" if isinstance(exc, RecursionError) else "not JSON")
                yield _unreadable(number, text, f"is not valid JSON ({reason})")
                continue
            if _SUSPECT_ESCAPE.search(text) and not _storable(raw):
                yield _unreadable(number, text, "holds a NUL character or an unpaired surrogate (\\u0000, "
                                                "\\ud800-\\udfff), which is not text")
                continue
            yield SourceRow(number, raw, text)


def _storable(value: Any) -> bool:
    """False when a string anywhere in `value` holds NUL or a lone surrogate (no database stores them)."""
    if isinstance(value, str):
        return "\x00" not in value and (value.isascii() or _utf8(value))
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _allow_large_csv_fields() -> None:
    """Let a cell be up to MAX_CSV_FIELD long (a 1 MB note must not make the rest of the file unreadable)."""
    if csv.field_size_limit() < MAX_CSV_FIELD:
        csv.field_size_limit(MAX_CSV_FIELD)


def _unreadable(number: int, content: Any, why: str) -> SourceRow:
    return SourceRow(number, None, json.dumps(content, ensure_ascii=False), FieldError("line", f"{number} {why}"))


def _csv_rows(path: Path, header: tuple[str, ...]) -> Iterator[SourceRow]:
    _allow_large_csv_fields()
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
    if any("\x00" in cell for cell in cells):
        return _unreadable(number, cells, "holds a NUL character, which is not text")
    if len(cells) != len(header):
        return _unreadable(number, cells, f"has {len(cells)} columns; the header has {len(header)}")
    text_row = dict(zip(header, cells, strict=True))
    raw = {column: _convert(column, cell) for column, cell in text_row.items()}
    return SourceRow(number, raw, json.dumps(text_row, ensure_ascii=False))


def _convert(column: str, cell: str) -> Any:
    """A CSV cell as the JSON value it stands for; a cell that does not convert stays as it is.

    Integers for the count, grade and gastric type columns, numbers for the measured ones, true or
    false for the yes/no columns ("true"/"false" in any case; "yes", "1" or "L1" stay strings).
    """
    if cell.strip() == "":
        return None
    if column in BOOL_COLUMNS:
        return BOOL_CELLS.get(cell.strip().casefold(), cell)
    try:
        if column in INT_COLUMNS:
            return int(cell)
        if column in FLOAT_COLUMNS:
            return float(cell)
    except ValueError:
        return cell
    return cell
