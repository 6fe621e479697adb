"""The data steward's digest: records quarantined on import, with every problem found.

    digest = build_steward_digest(as_of=date(2026, 12, 1), run_id="run-42", items=items,
                                  worklist_url="https://netflow.example.org/worklist")
    digest.subject   # 'NET surveillance - data quality: 2 records quarantined (2026-12-01)'

Spec reminders.md section 1: a record that fails validation is kept with its errors, never
dropped, and reported to the installation's data steward once per record version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from netflow.domain.digest import NO_NAME, check_worklist_url, clean_text
from netflow.domain.record import FieldError

__all__ = ["StewardDigest", "StewardItem", "StewardRow", "build_steward_digest", "steward_subject"]

STEWARD_NOTE = (
    "Sent to the data steward of this netflow installation: these records failed validation on "
    "import. They are kept in quarantine, not evaluated and not lost; correct them at the source "
    "and the next import picks them up. Each version of a record is reported once."
)


@dataclass(frozen=True, slots=True)
class StewardItem:
    """One quarantined record: where it came from, its MRN if it had one, each {field, message}."""

    source: str
    line_no: int | None
    record_key: str | None
    errors: Sequence[Mapping[str, str] | FieldError]


@dataclass(frozen=True, slots=True)
class StewardRow:
    source: str
    line_no: str
    record_key: str
    errors: tuple[FieldError, ...]


@dataclass(frozen=True)
class StewardDigest:
    as_of: date
    run_id: str
    rows: tuple[StewardRow, ...]
    subject: str
    recipients_note: str
    worklist_url: str

    @property
    def row_count(self) -> int:
        return len(self.rows)


def steward_subject(count: int, as_of: date) -> str:
    """'NET surveillance - data quality: 2 records quarantined (2026-12-01)'."""
    records = "record" if count == 1 else "records"
    return f"NET surveillance - data quality: {count} {records} quarantined ({as_of.isoformat()})"


def _error(error: Mapping[str, str] | FieldError) -> FieldError:
    if isinstance(error, FieldError):
        return FieldError(clean_text(error.field), clean_text(error.message))
    return FieldError(clean_text(error.get("field")), clean_text(error.get("message")))


def _row(item: StewardItem) -> StewardRow:
    return StewardRow(
        source=clean_text(item.source),
        line_no="" if item.line_no is None else str(item.line_no),
        record_key=clean_text(item.record_key) or NO_NAME,
        errors=tuple(_error(e) for e in item.errors),
    )


def build_steward_digest(
    *, as_of: date, run_id: str, items: Sequence[StewardItem], worklist_url: str
) -> StewardDigest:
    """The steward's email for one run, rows by file then line."""
    ordered = sorted(items, key=lambda i: (i.source, i.line_no is None, i.line_no or 0, i.record_key or ""))
    return StewardDigest(
        as_of=as_of,
        run_id=clean_text(run_id),
        rows=tuple(_row(item) for item in ordered),
        subject=steward_subject(len(items), as_of),
        recipients_note=STEWARD_NOTE,
        worklist_url=check_worklist_url(worklist_url),
    )
