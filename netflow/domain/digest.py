"""What a care team's digest email says, as data: sections of patient rows, totals, subject, footer.

    digest = build_digest(team_key="gi-onc-east", team_name="GI Oncology East", as_of=date(2026, 12, 1),
                          run_id="run-42", selection=select_items(events), totals=totals, rulesets=[nccn],
                          worklist_url="https://netflow.example.org/netflow/", phi_level="minimal",
                          cc_attendings=True, cc_lead=False)
    digest.subject   # 'NET surveillance - GI Oncology East: 3 overdue, 5 due, 2 high-risk (2026-12-01)'

Every word a template prints, and every link, is decided here, so the templates only loop and
test (spec reminders.md section 2). Free text is cleaned of control characters on the way in;
escaping for HTML is the renderer's job. Which rows a digest shows is decided in
netflow.domain.digest_sections; the data steward's digest lives in netflow.domain.steward.

Links: the summary's counts open the team's worklist filtered to each section
(`{worklist_url}?team=KEY&status=S`), each row the patient's page (`{worklist_url}patients/REF`,
REF the patient's opaque reference): never an MRN in an address.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from urllib.parse import quote

from netflow.domain.digest_rows import NO_NAME, PHI_LEVELS, DigestRow, clean_text, digest_row, display_name
from netflow.domain.digest_sections import (
    DIGEST_SECTIONS,
    MAX_ROWS_PER_SECTION,
    SECTION_FILTERS,
    SECTION_NOTES,
    SECTIONS,
    DigestItem,
    Selection,
    place_items,
    select_items,
)
from netflow.domain.rules import RuleSet

__all__ = [
    "DIGEST_SECTIONS",
    "MAX_ROWS_PER_DIGEST",
    "MAX_ROWS_PER_SECTION",
    "NO_NAME",
    "PHI_LEVELS",
    "SECTIONS",
    "Digest",
    "DigestItem",
    "DigestRow",
    "DigestSection",
    "Selection",
    "WorklistTotals",
    "build_digest",
    "check_worklist_url",
    "clean_text",
    "count_rows",
    "display_name",
    "select_items",
    "subject_for",
    "summary_for",
    "team_url",
]


@dataclass(frozen=True, slots=True)
class DigestSection:
    """A section of the digest: its most urgent rows, and `more` rows left to the worklist. `url` opens
    the team's worklist filtered to the section; `note` says what to do with its patients."""

    key: str
    title: str
    rows: tuple[DigestRow, ...]
    more: int = 0
    url: str = ""
    note: str = ""

    @property
    def count(self) -> int:
        return len(self.rows) + self.more


@dataclass(frozen=True, slots=True)
class WorklistTotals:
    """Patients by status: the team's whole open worklist, or the rows of one digest.

    escalated and overdue are disjoint (overdue excludes escalated), as are due and due_soon;
    high_risk counts high-risk flags, which overlap the others. In a digest's counts, overdue_year
    (overdue a year or more) is apart from escalated and overdue.
    """

    escalated: int = 0
    overdue: int = 0
    due: int = 0
    due_soon: int = 0
    high_risk: int = 0
    needs_review: int = 0
    not_indicated: int = 0
    under_surveillance: int = 0
    plan_changed: int = 0
    booking_lapsed: int = 0
    overdue_year: int = 0

    @property
    def parts(self) -> tuple[tuple[int, str], ...]:
        """(count, words) pairs in section order; under_surveillance is shown on its own."""
        return (
            (self.escalated, "escalated"),
            (self.overdue, "overdue"),
            (self.due, "due now"),
            (self.due_soon, "due in the next 30 days"),
            (self.high_risk, "high-risk"),
            (self.needs_review, "for clinician review"),
            (self.not_indicated, "no surveillance planned (to confirm)"),
        )


@dataclass(frozen=True)
class Digest:
    """One email to one care team for one run: `sections` in DIGEST_SECTIONS order (the template shows
    those with a count). `backlog`: a team's first digest holding more rows than a section's cap, which
    gives the counts and the links to the worklist and lists no row. `team_url` opens the team's
    worklist; `worklist_url` is the installation's."""

    team_key: str
    team_name: str
    as_of: date
    run_id: str
    sections: tuple[DigestSection, ...]
    totals: WorklistTotals
    counts: WorklistTotals
    summary: str
    subject: str
    recipients_note: str
    sources: tuple[str, ...]
    ruleset_versions: tuple[str, ...]
    worklist_url: str
    phi_level: str
    team_url: str = ""
    backlog: bool = False

    @property
    def shown(self) -> tuple[DigestSection, ...]:
        """The sections with at least one new event, in order."""
        return tuple(section for section in self.sections if section.count)

    @property
    def row_count(self) -> int:
        return sum(section.count for section in self.sections)


# However many sections are long, an email lists at most this many rows (the most urgent sections
# first; the others give their count and link): under 160 KB of HTML even with long explanations.
MAX_ROWS_PER_DIGEST = 40


def _guideline_label(ruleset: RuleSet) -> str:
    """'NCCN', 'CommNETS/NANETS consensus' (short_name without a leading 'the')."""
    short = ruleset.short_name
    return short[4:] if short.lower().startswith("the ") else short


def _base(url: str) -> str:
    return url if url.endswith("/") else f"{url}/"


def team_url(worklist_url: str, team_key: str, section: str | None = None) -> str:
    """The team's worklist, filtered to `section` when the worklist has a filter for it."""
    url = f"{_base(worklist_url)}?team={quote(team_key, safe='')}"
    query = SECTION_FILTERS.get(section or "")
    return f"{url}&{query}" if query else url


