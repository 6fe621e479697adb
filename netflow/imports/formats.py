"""Read import files into raw rows: JSON Lines of patient records, CSV of patients or of imaging.

>>> source = open_source("examples/patients.csv")   # doctest: +SKIP
>>> source.kind, next(iter(source.rows()))           # doctest: +SKIP
('patients', SourceRow(line_no=2, raw={'patient_id': 'P01', ...}, text='{...}'))

A row that cannot be read (not UTF-8, not JSON, wrong number of CSV columns) still comes out,
with `problem` set, so the importer quarantines it: no row is ever skipped except blank lines.
CSV cells are converted to JSON types first ('' -> null, numbers for the numeric fields, true/false
for lymphovascular_invasion); a cell that does not convert stays a string, so validation names the field.

One open file: `open_source` opens the file once and reads its encoding and header from that
descriptor; `rows()` reads the header again and the rows from the same descriptor (each pass through
a fresh buffer, so nothing read earlier is served again), and refuses a header that is no longer the
one checked: a file replaced in between (even atomically, by `mv`) is never read with another file's
columns. `changed()` says whether the
file is still the one opened (same device and inode at its path, same size and modification time):
the importer asks before each chunk it commits and at the end, and refuses a file that changed while
it was read (SourceChanged). A closed Source (`close()`, or `with open_source(...)`) is opened again
by `rows()`, and refused unless it is still the same file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

import msgspec

from netflow.domain.record import RECORD_FIELDS, FieldError
from netflow.errors import InputError, capped

__all__ = ["IMAGING_COLUMNS", "PATIENT_COLUMNS", "JsonLine", "Source", "SourceChanged", "SourceError", "SourceRow",
           "changed_message", "jsonl_row", "listed", "open_source", "shown"]

PATIENT_COLUMNS = tuple(f for f in RECORD_FIELDS if f != "imaging")
IMAGING_COLUMNS = ("patient_id", "date", "modality")
_PATIENT_COLUMN_SET = frozenset(PATIENT_COLUMNS)
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
# A CSV header line may be this long (a real one is well under 1 KiB: at most 20 known column names).
MAX_HEADER_BYTES = 1024 * 1024
# An error message lists at most this many items (columns, fields), then "and N more".
MAX_LISTED = 10
# A name quoted in an error message (a column, a field) is cut to this many characters.
MAX_SHOWN = 40
# A JSON escape that may decode to text no database stores: NUL or half of a surrogate pair.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_DECODE_JSON = msgspec.json.Decoder().decode


class SourceError(InputError):
    """The file as a whole cannot be imported (unknown kind, bad header); nothing was read from it."""


class SourceChanged(SourceError):
    """The file changed while it was read (appended to, rewritten, replaced or moved): refused whole (the
    importer says which chunks it had committed before it noticed)."""


class _Identity(NamedTuple):
    """What says a file is still the one opened: where it is stored, its size and modification time."""

    device: int
    inode: int
    size: int
    mtime_ns: int

    @classmethod
    def of(cls, status: os.stat_result) -> _Identity:
        return cls(status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns)


def shown(name: str) -> str:
    """A name from a file (a column, a field) as an error message quotes it: control characters escaped,
    cut to MAX_SHOWN characters."""
    text = json.dumps(name[:MAX_SHOWN + 1], ensure_ascii=False)[1:-1]
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN - 3] + "..."


def listed(names: Iterable[str]) -> str:
    """Names for an error message: the first MAX_LISTED (each `shown`), then "and N more"."""
    return capped(list(names), MAX_LISTED, shown)


JsonLine = tuple[int, str, bool]  # a JSON Lines line: its number, its text, whether it was not UTF-8


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One row of a file: its parsed content (None when unreadable) and its raw JSON text.

    A row assembled from FHIR resources also carries the pieces it lacks (`missing`: one error per
    field, quarantined with it) and where each of its imaging entries came from (`scan_sources`:
    ("fhir", "ImagingStudy/<id>") per entry, in order)."""

    line_no: int
    raw: Any
    text: str
    problem: FieldError | None = None
    missing: tuple[FieldError, ...] = ()
    scan_sources: tuple[tuple[str, str], ...] = ()


