"""Turn recorded events into one digest per care team, written to the outbox before any send.

Events and their digest are written in one transaction; events of a team without a usable
configuration wait (they stay unassigned) and are counted, never lost. What a digest shows is
selected in the database (`LedgerWriter.digest_batch`: the most urgent rows of each section and
the counts), so a first run over a large cohort reads and decodes only the rows it shows; the
events are then put in their digest with one UPDATE. A dry run records its events inside the
build's transaction, builds from them the same way, and rolls everything back.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from email.message import EmailMessage
from typing import Any

from netflow.adapters.database import Database, UnitOfWork
from netflow.adapters.mail import build_message, check_addresses, make_message_id, message_domain
from netflow.adapters.rendering import render_digest, render_steward
from netflow.config import Settings
from netflow.domain.digest import MAX_ROWS_PER_SECTION, Selection, WorklistTotals, build_digest
from netflow.domain.events import NewEvent
from netflow.domain.rules import RuleBook
from netflow.domain.steward import StewardItem, build_steward_digest
from netflow.domain.teams import CareTeam

__all__ = ["Letter", "BuildResult", "build_digests", "letter_message", "recipients"]

OVERDUE_KINDS = frozenset(("overdue", "escalated"))


@dataclass(frozen=True)
class Letter:
    """A rendered digest with its envelope, as written to the outbox (or to .eml on a dry run)."""

    kind: str
    team_key: str | None
    subject: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    body_text: str
    body_html: str
    through_event: int = 0  # a team digest holds the team's unassigned events up to this id


@dataclass
class BuildResult:
    digests: int = 0
    steward_digests: int = 0
    rows: int = 0
    waiting: dict[str, int] = field(default_factory=dict)  # team key -> events waiting for configuration
    letters: list[Letter] = field(default_factory=list)

    def as_counts(self) -> dict[str, Any]:
        return {"digests": self.digests, "steward_digests": self.steward_digests,
                "waiting_teams": dict(sorted(self.waiting.items()))}


def recipients(team: CareTeam, kinds: set[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """To the navigators; Cc the attendings on overdue rows, the leads on escalated rows."""
    to = tuple(dict.fromkeys(team.navigators))
    cc: list[str] = []
    if kinds & OVERDUE_KINDS:
        cc.extend(team.attendings)
    if "escalated" in kinds:
        cc.extend(team.leads)
    return to, tuple(a for a in dict.fromkeys(cc) if a not in to)


def _team_letter(team: CareTeam, selection: Selection, through: int, first: bool, totals: WorklistTotals,
                 book: RuleBook, config: Settings, as_of: date, run_id: str) -> Letter:
    items = [item for shown in selection.rows.values() for item in shown]
    kinds = {item.kind for item in items}
    to, cc = recipients(team, kinds)
    used = sorted({str(i.evaluation.get("guideline")) for i in items} & set(book.ids)) or [book.default]
    digest = build_digest(
        team_key=team.key, team_name=team.name, as_of=as_of, run_id=run_id, selection=selection, totals=totals,
        rulesets=[book[g] for g in used], worklist_url=config.worklist_url, phi_level=config.phi_level,
        cc_attendings=bool(kinds & OVERDUE_KINDS) and bool(team.attendings),
        cc_lead="escalated" in kinds and bool(team.leads), first=first,
    )
    text, html = render_digest(digest, templates_dir=config.templates_dir)
    return Letter("team_digest", team.key, digest.subject, to, cc, text, html, through)


def _steward_letter(tx: UnitOfWork, config: Settings, as_of: date, run_id: str) -> tuple[Letter, list[int]] | None:
    if not config.data_steward:
        return None
    rows = tx.patients.unreported_quarantine()
    if not rows:
        return None
    items = [StewardItem(r.source, r.line_no, r.record_key, r.errors) for r in rows]
    digest = build_steward_digest(as_of=as_of, run_id=run_id, items=items, worklist_url=config.worklist_url)
    text, html = render_steward(digest, templates_dir=config.templates_dir)
    letter = Letter("steward_digest", None, digest.subject, (config.data_steward,), (), text, html)
    return letter, [r.id for r in rows]


def letter_message(letter: Letter, config: Settings, as_of: date, number: int) -> EmailMessage:
    """A dry run's letter as the email it would be (`number` stands in for its outbox id)."""
    return build_message(sender=config.mail_from, to=letter.to, cc=letter.cc, subject=letter.subject,
                         text=letter.body_text, html=letter.body_html,
                         message_id=make_message_id(number, message_domain(config), as_of=as_of))