def _sections(selection: Selection, labels: Mapping[str, str], phi_level: str, worklist_url: str,
              team_key: str, backlog: bool) -> tuple[DigestSection, ...]:
    patients = f"{_base(worklist_url)}patients/"
    found = []
    budget = 0 if backlog else MAX_ROWS_PER_DIGEST
    for key, title in DIGEST_SECTIONS:
        items = selection.rows.get(key, ())[:budget]
        budget -= len(items)
        rows = tuple(digest_row(item, labels, phi_level, patients, item.patient_id in selection.flagged)
                     for item in items)
        found.append(DigestSection(key, title, rows, max(0, selection.counts.get(key, 0) - len(rows)),
                                   team_url(worklist_url, team_key, key), SECTION_NOTES.get(key, "")))
    return tuple(found)


def count_rows(sections: Iterable[DigestSection], high_risk_flags: int | None = None) -> WorklistTotals:
    """The rows of a digest counted by section (under_surveillance stays 0); `high_risk_flags`, when
    given, counts the new high-risk flags, marks on other rows included."""
    counts = {section.key: section.count for section in sections}
    if high_risk_flags is not None:
        counts["high_risk"] = high_risk_flags
    return WorklistTotals(**counts)


def summary_for(counts: WorklistTotals) -> str:
    """'3 overdue, 5 due, 2 high-risk', plus ', 1 to review, 1 to confirm' when there are any."""
    parts = [f"{counts.escalated + counts.overdue + counts.overdue_year} overdue",
             f"{counts.due + counts.due_soon} due", f"{counts.high_risk} high-risk"]
    if counts.booking_lapsed:
        parts.append(f"{counts.booking_lapsed} booked scan{'s' if counts.booking_lapsed != 1 else ''} "
                     "not on record")
    if counts.needs_review:
        parts.append(f"{counts.needs_review} to review")
    if counts.not_indicated:
        parts.append(f"{counts.not_indicated} to confirm")
    if counts.plan_changed:
        parts.append(f"{counts.plan_changed} plan{'s' if counts.plan_changed != 1 else ''} changed")
    return ", ".join(parts)


def subject_for(team_name: str, counts: WorklistTotals, as_of: date) -> str:
    """The subject line: the team, counts and date only, never patient data, always one line."""
    return f"NET surveillance - {clean_text(team_name)}: {summary_for(counts)} ({as_of.isoformat()})"


def _recipients_note(team_name: str, cc_attendings: bool, cc_lead: bool) -> str:
    note = (f"Sent to the nurse navigators of {team_name}, who book the scans: it lists the patients "
            "whose surveillance imaging needs action, new since the last digest.")
    if cc_attendings:
        note += " The attending physicians are copied because it lists overdue patients."
    if cc_lead:
        note += " The program lead is copied because it lists patients overdue 90 days or more."
    return note


def check_worklist_url(url: str) -> str:
    """The worklist link, which must be an http(s) address (it becomes a link in the email)."""
    if not re.match(r"https?://[^\s<>\"']+\Z", url):
        raise ValueError(f"the worklist URL must be an http:// or https:// address without spaces, "
                         f"got {url!r} (see NETFLOW_WORKLIST_URL)")
    return url


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(clean_text(v) for v in values))


def build_digest(
    *,
    team_key: str,
    team_name: str,
    as_of: date,
    run_id: str,
    items: Sequence[DigestItem] = (),
    totals: WorklistTotals,
    rulesets: Sequence[RuleSet],
    worklist_url: str,
    phi_level: str = "minimal",
    cc_attendings: bool = False,
    cc_lead: bool = False,
    max_rows: int = MAX_ROWS_PER_SECTION,
    selection: Selection | None = None,
    first: bool = False,
) -> Digest:
    """The digest for one team and run from its new events.

    `selection` is what the digest shows of the team's new events (`select_items(events)`, or the
    database's equal, see netflow.domain.digest_sections); `items` instead are rows already placed,
    each in the section its kind names (as the worklist words its rows). `totals` is the team's
    whole open worklist (computed by the caller); `rulesets` are the rule sets the rows were
    evaluated under, for the footer; `cc_attendings` and `cc_lead` say who is copied, for the note
    explaining why each recipient gets the email. Each section lists its `max_rows` most urgent
    rows, and the email at most MAX_ROWS_PER_DIGEST, the first sections first; the rest are counted
    and left to the worklist. `first`: the team's first digest, which,
    when it holds more than `max_rows` rows, lists none (it is the team's whole backlog: the counts
    link to the worklist instead).
    """
    if phi_level not in PHI_LEVELS:
        raise ValueError(f"phi_level must be minimal or full, got {phi_level!r} (see NETFLOW_PHI_LEVEL)")
    check_worklist_url(worklist_url)
    chosen = place_items(items, max_rows) if selection is None else selection
    used = {rs.id: rs for rs in rulesets}.values()
    labels = {rs.id: _guideline_label(rs) for rs in used}
    backlog = first and sum(chosen.counts.values()) > max_rows
    sections = _sections(chosen, labels, phi_level, worklist_url, team_key, backlog)
    counts = count_rows(sections, chosen.high_risk_flags)
    name = clean_text(team_name) or clean_text(team_key)
    return Digest(
        team_key=team_key,
        team_name=name,
        as_of=as_of,
        run_id=clean_text(run_id),
        sections=sections,
        totals=totals,
        counts=counts,
        summary=summary_for(counts),
        subject=subject_for(name, counts, as_of),
        recipients_note=_recipients_note(name, cc_attendings, cc_lead),
        sources=_unique(source for rs in used for source in rs.sources.values()),
        ruleset_versions=_unique(f"{labels[rs.id]}: {rs.version}" for rs in used),
        worklist_url=worklist_url,
        phi_level=phi_level,
        team_url=team_url(worklist_url, team_key),
        backlog=backlog,
    )
