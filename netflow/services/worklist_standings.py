"""A worklist page read from where each patient stands (patient_state, adapters/state.py), not re-evaluated.

    page = page_from_standings(inst, "gi-onc-east", date(2026, 12, 1), WorklistQuery(page=2),
                               engine=__version__, min_on_the_fly=MIN_ON_THE_FLY)   # None: evaluate the team
    entries(inst, evaluations, names, date(2026, 12, 1))   # the rows: with page references, follow-ups in force

Counts, filters, order and paging in SQL, then only the page's patients evaluated (for the words of their
rows). The kept standings that may not hold on the page's date are set aside and those patients evaluated
on the fly and merged in: data stamped since the last whole check (a record, a scan, a follow-up), a
next_change that has come, a standing kept on a later date or under other rules (`engine`: the engine's
version in the rules' fingerprint), a patient moved to another team. So a page equals the same page of the
team evaluated on its date. None, and the caller evaluates the team as a whole: before the first daily
run, or with more than a quarter of the team (at least `min_on_the_fly` patients) to evaluate on the fly.
Nothing here writes. services.worklist is the public face (`worklist`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from netflow.adapters.state import PAGE_SORTS, PageFilter, TeamChanges, TeamPage, WorklistRow
from netflow.cohort import team_guidelines
from netflow.domain.changes import rules_fingerprint
from netflow.domain.engine import evaluate_stored
from netflow.domain.evaluation import Evaluation
from netflow.domain.followups import FollowUp
from netflow.domain.record import PatientRecord
from netflow.installation import Installation
from netflow.services.followups import current_follow_ups
from netflow.services.worklist_query import (
    FOLLOW_UP_FILTERS,
    RISK_TIERS,
    SORT_KEYS,
    STATUSES,
    Ranked,
    WorklistEntry,
    WorklistPage,
    WorklistQuery,
    follow_up_passes,
    tally,
)

__all__ = ["MIN_ON_THE_FLY", "entries", "page_from_standings"]

# A page evaluates on the fly up to a quarter of the team (at least this many); more: the whole team.
MIN_ON_THE_FLY = 1000


@dataclass(frozen=True)
class _Slice:
    """Which rows of the sorted, filtered team a page shows, and whether SQL sorts them (PAGE_SORTS and
    no MRN fragment; otherwise every kept standing that passes is sorted in Python)."""

    sort: str
    descending: bool
    start: int
    size: int
    in_sql: bool

    @classmethod
    def of(cls, query: WorklistQuery) -> _Slice:
        sort = query.sort if query.sort in SORT_KEYS else "urgency"
        size = query.page_size or 0
        return cls(sort, query.order == "desc", (max(query.page, 1) - 1) * size, size,
                   sort in PAGE_SORTS and not query.q)


def page_from_standings(inst: Installation, team: str, as_of: date, query: WorklistQuery, *, engine: str,
                        min_on_the_fly: int) -> WorklistPage | None:
    """The page from the kept standings and the patients evaluated on the fly; None: evaluate the whole team."""
    changes = inst.db.state.team_changes(team, as_of)
    if changes is None:  # never checked whole: before the first daily run
        return None
    outdated = _set_aside(inst, team, as_of, changes)
    if outdated is None:
        return None
    most = max(min_on_the_fly, sum(n for *_, n in changes.groups) // 4)
    where, follow = _filter(inst, team, as_of, query)
    cut = _Slice.of(query)
    found = _read_standings(inst, team, as_of, where, cut, engine, limit=cut.start + cut.size + len(outdated),
                            most=most)
    again = changes.changed | {row.patient_id for row in found.stale}
    if len(again) > most:
        return None
    outdated.update((row.patient_id, row) for row in found.stale)
    fresh, records = _evaluate(inst, again, as_of)
    fresh = [ev for ev in fresh if ev.care_team == team]
    passing = [ev for ev in fresh if query.passes(ev) and (
        follow is None or follow_up_passes(follow.get(str(ev.patient_id)), query.follow_up))]
    kept, total, names = _kept(inst, team, as_of, query, where, cut, found.rows, outdated, changes.groups)
    chosen = _chosen([*kept, *passing], names, cut)
    rows = _page_entries(inst, chosen, fresh, records, as_of, follow)
    return WorklistPage(team, as_of, query, total + len(passing), _counts(changes.groups, outdated.values(), fresh),
                        rows)


def _set_aside(inst: Installation, team: str, as_of: date, changes: TeamChanges) -> dict[str, WorklistRow] | None:
    """The standings not to trust, by patient_id: the changed patients' and those of patients who left the
    team (or the database); None when those do not add up (evaluate the whole team)."""
    outdated = {row.patient_id: row for row in changes.kept}
    # Each unchanged patient of the team has a standing in the team (the last whole check saw it): the
    # standings beyond those and the changed ones count patients who left the team (or the database).
    left = sum(n for *_, n in changes.groups) - len(outdated) - (changes.size - len(changes.changed))
    if left:
        moved = inst.db.state.moved_out(team, as_of) if left > 0 else []
        if len(moved) != left:
            return None
        outdated.update((row.patient_id, row) for row in moved)
    return outdated


def _read_standings(inst: Installation, team: str, as_of: date, where: PageFilter, cut: _Slice, engine: str, *,
                    limit: int, most: int) -> TeamPage:
    """The standings that do not hold on `as_of` and, when SQL sorts the page, the first `limit` of the
    others that pass `where`, in order (otherwise no rows: _kept reads them)."""
    context = rules_fingerprint(inst.book, inst.db.patients.team_guidelines(), engine)
    if cut.in_sql:
        return inst.db.state.team_page(team, as_of, context, where, sort=cut.sort, descending=cut.descending,
                                       limit=limit, most_stale=most, statuses=STATUSES, tiers=RISK_TIERS)
    return TeamPage(inst.db.state.team_stale(team, as_of, context), [])


def _kept(inst: Installation, team: str, as_of: date, query: WorklistQuery, where: PageFilter, cut: _Slice,
          rows: Sequence[WorklistRow], outdated: dict[str, WorklistRow],
          groups: Iterable[tuple[str, int, str | None, int]]) -> tuple[list[WorklistRow], int, dict[str, str | None]]:
    """The kept standings that may be on the page (none set aside), how many pass the filters, and the
    recorded names when the page is sorted by name."""
    if cut.in_sql:
        kept = [row for row in rows if row.patient_id not in outdated][:cut.start + cut.size]
        total = _kept_total(inst, team, as_of, where, groups) - sum(_holds(where, row) for row in outdated.values())
        return kept, total, {}
    # sorted by name, or an MRN fragment: every kept standing that passes, in Python
    kept = [row for row in inst.db.state.team_rows(team, as_of, where)
            if row.patient_id not in outdated and query.passes(row)]
    return kept, len(kept), inst.db.patients.team_patient_names(team) if cut.sort == "name" else {}


def _chosen(candidates: list[Ranked], names: dict[str, str | None], cut: _Slice) -> list[str]:
    """The patient_ids on the page, in the query's order; ties in code-point patient_id order (as SQL's)."""
    candidates.sort(key=lambda x: str(x.patient_id))
    key = SORT_KEYS[cut.sort]
    candidates.sort(key=lambda x: key(x, (names.get(str(x.patient_id)) or "").casefold()), reverse=cut.descending)
    return [str(x.patient_id) for x in candidates[cut.start:cut.start + cut.size]]


def _page_entries(inst: Installation, chosen: list[str], fresh: list[Evaluation], records: dict[str, PatientRecord],
                  as_of: date, follow: dict[str, FollowUp] | None) -> list[WorklistEntry]:
    """The page's rows: the fresh evaluations, and the kept standings on it evaluated now (for their words)."""
    evaluated = {str(ev.patient_id): ev for ev in fresh}
    shown, more = _evaluate(inst, [pid for pid in chosen if pid not in evaluated], as_of)
    evaluated.update((str(ev.patient_id), ev) for ev in shown)
    page = [evaluated[pid] for pid in chosen if pid in evaluated]
    return entries(inst, page, {pid: record.name for pid, record in {**records, **more}.items()}, as_of, follow)