def _store(tx: UnitOfWork, letter: Letter, config: Settings, as_of: date, run_id: str) -> int:
    outbox_id = tx.outbox.create_outbox_message(
        kind=letter.kind, team_key=letter.team_key, run_id=run_id, as_of=as_of,
        message_id=f"<pending.{uuid.uuid4().hex}@netflow.local>", subject=letter.subject,
        sender=config.mail_from, to=letter.to, cc=letter.cc, body_text=letter.body_text,
        body_html=letter.body_html)
    tx.outbox.set_message_id(outbox_id, make_message_id(outbox_id, message_domain(config), as_of=as_of))
    return outbox_id


def _team_letters(tx: UnitOfWork, teams: Sequence[CareTeam], totals: Mapping[str, Mapping[str, int]],
                  book: RuleBook, config: Settings, as_of: date, run_id: str) -> tuple[list[Letter], int]:
    """Each team's letter from its unassigned events (selected in SQL), and how many rows they hold."""
    batches = tx.ledger.digest_batches([team.key for team in teams], MAX_ROWS_PER_SECTION)
    shown = {item.patient_id for batch in batches.values() for items in batch.selection.rows.values()
             for item in items}
    names, refs = tx.patients.names(shown), tx.patients.refs(shown)
    letters, rows = [], 0
    for team in teams:
        batch = batches[team.key]
        selection = replace(batch.selection, rows={
            key: tuple(replace(item, name=names.get(item.patient_id), ref=refs.get(item.patient_id))
                       for item in items)
            for key, items in batch.selection.rows.items()})
        letters.append(_team_letter(team, selection, batch.through, not tx.outbox.has_team_digest(team.key),
                                    WorklistTotals(**Counter(totals.get(team.key, {}))), book, config, as_of,
                                    run_id))
        rows += sum(selection.counts.values())
    return letters, rows


def build_digests(db: Database, config: Settings, book: RuleBook, as_of: date, run_id: str,
                  totals: Mapping[str, Mapping[str, int]], *, teams: frozenset[str] | None = None,
                  dry_run: bool = False, dry_events: Sequence[NewEvent] = (), steward_only: bool = False
                  ) -> BuildResult:
    """Build every team's digest from its unassigned events (and the steward's), into the outbox.

    On a dry run nothing is written: the letters are returned (with `dry_events`, the events the
    dry recording pass would have recorded, recorded here and rolled back with the rest) so they
    can be written as .eml files.
    """
    check_addresses(config)
    result = BuildResult()
    with db.transaction(lock="build") as tx:
        if dry_run and dry_events:
            tx.ledger.record_events(dry_events, as_of, run_id)
        directory = tx.patients.care_teams()
        waiting = {} if steward_only else tx.ledger.unassigned_counts(teams)
        ready = []
        for team_key in sorted(waiting):
            team = directory.get(team_key)
            if team is None or not team.navigators:
                result.waiting[team_key] = waiting[team_key]
            else:
                ready.append(team)
        letters, result.rows = _team_letters(tx, ready, totals, book, config, as_of, run_id)
        result.letters.extend(letters)
        result.digests = len(letters)
        steward = _steward_letter(tx, config, as_of, run_id)
        if steward is not None:
            result.letters.append(steward[0])
            result.steward_digests += 1
        if dry_run:
            tx.rollback()
            return result
        stored = {letter.team_key: _store(tx, letter, config, as_of, run_id) for letter in result.letters}
        # Every team's events up to the last one read go in its digest: one UPDATE for all teams.
        digests = {letter.team_key: stored[letter.team_key] for letter in result.letters
                   if letter.kind == "team_digest" and letter.team_key is not None}
        tx.ledger.attach_digest_events(digests, max((letter.through_event for letter in result.letters), default=0))
        if steward is not None:
            tx.patients.mark_quarantine_reported(steward[1])
    return result
