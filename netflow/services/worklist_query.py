"""The worklist's vocabulary: what a page asks for, what it shows, and how rows are ranked and counted.

    query = WorklistQuery(status="overdue", risk="high", sort="window", page=2)
    query.passes(evaluation)                        # the status, risk, days-overdue and MRN filters
    row_status(evaluation)                          # "escalated" for overdue at escalation level 2
    SORT_KEYS["urgency"](evaluation, "doe, jane")   # the sort key of a row (with its casefolded name)
    count_statuses(evaluations)                     # {"escalated": 1, "overdue": 4, ..., "high_risk": 2}
    follow_up_passes(current, "any")                # whether a follow-up in force passes the filter

Each works alike on an Evaluation and on a kept standing (adapters.state.WorklistRow): `Ranked` names
what they read. Pure values and functions; services.worklist answers the questions with them
(re-exported there).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from netflow.domain.evaluation import Evaluation
from netflow.domain.followups import ACTIONS, FollowUp

__all__ = ["FOLLOW_UP_FILTERS", "RISK_TIERS", "SORT_KEYS", "STATUSES", "Ranked", "WorklistEntry", "WorklistPage",
           "WorklistQuery", "count_statuses", "follow_up_passes", "row_status", "tally"]

# The worklist's statuses, most urgent first: the evaluation's, with "escalated" for overdue at escalation
# level 2 (the overview's buckets; `netflow scan` counts both as "overdue").
STATUSES = ("escalated", "overdue", "due", "due_soon", "not_due", "needs_review", "not_indicated", "completed",
            "inactive", "invalid")
RISK_TIERS = ("high", "standard", "low")
# "none": no follow-up in force; "any": some; or one action.
FOLLOW_UP_FILTERS = ("none", "any", *ACTIONS)
_RANK = {status: rank for rank, status in enumerate(STATUSES)}
_TIER = {tier: rank for rank, tier in enumerate(RISK_TIERS)}
_WINDOW = ("not_due", "due_soon", "due", "overdue")


class Ranked(Protocol):
    """What the filters and sort orders read: an Evaluation, or a kept standing (adapters.state.WorklistRow)."""

    @property
    def patient_id(self) -> Any: ...
    @property
    def status(self) -> str: ...
    @property
    def escalation_level(self) -> int: ...
    @property
    def days_overdue(self) -> int: ...
    @property
    def window_open(self) -> date | None: ...
    @property
    def window_close(self) -> date | None: ...
    @property
    def risk_tier(self) -> str | None: ...
    @property
    def risk_reasons(self) -> tuple[str, ...]: ...
    @property
    def recommended_modality(self) -> str | None: ...
    @property
    def last_scan(self) -> date | None: ...


def row_status(evaluation: Ranked) -> str:
    """The status as the worklist shows and filters it: 'escalated' for overdue at escalation level 2."""
    if evaluation.status == "overdue" and evaluation.escalation_level >= 2:
        return "escalated"
    return evaluation.status


def _none_last(value: Any) -> tuple[bool, Any]:
    return value is None, value


def _urgency(ev: Ranked) -> tuple[Any, ...]:
    """Most urgent status first, then most escalated and overdue, the earliest window, the MRN."""
    return (_RANK.get(row_status(ev), len(_RANK)), -ev.escalation_level, -ev.days_overdue,
            _none_last(ev.window_close), _none_last(ev.window_open), str(ev.patient_id))


# key -> sort key of an evaluation (names: the recorded name, casefolded)
SORT_KEYS: dict[str, Callable[[Ranked, str], Any]] = {
    "urgency": lambda ev, name: _urgency(ev),
    "mrn": lambda ev, name: str(ev.patient_id),
    "name": lambda ev, name: name,
    "status": lambda ev, name: (_RANK.get(row_status(ev), len(_RANK)), -ev.days_overdue),
    "window": lambda ev, name: _none_last(ev.window_open),
    "days_overdue": lambda ev, name: ev.days_overdue,
    "risk": lambda ev, name: (_TIER.get(ev.risk_tier or "", len(_TIER)), -len(ev.risk_reasons)),
    "modality": lambda ev, name: ev.recommended_modality or "",
    "last_scan": lambda ev, name: _none_last(ev.last_scan),
}


@dataclass(frozen=True)
class WorklistQuery:
    """What to show of a team's worklist. `status` is one of STATUSES; `overdue_min_days` keeps the
    patients overdue at least that many days (with status "overdue", escalated ones included: the
    digest's "overdue more than a year" link); `q` a part of an MRN; `page_size` None: every row."""

    status: str | None = None
    risk: str | None = None
    follow_up: str | None = None
    overdue_min_days: int | None = None
    q: str | None = None
    sort: str = "urgency"
    order: str = "asc"
    page: int = 1
    page_size: int | None = 50

    def passes(self, ev: Ranked) -> bool:
        """Whether the evaluation passes the status, risk, days-overdue and MRN filters."""
        if self.overdue_min_days is not None:
            if ev.status != "overdue" or ev.days_overdue < self.overdue_min_days:
                return False
            if self.status not in (None, "overdue", row_status(ev)):
                return False
        elif self.status is not None and row_status(ev) != self.status:
            return False
        if self.risk is not None and ev.risk_tier != self.risk:
            return False
        return not self.q or self.q.casefold() in str(ev.patient_id).casefold()


@dataclass(frozen=True)
class WorklistEntry:
    """One patient of a worklist: the evaluation, the recorded name, the page reference, the follow-up in force."""

    evaluation: Evaluation
    name: str | None
    ref: str | None
    follow_up: FollowUp | None


@dataclass(frozen=True)
class WorklistPage:
    """One page of a team's worklist: `total` patients pass the filters; `counts` are the whole team's by
    status (before any filter), with high_risk and under_surveillance as the digest counts them."""

    team: str
    as_of: date
    query: WorklistQuery
    total: int
    counts: dict[str, int]
    entries: list[WorklistEntry] = field(default_factory=list)

    @property
    def pages(self) -> int:
        size = self.query.page_size
        return 1 if not size else max(1, -(-self.total // size))


def count_statuses(evaluations: Iterable[Ranked]) -> dict[str, int]:
    """Patients by worklist status, plus high_risk and under_surveillance (the digest's counters)."""
    counts = Counter({status: 0 for status in STATUSES})
    for ev in evaluations:
        tally(counts, ev.status, ev.escalation_level, ev.risk_tier, 1)
    return dict(counts)


def tally(counts: Counter[str], status: str, level: int, tier: str | None, n: int) -> None:
    """Add `n` patients (negative: take away) of this status, escalation level and risk tier to `counts`."""
    counts["escalated" if status == "overdue" and level >= 2 else status] += n
    if status in _WINDOW:
        counts["under_surveillance"] += n
        counts["high_risk"] += n if tier == "high" else 0


def follow_up_passes(current: FollowUp | None, wanted: str | None) -> bool:
    """Whether the follow-up in force (None: none) passes the filter `wanted` (one of FOLLOW_UP_FILTERS)."""
    if wanted == "none":
        return current is None
    if wanted == "any":
        return current is not None
    return current is not None and current.action == wanted