def _counts(groups: Iterable[tuple[str, int, str | None, int]], outdated: Iterable[Ranked], fresh: Iterable[Ranked]
            ) -> dict[str, int]:
    """count_statuses of the team: the kept totals, less the standings set aside, plus the fresh evaluations."""
    counts = Counter({status: 0 for status in STATUSES})
    for status, level, tier, n in groups:
        tally(counts, status, level, tier, n)
    for row in outdated:
        tally(counts, row.status, row.escalation_level, row.risk_tier, -1)
    for ev in fresh:
        tally(counts, ev.status, ev.escalation_level, ev.risk_tier, 1)
    return dict(counts)


def _filter(inst: Installation, team: str, as_of: date, query: WorklistQuery
            ) -> tuple[PageFilter, dict[str, FollowUp] | None]:
    """The query's filters on kept standings, with the team's follow-ups in force when it filters on them."""
    where = PageFilter(status=query.status, risk=query.risk, overdue_min_days=query.overdue_min_days)
    if query.follow_up not in FOLLOW_UP_FILTERS:
        return where, None
    follow = current_follow_ups(inst, inst.db.state.follow_up_patients(team), as_of)
    if query.follow_up == "none":
        return replace(where, without=frozenset(follow)), follow
    return replace(where, only=frozenset(pid for pid, f in follow.items()
                                         if follow_up_passes(f, query.follow_up))), follow


