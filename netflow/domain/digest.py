"""What a care team's digest email says, as data: sections of patient rows, totals, subject, footer.

    digest = build_digest(team_key="gi-onc-east", team_name="GI Oncology East", as_of=date(2026, 12, 1),
                          run_id="run-42", items=items, totals=totals, rulesets=[nccn],
                          worklist_url="https://netflow.example.org/worklist", phi_level="minimal",
                          cc_attendings=True, cc_lead=False)
    digest.subject   # 'NET surveillance - GI Oncology East: 3 overdue, 5 due, 2 high-risk (2026-12-01)'

Every word a template prints is decided here, so the templates only loop and test (spec
reminders.md section 2). Free text is cleaned of control characters on the way in; escaping
for HTML is the renderer's job. The data steward's digest lives in netflow.domain.steward.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from netflow.domain.explain import REASON_WORDS, RECOMMENDATION_WORDS
from netflow.domain.rules import RuleSet

__all__ = [
    "DIGEST_SECTIONS",
    "PHI_LEVELS",
    "SECTIONS",
    "Digest",
    "DigestItem",
    "DigestRow",
    "DigestSection",
    "UrgentSample",
    "WorklistTotals",
    "build_digest",
    "check_worklist_url",
    "clean_text",
    "count_rows",
    "display_name",
    "subject_for",
    "summary_for",
]

SECTIONS: tuple[tuple[str, str], ...] = (
    ("escalated", "Escalated (overdue 90 days or more)"),
    ("overdue", "Overdue"),
    ("due", "Due now"),
    ("due_soon", "Due in the next 30 days"),
    ("high_risk", "High-risk flags"),
    ("needs_review", "Needs clinician review"),
    ("not_indicated", "No surveillance planned (confirm)"),
)
# A digest also tells the team whose plan a rules update changed (events only: the worklist, which
# shows where patients stand, has no such section).
PLAN_CHANGED = ("plan_changed", "Plan changed by a rules update")
DIGEST_SECTIONS: tuple[tuple[str, str], ...] = (*SECTIONS[:4], PLAN_CHANGED, *SECTIONS[4:])
PHI_LEVELS = ("minimal", "full")
MAX_ROWS_PER_SECTION = 100
NO_NAME = "—"
STATUS_WORDS = {
    "not_due": "Not due yet",
    "due_soon": "Due soon",
    "due": "Due now",
    "overdue": "Overdue",
    "needs_review": "Needs clinician review",
    "not_indicated": "No surveillance planned",
    "completed": "Surveillance completed",
    "inactive": "Not under surveillance",
    "invalid": "Record needs correcting",
}
_KINDS = frozenset(key for key, _ in DIGEST_SECTIONS)
# Control characters, line and paragraph separators, and bidirectional overrides (which can
# make a name display as something else) become spaces.
_UNSAFE = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_text(value: object) -> str:
    """`value` as one line of text: control characters and line breaks become spaces, runs of
    whitespace one space. HTML characters are kept: escaping is the renderer's job."""
    text = _UNSAFE.sub(" ", "" if value is None else str(value))
    text = "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)
    return " ".join(text.split())


def _initials(name: str) -> str:
    parts = [p for p in name.split() if any(ch.isalpha() for ch in p)]
    # Particles written in lower case ("de", "van", "bin") are skipped, unless every part is.
    capitalised = [p for p in parts if not next(ch for ch in p if ch.isalpha()).islower()]
    return " ".join(f"{next(ch for ch in p if ch.isalpha()).upper()}." for p in capitalised or parts)


def display_name(name: str | None, phi_level: str = "minimal") -> str:
    """The patient's name as the digest shows it.

    'full': the name as recorded (cleaned to one line). 'minimal': initials, one per part of the
    name separated by spaces, each the part's first letter, upper-cased, with a full stop. A
    hyphenated or apostrophised part gives one initial, parts with no letter are skipped, and so
    are particles written in lower case: "Ana María O'Brien-Smith" -> "A. M. O.",
    "Ludwig van Beethoven" -> "L. B.". A missing or empty name shows as "—".
    """
    if phi_level not in PHI_LEVELS:
        raise ValueError(f"phi_level must be minimal or full, got {phi_level!r} (see NETFLOW_PHI_LEVEL)")
    text = clean_text(name)
    shown = text if phi_level == "full" else _initials(text)
    return shown or NO_NAME


