"""Which rule set applies to a stored patient, decided in one place (`guideline_for`)."""

from __future__ import annotations

from datetime import date

import pytest

from netflow.domain.engine import evaluate, evaluate_stored
from netflow.domain.record import parse_record
from netflow.domain.rules import guideline_for
from netflow.guidelines import load_rulebook
from tests.support.records import record

BOOK = load_rulebook()
AS_OF = date(2026, 12, 1)


@pytest.mark.parametrize(("own", "team", "expected"), [
    ("consensus2018", "nccn", "consensus2018"),
    (None, "consensus2018", "consensus2018"),
    (None, None, "nccn"),
], ids=["the record's own wins", "else the care team's", "else the book's default"])
def test_the_guideline_is_the_records_else_the_teams_else_the_default(own: str | None, team: str | None,
                                                                        expected: str) -> None:
    assert guideline_for(own, team, BOOK) == expected


def test_the_default_is_the_books_default() -> None:
    assert guideline_for(None, None, BOOK.with_default("consensus2018")) == "consensus2018"


def test_a_stored_record_naming_a_removed_rule_set_is_invalid_and_names_the_field() -> None:
    stored, errors = parse_record(record(guideline="consensus2018"), BOOK.ids)
    assert stored is not None and errors == []
    only_nccn = load_rulebook().with_default("nccn")
    trimmed = type(only_nccn)({"nccn": only_nccn["nccn"]}, "nccn")

    evaluation = evaluate_stored(stored, AS_OF, trimmed)

    assert evaluation.status == "invalid"
    assert [e.field for e in evaluation.errors] == ["guideline"]


def test_a_care_team_guideline_the_book_does_not_have_makes_the_record_invalid_not_a_crash() -> None:
    evaluation = evaluate(record(), AS_OF, BOOK, default_guideline="esmo-local")
    assert evaluation.status == "invalid" and [e.field for e in evaluation.errors] == ["guideline"]


def test_evaluate_and_evaluate_stored_agree_on_a_valid_record() -> None:
    stored, _ = parse_record(record(), BOOK.ids)
    assert stored is not None
    assert evaluate(record(), AS_OF, BOOK, "consensus2018") == evaluate_stored(stored, AS_OF, BOOK, "consensus2018")