def _evaluate(inst: Installation, patient_ids: Collection[str], as_of: date
              ) -> tuple[list[Evaluation], dict[str, PatientRecord]]:
    """These stored patients evaluated on `as_of` (by patient_id), with their records."""
    chosen = team_guidelines(inst.db, inst.book) if patient_ids else {}
    records = {record.patient_id: record for record in inst.db.state.records(patient_ids)}
    return [evaluate_stored(record, as_of, inst.book, chosen.get(record.care_team))
            for record in records.values()], records


def _holds(where: PageFilter, row: Ranked) -> bool:
    """Whether a kept standing passes `where` (as adapters.state's SQL decides it)."""
    query = WorklistQuery(status=where.status, risk=where.risk, overdue_min_days=where.overdue_min_days)
    pid = str(row.patient_id)
    return query.passes(row) and (where.only is None or pid in where.only) and pid not in where.without


def _kept_total(inst: Installation, team: str, as_of: date, where: PageFilter,
                groups: Iterable[tuple[str, int, str | None, int]]) -> int:
    """How many kept standings of the team pass `where`: from the team totals (`groups`: the index) when it
    filters on status and risk tier only."""
    if where.overdue_min_days is not None or where.only is not None or where.without:
        return inst.db.state.team_total(team, as_of, where)
    query = WorklistQuery(status=where.status, risk=where.risk)
    return sum(n for status, level, tier, n in groups if query.status in (None, _row_status(status, level))
               and query.risk in (None, tier))


def _row_status(status: str, level: int) -> str:
    return "escalated" if status == "overdue" and level >= 2 else status


def entries(inst: Installation, evaluations: list[Evaluation], names: dict[str, str | None], as_of: date,
            follow: dict[str, FollowUp] | None = None) -> list[WorklistEntry]:
    """The worklist rows of these evaluations: the recorded names, page references, follow-ups in force
    (`follow`: those already read, else read here)."""
    ids = [str(ev.patient_id) for ev in evaluations]
    refs = inst.db.patients.refs(ids)
    if follow is None:
        follow = current_follow_ups(inst, ids, as_of) if ids else {}
    return [WorklistEntry(ev, names.get(pid), refs.get(pid), follow.get(pid)) for ev, pid in zip(evaluations, ids,
                                                                                                  strict=True)]