@dataclass(frozen=True, slots=True)
class DigestItem:
    """One new event to tell the team about: its kind (the section), the patient, the evaluation.

    `evaluation` is the evaluation object of surveillance-rules.md section 7 as a mapping
    (Evaluation.to_dict()); dates may be ISO strings or dates.
    """

    kind: str
    patient_id: str
    name: str | None
    evaluation: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class DigestRow:
    """One patient line of a section, every cell already in words."""

    mrn: str
    display_name: str
    status: str
    window: str
    days_overdue: int
    risk: str
    modality: str
    rule: str
    explanation: str


@dataclass(frozen=True, slots=True)
class DigestSection:
    """A section's most urgent rows; `more` counts the rows left out of the email (see the worklist)."""

    key: str
    title: str
    rows: tuple[DigestRow, ...]
    more: int = 0

    @property
    def count(self) -> int:
        return len(self.rows) + self.more


@dataclass(frozen=True, slots=True)
class WorklistTotals:
    """Patients by status: the team's whole open worklist, or the rows of one digest.

    escalated and overdue are disjoint (overdue excludes escalated), as are due and due_soon;
    high_risk counts high-risk flags, which overlap the others.
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
    """One email to one care team for one run. `sections` holds the seven worklist sections in SECTIONS
    order; `plan_changes` the patients whose plan a rules update changed; `shown` all of them in the
    order the email shows them (DIGEST_SECTIONS)."""

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
    plan_changes: DigestSection = DigestSection(PLAN_CHANGED[0], PLAN_CHANGED[1], ())

    @property
    def shown(self) -> tuple[DigestSection, ...]:
        return (*self.sections[:4], self.plan_changes, *self.sections[4:])

    @property
    def row_count(self) -> int:
        return sum(section.count for section in self.shown)


def _date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _guideline_label(ruleset: RuleSet) -> str:
    """'NCCN', 'CommNETS/NANETS consensus' (short_name without a leading 'the')."""
    short = ruleset.short_name
    return short[4:] if short.lower().startswith("the ") else short


def _risk(tier: Any, reasons: Iterable[str]) -> str:
    if not tier:
        return ""
    if tier != "high":
        return str(tier).capitalize()
    words = [REASON_WORDS.get(code, code.replace("_", " ")) for code in reasons]
    return f"High: {', '.join(words)}" if words else "High"


def _status(evaluation: Mapping[str, Any]) -> str:
    status = str(evaluation.get("status") or "")
    if status == "overdue" and evaluation.get("escalation_level") == 2:
        return "Overdue, escalated"
    return STATUS_WORDS.get(status, status.replace("_", " ").capitalize())


def _window(evaluation: Mapping[str, Any]) -> str:
    opens, closes = _date(evaluation.get("window_open")), _date(evaluation.get("window_close"))
    if opens is None or closes is None:
        return ""
    return f"{opens.isoformat()} – {closes.isoformat()}"


def _rule(evaluation: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    guideline = evaluation.get("guideline")
    rule_id = evaluation.get("rule_id")
    label = labels.get(str(guideline), str(guideline)) if guideline else ""
    return clean_text(" · ".join(part for part in (label, rule_id or "") if part))


def _row(item: DigestItem, labels: Mapping[str, str], phi_level: str) -> DigestRow:
    ev = item.evaluation
    return DigestRow(
        mrn=clean_text(item.patient_id),
        display_name=display_name(item.name, phi_level),
        status=_status(ev),
        window=_window(ev),
        days_overdue=int(ev.get("days_overdue") or 0),
        risk=_risk(ev.get("risk_tier"), ev.get("risk_reasons") or ()),
        modality=RECOMMENDATION_WORDS.get(str(ev.get("recommended_modality")), ""),
        rule=_rule(ev, labels),
        explanation=clean_text(ev.get("explanation")),
    )


def _urgency(item: DigestItem) -> tuple[Any, ...]:
    """Most escalated and most overdue first, then the earliest due date, then MRN."""
    ev = item.evaluation
    closes, opens = _date(ev.get("window_close")), _date(ev.get("window_open"))
    return (
        -int(ev.get("escalation_level") or 0),
        -int(ev.get("days_overdue") or 0),
        (closes is None, closes or date.min),
        (opens is None, opens or date.min),
        str(item.patient_id),
    )


class UrgentSample:
    """The `max_rows` most urgent items of each section from a stream of any length, and how many
    more there were: what a digest shows, in memory that does not grow with the stream."""

    def __init__(self, max_rows: int = MAX_ROWS_PER_SECTION) -> None:
        self.max_rows = max_rows
        self.kept: dict[str, list[DigestItem]] = {}
        self.total: dict[str, int] = {}

    def add(self, item: DigestItem) -> None:
        kept = self.kept.setdefault(item.kind, [])
        kept.append(item)
        self.total[item.kind] = self.total.get(item.kind, 0) + 1
        if len(kept) >= 4 * self.max_rows:
            kept.sort(key=_urgency)
            del kept[self.max_rows:]

    def items(self) -> list[DigestItem]:
        return [item for kept in self.kept.values() for item in sorted(kept, key=_urgency)[:self.max_rows]]

    def omitted(self) -> dict[str, int]:
        return {kind: max(0, n - self.max_rows) for kind, n in self.total.items()}


def _section(key: str, title: str, items: Sequence[DigestItem], labels: Mapping[str, str], phi_level: str,
             max_rows: int, omitted: int) -> DigestSection:
    ordered = sorted((i for i in items if i.kind == key), key=_urgency)
    shown = tuple(_row(item, labels, phi_level) for item in ordered[:max_rows])
    return DigestSection(key, title, shown, max(0, len(ordered) - max_rows) + omitted)


def _sections(items: Sequence[DigestItem], labels: Mapping[str, str], phi_level: str, max_rows: int,
              omitted: Mapping[str, int]) -> tuple[DigestSection, ...]:
    unknown = sorted(({item.kind for item in items} | set(omitted)) - _KINDS)
    if unknown:
        raise ValueError(f"unknown digest item kind {', '.join(unknown)}; expected one of "
                         f"{', '.join(key for key, _ in DIGEST_SECTIONS)}")
    return tuple(_section(key, title, items, labels, phi_level, max_rows, omitted.get(key, 0))
                 for key, title in DIGEST_SECTIONS)


def _split(sections: tuple[DigestSection, ...]) -> tuple[tuple[DigestSection, ...], DigestSection]:
    """The seven worklist sections, and the plan changes apart."""
    plan = next(section for section in sections if section.key == PLAN_CHANGED[0])
    return tuple(section for section in sections if section is not plan), plan


def count_rows(sections: Iterable[DigestSection]) -> WorklistTotals:
    """The rows of a digest counted by section (under_surveillance stays 0)."""
    counts = {section.key: section.count for section in sections}
    return WorklistTotals(**counts)


def summary_for(counts: WorklistTotals) -> str:
    """'3 overdue, 5 due, 2 high-risk', plus ', 1 to review, 1 to confirm' when there are any."""
    parts = [f"{counts.escalated + counts.overdue} overdue", f"{counts.due + counts.due_soon} due",
             f"{counts.high_risk} high-risk"]
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
    items: Sequence[DigestItem],
    totals: WorklistTotals,
    rulesets: Sequence[RuleSet],
    worklist_url: str,
    phi_level: str = "minimal",
    cc_attendings: bool = False,
    cc_lead: bool = False,
    max_rows: int = MAX_ROWS_PER_SECTION,
    omitted: Mapping[str, int] | None = None,
) -> Digest:
    """The digest for one team and run from its new events.

    `totals` is the team's whole open worklist (computed by the caller); `rulesets` are the rule
    sets the rows were evaluated under, for the footer; `cc_attendings` and `cc_lead` say who is
    copied, for the note explaining why each recipient gets the email. Each section shows its
    `max_rows` most urgent rows; the rest are counted and left to the worklist, so a first run on
    a large cohort still makes an email a person can read and a mail server will accept.
    `omitted` counts, per section, items the caller already left out (see UrgentSample).
    """
    if phi_level not in PHI_LEVELS:
        raise ValueError(f"phi_level must be minimal or full, got {phi_level!r} (see NETFLOW_PHI_LEVEL)")
    used = {rs.id: rs for rs in rulesets}.values()
    labels = {rs.id: _guideline_label(rs) for rs in used}
    sections, plan_changes = _split(_sections(items, labels, phi_level, max_rows, omitted or {}))
    counts = count_rows((*sections, plan_changes))
    name = clean_text(team_name) or clean_text(team_key)
    return Digest(
        team_key=team_key,
        team_name=name,
        as_of=as_of,
        run_id=clean_text(run_id),
        sections=sections,
        plan_changes=plan_changes,
        totals=totals,
        counts=counts,
        summary=summary_for(counts),
        subject=subject_for(name, counts, as_of),
        recipients_note=_recipients_note(name, cc_attendings, cc_lead),
        sources=_unique(source for rs in used for source in rs.sources.values()),
        ruleset_versions=_unique(f"{labels[rs.id]}: {rs.version}" for rs in used),
        worklist_url=check_worklist_url(worklist_url),
        phi_level=phi_level,
    )
