"""Properties that hold for every input, checked with hypothesis."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from netflow.domain import evaluate
from netflow.domain.record import MODALITIES, PRIMARY_SITES, RECORD_FIELDS
from netflow.guidelines import load_rulebook

BOOK = load_rulebook()
AS_OF = date(2026, 12, 1)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children,
                                                                       max_size=4),
    max_leaves=20,
)
iso_dates = st.dates(date(1920, 1, 1), date(2030, 12, 31)).map(date.isoformat)
field_values = st.one_of(json_values, iso_dates, st.sampled_from(PRIMARY_SITES + MODALITIES))
record_like = st.dictionaries(st.sampled_from(RECORD_FIELDS), field_values)


@given(st.one_of(json_values, record_like))
def test_any_json_value_gives_an_evaluation_and_never_an_exception(raw: Any) -> None:
    result = evaluate(raw, AS_OF, BOOK)
    out = result.to_dict()
    assert out["status"] in {"invalid", "inactive", "needs_review", "not_indicated", "completed",
                             "not_due", "due_soon", "due", "overdue"}
    json.dumps(out)  # always serialisable


@st.composite
def valid_records(draw: st.DrawFn) -> dict[str, Any]:
    resection = draw(st.dates(date(2010, 1, 1), date(2026, 11, 30)))
    birth = resection - timedelta(days=draw(st.integers(20 * 365, 90 * 365)))
    scans = draw(st.lists(st.tuples(st.integers(1, 6000), st.sampled_from(MODALITIES)), max_size=6))
    examined = draw(st.none() | st.integers(0, 30))
    positive = draw(st.none() | st.integers(0, examined if examined is not None else 30))
    return {
        "patient_id": "H1",
        "birth_date": birth.isoformat(),
        "care_team": "t",
        "primary_site": draw(st.sampled_from(PRIMARY_SITES)),
        "grade": draw(st.none() | st.sampled_from([1, 2, 3])),
        "ki67_percent": draw(st.none() | st.floats(0, 100)),
        "tumor_size_mm": draw(st.none() | st.floats(0.5, 120)),
        "nodes_positive": positive,
        "nodes_examined": examined,
        "margin": draw(st.none() | st.sampled_from(["R0", "R1", "R2"])),
        "resection_date": resection.isoformat(),
        "imaging": [{"date": (resection + timedelta(days=d)).isoformat(), "modality": m} for d, m in scans],
        "guideline": draw(st.none() | st.sampled_from(["nccn", "consensus2018"])),
    }


@given(valid_records(), st.dates(date(2010, 1, 1), date(2040, 1, 1)))
def test_the_same_input_gives_the_same_output(raw: dict[str, Any], as_of: date) -> None:
    assert evaluate(raw, as_of, BOOK).to_dict() == evaluate(json.loads(json.dumps(raw)), as_of, BOOK).to_dict()


@settings(max_examples=300)
@given(valid_records(), st.dates(date(2010, 1, 1), date(2040, 1, 1)), st.integers(0, 4000),
       st.sampled_from(["CT", "MRI"]))
def test_a_newer_qualifying_scan_never_increases_days_overdue(
    raw: dict[str, Any], as_of: date, offset: int, modality: str
) -> None:
    before = evaluate(raw, as_of, BOOK)
    newest = date.fromisoformat(raw["resection_date"]) + timedelta(days=1)
    if before.last_scan is not None:
        newest = before.last_scan + timedelta(days=1)
    new_scan = min(newest + timedelta(days=offset), as_of)
    if new_scan < newest:
        return  # no room for a newer scan on or before as_of
    after = evaluate({**raw, "imaging": [*raw["imaging"], {"date": new_scan.isoformat(),
                                                            "modality": modality}]}, as_of, BOOK)
    assert after.days_overdue <= before.days_overdue


@settings(max_examples=300)
@given(valid_records(), st.dates(date(2010, 1, 1), date(2040, 1, 1)), st.integers(1, 2000))
def test_a_later_as_of_never_decreases_days_overdue_within_the_same_window(
    raw: dict[str, Any], as_of: date, later_by: int
) -> None:
    first = evaluate(raw, as_of, BOOK)
    later = evaluate(raw, as_of + timedelta(days=later_by), BOOK)
    if first.window_open is not None and first.window_open == later.window_open:
        assert later.days_overdue >= first.days_overdue