class Source:
    """An import file, open, whose kind ('patients' or 'imaging') and format ('jsonl' or 'csv') are known.

    The descriptor opened by `open_source` is the one `rows()` reads; `close()` it when done (the importer
    does; `with open_source(path) as source:` too)."""

    def __init__(self, path: Path, kind: str, format: str, header: tuple[str, ...], file: io.FileIO,
                 identity: _Identity) -> None:
        self.path = path
        self.kind = kind
        self.format = format
        self.header = header
        self._file: io.FileIO | None = file
        self._identity = identity

    def __repr__(self) -> str:
        return f"Source({self.name!r}, kind={self.kind!r}, format={self.format!r})"

    @property
    def name(self) -> str:
        return self.path.name

    def rows(self) -> Iterator[SourceRow]:
        """The file's rows, read from the descriptor its header was read from (SourceChanged if it differs)."""
        file = self._file if self._file is not None else self._open_again()
        return self._read(file)

    def lines(self) -> Iterator[JsonLine]:
        """A JSON Lines file's non-blank lines, unparsed: (line number, text, not UTF-8); `jsonl_row` makes
        each the row `rows()` would give (in a worker process: parsing is most of an import's work)."""
        if self.format != "jsonl":
            raise ValueError(f"{self.name} is not JSON Lines")
        file = self._file if self._file is not None else self._open_again()
        return self._read_lines(file)

    def _read_lines(self, file: io.FileIO) -> Iterator[JsonLine]:
        with _reading(file) as stream:
            yield from _jsonl_lines(stream)

    def _read(self, file: io.FileIO) -> Iterator[SourceRow]:
        with _reading(file) as stream:
            if self.format == "jsonl":
                yield from _jsonl_rows(stream)
            else:
                yield from _csv_rows(stream, self.header, self.name)

    def changed(self) -> bool:
        """True when the file is no longer the one opened: another file (or none) at its path, or its size or
        modification time differ (appended to or rewritten)."""
        try:
            at_path = _Identity.of(os.stat(self.path))
            opened = at_path if self._file is None else _Identity.of(os.fstat(self._file.fileno()))
        except (OSError, ValueError):  # gone from its path; or closed while it was read
            return True
        return at_path != self._identity or opened != self._identity

    def close(self) -> None:
        """Close the file (again: nothing); `rows()` would open it again, the same file or refused."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Source:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _open_again(self) -> io.FileIO:
        file = _open(self.path)
        if _Identity.of(os.fstat(file.fileno())) != self._identity:
            file.close()
            raise SourceChanged(changed_message(self.name))
        self._file = file
        return file


def changed_message(name: str) -> str:
    """What SourceChanged says about a file (the importer adds what it had committed)."""
    return f"{name} changed while it was read: import it again once it is complete"


@contextmanager
def _reading(file: io.FileIO) -> Iterator[IO[bytes]]:
    """A fresh buffered reader over `file` from its start: nothing buffered by an earlier pass (the header
    read when the file was opened) is read again; the descriptor stays open when the pass ends."""
    file.seek(0)
    stream = io.BufferedReader(file)
    try:
        yield stream
    finally:
        if not file.closed:
            stream.detach()


def open_source(path: Path | str) -> Source:
    """Open a file and tell its kind from its extension and header; raise SourceError if it cannot be used.

    The Source keeps the file open: its rows are read from the same descriptor."""
    path = Path(path)
    file = _open(path)
    try:
        identity = _Identity.of(os.fstat(file.fileno()))
        with _reading(file) as stream:
            _check_encoding(stream, path.name)
            if path.suffix.lower() in JSONL_SUFFIXES:
                return Source(path, "patients", "jsonl", (), file, identity)
            if path.suffix.lower() != ".csv":
                raise SourceError(f"cannot tell what {path.name} holds: name it .jsonl (patient records) "
                                  f"or .csv (patients or imaging)")
            header = _csv_header(stream, path.name)
        return Source(path, _csv_kind(path.name, header), "csv", header, file, identity)
    except BaseException:
        file.close()
        raise


def _open(path: Path) -> io.FileIO:
    """The file opened for reading (unbuffered: each pass buffers afresh); SourceError when it is not a
    readable regular file."""
    try:
        file = io.FileIO(path, "r")
    except FileNotFoundError:
        raise SourceError(f"cannot read {path.name}: no such file") from None
    except OSError as exc:
        raise SourceError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
        file.close()
        raise SourceError(f"cannot read {path.name}: no such file")
    return file


def _check_encoding(stream: IO[bytes], name: str) -> None:
    """Refuse a UTF-16 or UTF-32 file at once: read as UTF-8 it would be nothing but unreadable rows."""
    head = stream.read(4)
    stream.seek(0)
    wide = next((encoding for bom, encoding in WIDE_BOMS.items() if head.startswith(bom)), None)
    if wide is None and b"\x00" in head[:2]:
        wide = "UTF-16 or UTF-32"
    if wide is not None:
        raise SourceError(f"{name} is {wide} text, not UTF-8: save it as UTF-8 and import it again")


def _csv_kind(name: str, header: tuple[str, ...]) -> str:
    """'patients' or 'imaging' from a header; SourceError naming what is wrong (at most MAX_LISTED names)."""
    if not header:
        raise SourceError(f"{name} is empty: a CSV file needs a header line")
    duplicates = sorted(column for column, n in Counter(header).items() if n > 1)
    if duplicates:
        raise SourceError(f"{name}: column(s) {listed(duplicates)} appear more than once in the header")
    columns = frozenset(header)
    if columns == frozenset(IMAGING_COLUMNS):
        return "imaging"
    unknown = [c for c in header if c not in _PATIENT_COLUMN_SET]
    if unknown or "patient_id" not in columns:
        problem = f"unknown column(s) {listed(unknown)}" if unknown else "no patient_id column"
        raise SourceError(f"{name}: {problem}. A patients file has patient_id and any of "
                          f"{', '.join(PATIENT_COLUMNS[1:])}; an imaging file has exactly "
                          f"{','.join(IMAGING_COLUMNS)}")
    return "patients"


def _decoded(stream: Iterable[bytes], bad_lines: set[int]) -> Iterator[str]:
    """Lines as text; a line that is not UTF-8 is decoded with replacements and its number noted."""
    for number, data in enumerate(stream, start=1):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            bad_lines.add(number)
            text = data.decode("utf-8", "replace")
        yield text.removeprefix(BOM) if number == 1 else text


def _csv_header(stream: IO[bytes], name: str) -> tuple[str, ...]:
    """The header record, read from the start of `stream` (SourceError if it is not CSV or too long)."""
    _allow_large_csv_fields()
    try:
        first = next(csv.reader(_decoded(_bounded_lines(stream, name), set())), [])
    except csv.Error as exc:
        raise SourceError(f"{name}: the header line cannot be read as CSV ({exc})") from None
    return tuple(cell.strip() for cell in first)


def _bounded_lines(stream: IO[bytes], name: str) -> Iterator[bytes]:
    """The lines of `stream`, refusing one longer than MAX_HEADER_BYTES before reading all of it."""
    while line := stream.readline(MAX_HEADER_BYTES + 1):
        if len(line) > MAX_HEADER_BYTES:
            raise SourceError(f"{name}: the header is longer than {MAX_HEADER_BYTES // 1024} KiB; a CSV header "
                              f"names at most {len(PATIENT_COLUMNS)} columns")
        yield line


def _jsonl_rows(stream: IO[bytes]) -> Iterator[SourceRow]:
    return (jsonl_row(*line) for line in _jsonl_lines(stream))


def _jsonl_lines(stream: IO[bytes]) -> Iterator[JsonLine]:
    bad_lines: set[int] = set()
    for number, line in enumerate(_decoded(stream, bad_lines), start=1):
        text = line.strip()
        if text:
            yield number, text, number in bad_lines


def jsonl_row(number: int, text: str, not_utf8: bool = False) -> SourceRow:
    """One non-blank JSON Lines line (`Source.lines()`) as the row `rows()` gives for it."""
    if not_utf8:
        return _unreadable(number, text, "is not valid UTF-8")
    try:
        raw = _loads(text)
    except (ValueError, RecursionError) as exc:
        reason = (exc.msg if isinstance(exc, json.JSONDecodeError)
                  else "nested too deeply" if isinstance(exc, RecursionError) else "not JSON")
        return _unreadable(number, text, f"is not valid JSON ({reason})")
    if _SUSPECT_ESCAPE.search(text) and not _storable(raw):
        return _unreadable(number, text, "holds a NUL character or an unpaired surrogate (\\u0000, "
                                         "\\ud800-\\udfff), which is not text")
    return SourceRow(number, raw, text)


def _loads(text: str) -> Any:
    """`json.loads(text)`, through msgspec's C decoder when it can: it reads what it accepts to the same values
    (integers of any size, floats to the same double, the last of repeated keys) and refuses the rest (NaN,
    Infinity, numbers past a double's range, lone surrogates, deep nesting), which the stdlib then reads."""
    try:
        return _DECODE_JSON(text)
    except (ValueError, RecursionError):
        return json.loads(text)


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


def _csv_rows(stream: IO[bytes], header: tuple[str, ...], name: str) -> Iterator[SourceRow]:
    """The data rows after the header, which must still be the one checked (else SourceChanged)."""
    _allow_large_csv_fields()
    bad_lines: set[int] = set()
    reader = csv.reader(_decoded(stream, bad_lines))
    last = 0
    try:
        if tuple(cell.strip() for cell in next(reader, [])) != header:
            raise SourceChanged(changed_message(name))
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
