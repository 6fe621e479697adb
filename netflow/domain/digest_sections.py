"""Which section of a digest each new event goes in, and which rows a digest shows.

    selection = select_items(items, max_rows=20)
    selection.rows["overdue"]      # the 20 most urgent overdue items, most urgent first
    selection.counts["overdue"]    # how many overdue items the digest holds in all
    selection.flagged              # patients whose new high-risk flag is a mark on their row

This is the reference of the selection; the database computes the same thing in SQL for a real
run (netflow.adapters.ledger, `LedgerWriter.digest_batches`), and a test holds the two equal:
- a patient whose plan a rules update changed is told once, in "Plan changed", with the new
  plan; their other new events (a sudden overdue, say) are in the digest but not shown;
- a new high-risk flag of a patient shown in another section is a mark on that row, not a
  second row; a high-risk patient with no other row keeps one in "High-risk flags";
- an overdue or escalated patient overdue `LONG_OVERDUE_DAYS` days or more is in "Overdue more
  than a year" (imaging done elsewhere, or a patient who moved), not in Overdue or Escalated;
- rows are sorted by urgency: escalation level, days overdue, window close, window open (both
  missing last), MRN (code point), then the order the events were recorded in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = ["DIGEST_SECTIONS", "LONG_OVERDUE_DAYS", "MAX_ROWS_PER_SECTION", "SECTIONS", "SECTION_FILTERS",
           "SECTION_NOTES", "DigestItem", "Selection", "place_items", "section_of", "select_items", "urgency"]

# The sections of the team's whole worklist (where each patient stands), in the spec's order.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("escalated", "Escalated (overdue 90 days or more)"),
    ("overdue", "Overdue"),
    ("due", "Due now"),
    ("due_soon", "Due in the next 30 days"),
    ("high_risk", "High-risk flags"),
    ("needs_review", "Needs clinician review"),
    ("not_indicated", "No surveillance planned (confirm)"),
)

DIGEST_SECTIONS: tuple[tuple[str, str], ...] = (
    ("escalated", "Escalated (overdue 90 days or more)"),
    ("booking_lapsed", "Booked scan not on record"),
    ("overdue", "Overdue"),
    ("overdue_year", "Overdue more than a year"),
    ("due", "Due now"),
    ("due_soon", "Due in the next 30 days"),
    ("plan_changed", "Plan changed by a rules update"),
    ("high_risk", "High-risk flags"),
    ("needs_review", "Needs clinician review"),
    ("not_indicated", "No surveillance planned (confirm)"),
)
# What each section's link asks of the team's worklist (after ?team=KEY); a section the worklist
# has no filter for links to the whole worklist.
SECTION_FILTERS: Mapping[str, str] = {
    "escalated": "status=escalated",
    "booking_lapsed": "follow_up=scan_booked",
    "overdue": "status=overdue",
    "overdue_year": "status=overdue&overdue_min_days=365",
    "due": "status=due",
    "due_soon": "status=due_soon",
    "high_risk": "risk=high",
    "needs_review": "status=needs_review",
    "not_indicated": "status=not_indicated",
}
SECTION_NOTES: Mapping[str, str] = {
    "booking_lapsed": "The care team booked a scan; its date and the grace period have passed and no scan is "
                      "on record: check whether it took place, and book again if not.",
    "overdue_year": "Check whether imaging was done elsewhere or the patient moved.",
}
LONG_OVERDUE_DAYS = 365
MAX_ROWS_PER_SECTION = 20
SECTION_KEYS = frozenset(key for key, _ in DIGEST_SECTIONS)
# Event kinds that are sections of their own; overdue_year is decided from days overdue.
EVENT_SECTIONS = SECTION_KEYS - {"overdue_year"}


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One new event to tell the team about: its kind, the patient, the evaluation.

    `evaluation` is the evaluation object of surveillance-rules.md section 7 as a mapping
    (Evaluation.to_dict()); dates may be ISO strings or dates. `ref` is the patient's opaque
    reference (their page's address, never the MRN); `order` the event's place in the ledger
    (ties in urgency keep it)."""

    kind: str
    patient_id: str
    name: str | None
    evaluation: Mapping[str, Any]
    ref: str | None = None
    order: int = 0


@dataclass(frozen=True)
class Selection:
    """What a digest shows: per section its most urgent items (most urgent first) and how many it holds,
    the patients whose new high-risk flag is a mark on their row, and the new high-risk flags in all."""

    rows: Mapping[str, tuple[DigestItem, ...]]
    counts: Mapping[str, int]
    flagged: frozenset[str] = frozenset()
    high_risk_flags: int = 0


def payload_date(value: Any) -> date | None:
    """A date of an event payload (ISO text, or a date already), None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def urgency(item: DigestItem) -> tuple[Any, ...]:
    """Most escalated and most overdue first, then the earliest due date, then MRN, then ledger order."""
    ev = item.evaluation
    closes, opens = payload_date(ev.get("window_close")), payload_date(ev.get("window_open"))
    return (
        -int(ev.get("escalation_level") or 0),
        -int(ev.get("days_overdue") or 0),
        (closes is None, closes or date.min),
        (opens is None, opens or date.min),
        str(item.patient_id),
        item.order,
    )


def section_of(kind: str, days_overdue: Any) -> str:
    """The section an event of `kind` is shown in (before plan changes and high-risk marks)."""
    if kind in ("escalated", "overdue") and int(days_overdue or 0) >= LONG_OVERDUE_DAYS:
        return "overdue_year"
    return kind


def _check_kinds(kinds: Iterable[str], known: frozenset[str]) -> None:
    unknown = sorted(set(kinds) - known)
    if unknown:
        raise ValueError(f"unknown digest item kind {', '.join(unknown)}; expected one of "
                         f"{', '.join(key for key, _ in DIGEST_SECTIONS if key in known)}")


def _selection(by_section: Mapping[str, Sequence[DigestItem]], max_rows: int, flagged: frozenset[str] = frozenset(),
               high_risk_flags: int | None = None) -> Selection:
    rows = {key: tuple(sorted(found, key=urgency)[:max_rows]) for key, found in by_section.items()}
    counts = {key: len(found) for key, found in by_section.items()}
    return Selection(rows, counts, flagged, counts.get("high_risk", 0) if high_risk_flags is None else high_risk_flags)


def place_items(items: Sequence[DigestItem], max_rows: int = MAX_ROWS_PER_SECTION) -> Selection:
    """Items already placed, each in the section its `kind` names: the most urgent `max_rows` of each."""
    _check_kinds((item.kind for item in items), SECTION_KEYS)
    by_section: dict[str, list[DigestItem]] = {}
    for item in items:
        by_section.setdefault(item.kind, []).append(item)
    return _selection(by_section, max_rows)


def select_items(items: Sequence[DigestItem], max_rows: int = MAX_ROWS_PER_SECTION) -> Selection:
    """The rows a digest shows from its new events (see the module's docstring for the rules)."""
    _check_kinds((item.kind for item in items), EVENT_SECTIONS)
    changed = {item.patient_id for item in items if item.kind == "plan_changed"}
    with_row = {item.patient_id for item in items if item.kind != "high_risk"}
    by_section: dict[str, list[DigestItem]] = {}
    for item in items:
        if item.patient_id in changed and item.kind != "plan_changed":
            continue
        if item.kind == "high_risk" and item.patient_id in with_row:
            continue
        by_section.setdefault(section_of(item.kind, item.evaluation.get("days_overdue")), []).append(item)
    flags = [item.patient_id for item in items if item.kind == "high_risk"]
    return _selection(by_section, max_rows, frozenset(flags) & with_row, len(flags))
