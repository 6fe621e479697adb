"""The digest view model: sections, order, names, subject and footer (reminders.md section 2)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from netflow.domain.digest import (
    SECTIONS,
    Digest,
    DigestItem,
    WorklistTotals,
    build_digest,
    clean_text,
    display_name,
    subject_for,
)
from netflow.domain.record import FieldError
from netflow.domain.steward import StewardItem, build_steward_digest
from tests.support.digests import AS_OF, CONSENSUS, NCCN, TOTALS, WORKLIST_URL, item, sample_digest

HOSTILE = "<b>O'Brien & Sons</b>\r\nBcc: victim@example.org"


def digest_of(items: list[DigestItem], **overrides: Any) -> Digest:
    arguments: dict[str, Any] = dict(
        team_key="gi-onc-east", team_name="GI Oncology East", as_of=AS_OF, run_id="run-1", items=items,
        totals=TOTALS, rulesets=[NCCN], worklist_url=WORKLIST_URL, phi_level="minimal",
        cc_attendings=False, cc_lead=False)
    arguments.update(overrides)
    return build_digest(**arguments)


def test_all_seven_sections_come_in_spec_order_even_when_empty() -> None:
    digest = sample_digest(items=[item("due", "M1", status="due")])

    assert [(s.key, s.title) for s in digest.sections] == list(SECTIONS)
    assert [s.key for s in digest.sections] == [
        "escalated", "overdue", "due", "due_soon", "high_risk", "needs_review", "not_indicated"]
    assert [s.count for s in digest.sections] == [0, 0, 1, 0, 0, 0, 0]


def test_each_event_lands_in_the_section_of_its_kind() -> None:
    digest = sample_digest()

    assert {s.key: [r.mrn for r in s.rows] for s in digest.sections} == {
        "escalated": ["MRN-1002", "MRN-1001"],
        "overdue": ["MRN-1003"],
        "due": ["MRN-1004"],
        "due_soon": ["MRN-1005"],
        "high_risk": ["MRN-1007"],
        "needs_review": ["MRN-1008"],
        "not_indicated": ["MRN-1009"],
    }
    assert digest.row_count == 8


def test_rows_are_sorted_by_urgency_then_due_date_then_mrn() -> None:
    items = [
        item("overdue", "M-close-late", window_open="2026-01-01", window_close="2026-06-01",
             days_overdue=40, escalation_level=1),
        item("overdue", "M-no-window", days_overdue=40, escalation_level=1),
        item("overdue", "M-level-2", window_open="2026-03-01", window_close="2026-03-01",
             days_overdue=95, escalation_level=2),
        item("overdue", "M-more-days", window_open="2026-05-01", window_close="2026-05-01",
             days_overdue=80, escalation_level=1),
        item("overdue", "M-b-same", window_open="2026-01-01", window_close="2026-05-01",
             days_overdue=40, escalation_level=1),
        item("overdue", "M-a-same", window_open="2026-01-01", window_close="2026-05-01",
             days_overdue=40, escalation_level=1),
        item("overdue", "M-open-later", window_open="2026-02-01", window_close="2026-05-01",
             days_overdue=40, escalation_level=1),
    ]

    rows = digest_of(items).sections[1].rows

    assert [r.mrn for r in rows] == [
        "M-level-2", "M-more-days", "M-a-same", "M-b-same", "M-open-later", "M-close-late", "M-no-window"]


@pytest.mark.parametrize(("name", "initials"), [
    pytest.param("Ana María O'Brien-Smith", "A. M. O.", id="hyphen-and-apostrophe-give-one-initial"),
    pytest.param("Ludwig van Beethoven", "L. B.", id="lower-case-particles-skipped"),
    pytest.param("ana obrien", "A. O.", id="all-lower-case-still-gives-initials"),
    pytest.param("Émile  Zola", "É. Z.", id="non-ascii-kept"),
    pytest.param("Smith, John", "S. J.", id="recorded-order-kept"),
    pytest.param("<script>alert(1)</script>", "S.", id="markup-gives-letters-only"),
    pytest.param(None, "—", id="missing"),
    pytest.param("  ", "—", id="blank"),
    pytest.param("-- .", "—", id="no-letters"),
])
def test_minimal_phi_level_shows_initials(name: str | None, initials: str) -> None:
    assert display_name(name, "minimal") == initials


def test_full_phi_level_shows_the_name_on_one_line() -> None:
    assert display_name("Ana María\nO'Brien-Smith", "full") == "Ana María O'Brien-Smith"
    assert display_name(None, "full") == "—"


def test_rows_show_initials_or_full_names_by_phi_level() -> None:
    minimal = sample_digest("minimal").sections[0].rows[1]
    full = sample_digest("full").sections[0].rows[1]

    assert (minimal.mrn, minimal.display_name) == ("MRN-1001", "A. M. O.")
    assert (full.mrn, full.display_name) == ("MRN-1001", "Ana María O'Brien-Smith")


def test_an_unknown_phi_level_is_refused_with_the_setting_to_fix() -> None:
    with pytest.raises(ValueError, match="NETFLOW_PHI_LEVEL"):
        display_name("Ana", "everything")
    with pytest.raises(ValueError, match="NETFLOW_PHI_LEVEL"):
        sample_digest("partial")


def test_row_cells_are_in_words() -> None:
    row = sample_digest().sections[0].rows[1]

    assert row.status == "Overdue, escalated"
    assert row.window == "2025-11-20 – 2025-11-20"
    assert row.days_overdue == 346
    assert row.risk == "High: positive nodes, Ki-67 above 5%"
    assert row.modality == "CT or MRI"
    assert row.rule == "NCCN · nccn/pancreas/high"
    assert row.explanation.startswith("Pancreatic NET, high risk (2 positive nodes")


@pytest.mark.parametrize(("fields", "risk", "modality", "rule", "window"), [
    pytest.param({"risk_tier": "standard", "recommended_modality": "MRI", "rule_id": "nccn/pancreas/standard"},
                 "Standard", "MRI", "NCCN · nccn/pancreas/standard", "", id="standard-mri"),
    pytest.param({"risk_tier": "low", "guideline": "consensus2018", "rule_id": "consensus2018/all/low"},
                 "Low", "", "CommNETS/NANETS consensus · consensus2018/all/low", "", id="consensus-low"),
    pytest.param({"risk_tier": None, "guideline": None}, "", "", "", "", id="nothing-known"),
    pytest.param({"risk_tier": "high", "risk_reasons": ["nodes_unknown", "ki67_unknown"],
                  "window_open": date(2027, 1, 2), "window_close": date(2027, 7, 2)},
                 "High: nodal status unknown, Ki-67 not recorded", "", "NCCN", "2027-01-02 – 2027-07-02",
                 id="dates-as-dates"),
    pytest.param({"guideline": "local-2027", "rule_id": "local-2027/all/standard"},
                 "Standard", "", "local-2027 · local-2027/all/standard", "", id="guideline-not-passed"),
])
def test_risk_modality_rule_and_window_words(
    fields: dict[str, Any], risk: str, modality: str, rule: str, window: str
) -> None:
    row = digest_of([item("due", "M1", **fields)], rulesets=[NCCN, CONSENSUS]).sections[2].rows[0]

    assert (row.risk, row.modality, row.rule, row.window) == (risk, modality, rule, window)


def test_subject_counts_overdue_due_and_high_risk_from_the_new_rows() -> None:
    assert sample_digest().subject == (
        "NET surveillance - GI Oncology East: 3 overdue, 2 due, 1 high-risk, 1 to review, 1 to confirm "
        "(2026-12-01)")
    assert subject_for("GI Oncology East", WorklistTotals(escalated=1, overdue=2, due=4, due_soon=1,
                                                          high_risk=2), date(2026, 12, 1)) == (
        "NET surveillance - GI Oncology East: 3 overdue, 5 due, 2 high-risk (2026-12-01)")


def test_subject_holds_no_patient_data_even_for_hostile_names() -> None:
    items = [item("overdue", "MRN-7", HOSTILE, days_overdue=3, escalation_level=1),
             item("needs_review", "MRN-8", "Ana María O'Brien-Smith", status="needs_review")]

    for phi_level in ("minimal", "full"):
        subject = digest_of(items, phi_level=phi_level).subject

        assert "MRN" not in subject
        assert "O'Brien" not in subject and "Ana" not in subject and "<" not in subject
        assert "\r" not in subject and "\n" not in subject


def test_subject_drops_line_breaks_and_control_characters_from_the_team_name() -> None:
    subject = subject_for("GI Onc\r\nBcc: x@example.org\x00\u2028East", WorklistTotals(), AS_OF)

    assert subject == "NET surveillance - GI Onc Bcc: x@example.org East: 0 overdue, 0 due, 0 high-risk (2026-12-01)"
    assert all(ch.isprintable() for ch in subject)


def test_free_text_is_cleaned_to_one_line_but_keeps_markup_for_the_renderer() -> None:
    assert clean_text("  <b>A\r\n\tB</b>\u202e & C\x07 ") == "<b>A B</b> & C"
    assert clean_text(None) == ""


def test_the_footer_lists_each_source_once_and_every_rule_set_version() -> None:
    digest = sample_digest()

    assert len(digest.sources) == 3
    assert digest.sources[0].startswith("Zhang JY, Kunz PL.")
    assert digest.ruleset_versions == (
        "NCCN: 2022 (summarised by Zhang & Kunz, J Oncol Pract 2022); netflow rules v1",
        "CommNETS/NANETS consensus: 2018 (Singh et al., JAMA Oncol 2018); netflow rules v1",
    )


@pytest.mark.parametrize(("cc_attendings", "cc_lead", "mentions"), [
    pytest.param(False, False, [], id="navigators-only"),
    pytest.param(True, False, ["attending physicians"], id="attendings-copied"),
    pytest.param(True, True, ["attending physicians", "program lead"], id="lead-copied"),
])
def test_the_note_says_why_each_recipient_gets_the_email(
    cc_attendings: bool, cc_lead: bool, mentions: list[str]
) -> None:
    note = digest_of([], cc_attendings=cc_attendings, cc_lead=cc_lead).recipients_note

    assert note.startswith("Sent to the nurse navigators of GI Oncology East")
    for who in ("attending physicians", "program lead"):
        assert (who in note) == (who in mentions)


def test_an_unknown_event_kind_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="closed"):
        digest_of([item("closed", "M1")])


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://x", "https://a b", ""])
def test_the_worklist_link_must_be_an_http_address(url: str) -> None:
    with pytest.raises(ValueError, match="NETFLOW_WORKLIST_URL"):
        digest_of([], worklist_url=url)


def test_the_steward_digest_lists_records_by_file_then_line_with_every_error() -> None:
    items = [
        StewardItem("b.jsonl", 3, "MRN-9", [{"field": "birth_date", "message": "is not a date"}]),
        StewardItem("a.jsonl", 12, None, [FieldError("patient_id", "is missing"),
                                          {"field": "grade", "message": "must be 1, 2 or 3\r\nBcc: x"}]),
        StewardItem("a.jsonl", 2, "MRN-1", []),
    ]

    digest = build_steward_digest(as_of=AS_OF, run_id="run-1", items=items, worklist_url=WORKLIST_URL)

    assert [(r.source, r.line_no, r.record_key) for r in digest.rows] == [
        ("a.jsonl", "2", "MRN-1"), ("a.jsonl", "12", "—"), ("b.jsonl", "3", "MRN-9")]
    assert digest.rows[1].errors == (FieldError("patient_id", "is missing"),
                                     FieldError("grade", "must be 1, 2 or 3 Bcc: x"))
    assert digest.subject == "NET surveillance - data quality: 3 records quarantined (2026-12-01)"


def test_the_steward_subject_says_record_for_one() -> None:
    digest = build_steward_digest(as_of=AS_OF, run_id="r", worklist_url=WORKLIST_URL,
                                  items=[StewardItem("a.csv", None, None, [])])

    assert digest.subject == "NET surveillance - data quality: 1 record quarantined (2026-12-01)"


def test_a_section_shows_its_most_urgent_rows_and_counts_the_rest() -> None:
    from datetime import date

    from netflow.domain.digest import DigestItem, WorklistTotals, build_digest
    from netflow.guidelines import load_rulebook

    items = [DigestItem("overdue", f"MRN{i:04d}", None,
                        {"status": "overdue", "escalation_level": 1, "days_overdue": i, "window_open": "2026-01-01",
                         "window_close": "2026-01-01", "risk_tier": "standard", "risk_reasons": [],
                         "guideline": "nccn", "rule_id": "nccn/pancreas/standard", "explanation": "x"})
             for i in range(1, 8)]
    digest = build_digest(team_key="t", team_name="T", as_of=date(2026, 12, 1), run_id="r", items=items,
                          totals=WorklistTotals(), rulesets=[load_rulebook()["nccn"]],
                          worklist_url="https://w.example/", max_rows=3)

    overdue = next(s for s in digest.sections if s.key == "overdue")
    assert [r.mrn for r in overdue.rows] == ["MRN0007", "MRN0006", "MRN0005"]
    assert (overdue.more, overdue.count, digest.row_count) == (4, 7, 7)
    assert digest.subject.endswith(": 7 overdue, 0 due, 0 high-risk (2026-12-01)")


def test_an_urgent_sample_keeps_the_most_urgent_rows_of_a_long_stream_and_counts_the_rest() -> None:
    import random

    from netflow.domain.digest import DigestItem, UrgentSample

    days = list(range(1, 1001))
    random.Random(4).shuffle(days)
    sample = UrgentSample(max_rows=5)
    for d in days:
        sample.add(DigestItem("overdue", f"MRN{d:04d}", None, {"escalation_level": 1, "days_overdue": d}))
    sample.add(DigestItem("due", "MRN9999", None, {}))

    kept = sample.items()

    assert [i.patient_id for i in kept if i.kind == "overdue"] == [f"MRN{d:04d}" for d in (1000, 999, 998, 997, 996)]
    assert [i.patient_id for i in kept if i.kind == "due"] == ["MRN9999"]
    assert sample.omitted() == {"overdue": 995, "due": 0}
