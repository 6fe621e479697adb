"""The digest view model: sections, order, names, links, marks, subject and footer (reminders.md section 2)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from netflow.domain.digest import (
    DIGEST_SECTIONS,
    Digest,
    DigestItem,
    DigestSection,
    WorklistTotals,
    build_digest,
    clean_text,
    display_name,
    select_items,
    subject_for,
)
from netflow.domain.record import FieldError
from netflow.domain.steward import StewardItem, build_steward_digest
from tests.support.digests import AS_OF, CONSENSUS, NCCN, TOTALS, WORKLIST_URL, item, ref_of, sample_digest

HOSTILE = "<b>O'Brien & Sons</b>\r\nBcc: victim@example.org"


def digest_of(items: list[DigestItem], **overrides: Any) -> Digest:
    arguments: dict[str, Any] = dict(
        team_key="gi-onc-east", team_name="GI Oncology East", as_of=AS_OF, run_id="run-1", items=items,
        totals=TOTALS, rulesets=[NCCN], worklist_url=WORKLIST_URL, phi_level="minimal",
        cc_attendings=False, cc_lead=False)
    arguments.update(overrides)
    return build_digest(**arguments)


def events_digest(items: list[DigestItem], **overrides: Any) -> Digest:
    """The digest of these new events, selected as a run selects them (plan changes, marks, a year overdue)."""
    max_rows = overrides.pop("max_rows", 20)
    return digest_of([], selection=select_items(items, max_rows), max_rows=max_rows, **overrides)


def section(digest: Digest, key: str) -> DigestSection:
    return next(s for s in digest.sections if s.key == key)


def mrns(digest: Digest) -> dict[str, list[str]]:
    return {s.key: [r.mrn for r in s.rows] for s in digest.shown}


def test_all_ten_sections_come_in_order_and_only_those_with_rows_are_shown() -> None:
    digest = sample_digest(items=[item("due", "M1", status="due")])

    assert [(s.key, s.title) for s in digest.sections] == list(DIGEST_SECTIONS)
    assert [s.key for s in digest.sections] == [
        "escalated", "booking_lapsed", "overdue", "overdue_year", "due", "due_soon", "plan_changed", "high_risk",
        "needs_review", "not_indicated"]
    assert [s.key for s in digest.shown] == ["due"]


def test_each_event_lands_in_the_section_of_its_kind() -> None:
    digest = sample_digest()

    assert mrns(digest) == {
        "escalated": ["MRN-1001"],
        "booking_lapsed": ["MRN-1010"],
        "overdue": ["MRN-1003"],
        "overdue_year": ["MRN-1002"],
        "due": ["MRN-1004"],
        "due_soon": ["MRN-1005"],
        "high_risk": ["MRN-1007"],
        "needs_review": ["MRN-1008"],
        "not_indicated": ["MRN-1009"],
    }
    assert digest.row_count == 9


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

    rows = section(digest_of(items), "overdue").rows

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
    minimal = section(sample_digest("minimal"), "escalated").rows[0]
    full = section(sample_digest("full"), "escalated").rows[0]

    assert (minimal.mrn, minimal.display_name) == ("MRN-1001", "A. M. O.")
    assert (full.mrn, full.display_name) == ("MRN-1001", "Ana María O'Brien-Smith")


def test_an_unknown_phi_level_is_refused_with_the_setting_to_fix() -> None:
    with pytest.raises(ValueError, match="NETFLOW_PHI_LEVEL"):
        display_name("Ana", "everything")
    with pytest.raises(ValueError, match="NETFLOW_PHI_LEVEL"):
        sample_digest("partial")


def test_row_cells_are_in_words() -> None:
    row = section(sample_digest(), "escalated").rows[0]

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
    row = section(digest_of([item("due", "M1", **fields)], rulesets=[NCCN, CONSENSUS]), "due").rows[0]

    assert (row.risk, row.modality, row.rule, row.window) == (risk, modality, rule, window)


def test_subject_counts_overdue_due_and_high_risk_from_the_new_rows() -> None:
    assert sample_digest().subject == (
        "NET surveillance - GI Oncology East: 3 overdue, 2 due, 2 high-risk, 1 booked scan not on record, "
        "1 to review, 1 to confirm (2026-12-01)")
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


def test_a_new_high_risk_flag_of_a_listed_patient_marks_that_row_instead_of_a_second_row() -> None:
    digest = events_digest([item("overdue", "M1", status="overdue", days_overdue=40, escalation_level=1),
                            item("high_risk", "M1", risk_tier="high", risk_reasons=["grade_3"]),
                            item("due", "M2", status="due")])

    assert mrns(digest) == {"overdue": ["M1"], "due": ["M2"]}
    assert section(digest, "overdue").rows[0].marks == ("New high-risk flag",)
    assert section(digest, "due").rows[0].marks == ()
    assert digest.counts.high_risk == 1 and digest.subject.endswith(": 1 overdue, 1 due, 1 high-risk (2026-12-01)")


def test_a_high_risk_patient_with_no_other_row_keeps_a_row_in_the_high_risk_section() -> None:
    digest = events_digest([item("high_risk", "M3", risk_tier="high", risk_reasons=["margin_r1"])])

    assert mrns(digest) == {"high_risk": ["M3"]}
    assert section(digest, "high_risk").rows[0].marks == ()


@pytest.mark.parametrize(("kind", "days", "expected"), [
    pytest.param("escalated", 364, "escalated", id="escalated-364-days"),
    pytest.param("escalated", 365, "overdue_year", id="escalated-365-days"),
    pytest.param("overdue", 400, "overdue_year", id="overdue-400-days"),
    pytest.param("due", 0, "due", id="due-stays"),
])
def test_a_patient_overdue_a_year_or_more_is_in_a_section_of_its_own(kind: str, days: int, expected: str) -> None:
    digest = events_digest([item(kind, "M1", status="overdue", days_overdue=days, escalation_level=2)])

    assert mrns(digest) == {expected: ["M1"]}
    assert section(digest, "overdue_year").note == "Check whether imaging was done elsewhere or the patient moved."
    assert digest.counts.escalated + digest.counts.overdue + digest.counts.overdue_year == (kind != "due")


def test_a_changed_plan_is_the_patients_only_row() -> None:
    digest = events_digest([item("escalated", "M1", days_overdue=120, escalation_level=2),
                            item("plan_changed", "M1", days_overdue=120, escalation_level=2),
                            item("high_risk", "M1", risk_tier="high")])

    assert mrns(digest) == {"plan_changed": ["M1"]}
    assert section(digest, "plan_changed").rows[0].marks == ("New high-risk flag",)


@pytest.mark.parametrize(("payload", "words"), [
    pytest.param({"booking": {"booked_date": "2027-01-10", "booked_by": "jdoe"}}, "Booked for 2027-01-10 by jdoe",
                 id="nested-booking"),
    pytest.param({"follow_up": {"date": "2027-01-10", "user": "jdoe"}}, "Booked for 2027-01-10 by jdoe",
                 id="nested-follow-up"),
    pytest.param({"booked_date": "2027-01-10"}, "Booked for 2027-01-10", id="top-level-date-only"),
    pytest.param({"booked_by": "a\r\nBcc: x@example.org"}, "Booked by a Bcc: x@example.org", id="hostile-user"),
    pytest.param({"booking": "garbage", "booked_for": ["2027"]}, "Booked (date not recorded)", id="malformed"),
    pytest.param({}, "Booked (date not recorded)", id="nothing"),
])
def test_a_lapsed_booking_says_when_and_by_whom_whatever_the_payload_holds(payload: dict[str, Any],
                                                                          words: str) -> None:
    digest = events_digest([item("booking_lapsed", "M1", status="due", **payload)])

    assert section(digest, "booking_lapsed").rows[0].booking == words
    assert [s.key for s in digest.shown] == ["booking_lapsed"]
    assert "1 booked scan not on record" in digest.subject


def test_each_section_links_to_the_teams_worklist_filtered_to_it() -> None:
    digest = sample_digest()
    team = f"{WORKLIST_URL}?team=gi-onc-east"

    assert {s.key: s.url for s in digest.shown} == {
        "escalated": f"{team}&status=escalated",
        "booking_lapsed": f"{team}&follow_up=scan_booked",
        "overdue": f"{team}&status=overdue",
        "overdue_year": f"{team}&status=overdue&overdue_min_days=365",
        "due": f"{team}&status=due",
        "due_soon": f"{team}&status=due_soon",
        "high_risk": f"{team}&risk=high",
        "needs_review": f"{team}&status=needs_review",
        "not_indicated": f"{team}&status=not_indicated",
    }
    assert digest.team_url == team


def test_links_quote_the_team_key_and_add_the_missing_slash() -> None:
    digest = digest_of([item("due", "M1")], team_key="gi onc&east", worklist_url="https://n.example/netflow")

    assert section(digest, "due").url == "https://n.example/netflow/?team=gi%20onc%26east&status=due"
    assert section(digest, "due").rows[0].url == f"https://n.example/netflow/patients/{ref_of('M1')}"


def test_each_row_links_to_the_patients_page_by_reference_never_by_mrn() -> None:
    digest = events_digest([item("due", "MRN-77", status="due"), item("due", "MRN-78", status="due", ref=False)])

    rows = {r.mrn: r.url for r in section(digest, "due").rows}
    assert rows == {"MRN-77": f"{WORKLIST_URL}patients/{ref_of('MRN-77')}", "MRN-78": ""}
    assert all("MRN" not in s.url for s in digest.sections)


def overdue_items(n: int) -> list[DigestItem]:
    return [item("overdue", f"M{i:03d}", status="overdue", days_overdue=30 + i, escalation_level=1)
            for i in range(n)]


def test_a_first_digest_above_the_cap_lists_no_row_and_keeps_every_count() -> None:
    digest = events_digest([*overdue_items(4), item("due", "D1", status="due")], max_rows=3, first=True)

    assert digest.backlog
    assert [(s.key, s.count, s.rows) for s in digest.shown] == [("overdue", 4, ()), ("due", 1, ())]
    assert digest.row_count == 5 and digest.subject.endswith(": 4 overdue, 1 due, 0 high-risk (2026-12-01)")


def test_a_small_first_digest_lists_its_rows() -> None:
    digest = events_digest(overdue_items(3), max_rows=3, first=True)

    assert not digest.backlog
    assert len(section(digest, "overdue").rows) == 3


def test_a_section_over_its_cap_lists_the_most_urgent_and_counts_the_rest() -> None:
    digest = events_digest(overdue_items(5), max_rows=2)

    overdue = section(digest, "overdue")
    assert ([r.mrn for r in overdue.rows], overdue.more) == (["M004", "M003"], 3)
    assert overdue.url.endswith("?team=gi-onc-east&status=overdue")


def test_both_parts_open_with_each_sections_count_and_link_and_show_marks_bookings_and_notes() -> None:
    from markupsafe import escape

    from netflow.adapters.rendering import render_digest

    digest = sample_digest()
    text, html = render_digest(digest)

    summary = text.split("IN THIS DIGEST", 1)[1].split("ESCALATED (OVERDUE", 1)[0]
    for s in digest.shown:
        assert f"   {s.count}  {s.title}\n        {s.url}\n" in summary
        assert f'href="{escape(s.url)}"' in html
    for words in ("New high-risk flag", "Booked for 2026-11-16 by jdoe",
                  "Check whether imaging was done elsewhere or the patient moved."):
        assert words in text and str(escape(words)) in html
    for row in (r for s in digest.shown for r in s.rows):
        assert f"  Open          {row.url}\n" in text and f'href="{row.url}"' in html


def test_a_backlog_digest_says_so_in_both_parts_and_lists_no_patient() -> None:
    from netflow.adapters.rendering import render_digest

    digest = events_digest(overdue_items(4), max_rows=3, first=True)
    text, html = render_digest(digest)

    assert "This is the first digest for GI Oncology East: it holds the team's whole backlog, 4 new entries" in text
    assert "it holds the team&#39;s whole backlog, <b>4</b> new entries" in html
    assert "M00" not in text and "M00" not in html and "patients/" not in text + html
    assert f"{WORKLIST_URL}?team=gi-onc-east&status=overdue" in text


def test_a_long_digest_lists_at_most_forty_rows_most_urgent_sections_first_and_stays_under_200_kb() -> None:
    from netflow.adapters.rendering import render_digest

    long_name = "Maximiliana Konstantinopoulou-Wolfeschlegelsteinhausen"
    explanation = "Pancreatic NET, high risk (2 positive nodes, Ki-67 12%): " + "why, in words; " * 20
    items = [item(kind, f"MRN-{kind}-{n:03d}", long_name, status="due", risk_tier="high",
                  risk_reasons=["nodes_positive", "ki67_gt_5", "grade_3"], window_open="2026-01-01",
                  window_close="2026-07-01", days_overdue=n, escalation_level=1, recommended_modality="CT_or_MRI",
                  rule_id="nccn/pancreas/high", booked_for="2026-11-16", booked_by="jdoe", explanation=explanation)
             for kind in ("escalated", "booking_lapsed", "overdue", "due", "due_soon", "plan_changed", "needs_review",
                          "not_indicated")
             for n in range(30)]

    digest = events_digest(items, phi_level="full")
    text, html = render_digest(digest)

    assert [len(s.rows) for s in digest.shown] == [20, 20, 0, 0, 0, 0, 0, 0]
    assert all(s.count == 30 for s in digest.shown)
    assert len(text.encode()) < 200 * 1024 and len(html.encode()) < 200 * 1024
