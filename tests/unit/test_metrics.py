"""The weekly report's numbers, words, chart and message, without a database or a server."""

from __future__ import annotations

import sys
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest

from netflow.adapters.charts import render
from netflow.domain.evaluation import Evaluation
from netflow.domain.metrics import (
    Closure,
    TeamMetrics,
    closure_period,
    iso_week,
    measure,
    steward_metrics,
    steward_report,
    team_report,
)
from netflow.domain.teams import CareTeam
from netflow.reports import ReportLetter, report_message_id, report_recipients

AS_OF = date(2026, 12, 7)
EAST = "gi-onc-east"
URL = "https://netflow.example.org/worklist"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ev(status: str, team: str = EAST, *, days: int = 0, level: int = 0, issues: tuple[str, ...] = ()) -> Evaluation:
    return Evaluation(patient_id="MRN-SECRET", as_of=AS_OF, status=status, days_overdue=days,
                      escalation_level=level, data_issues=issues, care_team=team)


def closure(scan: date, close: date | None = date(2026, 10, 1), team: str = EAST, grace: int = 30) -> Closure:
    return Closure(care_team=team, window_close=close, closed_by_scan=scan, grace_days=grace)


COHORT = [
    ev("not_due"), ev("not_due", issues=("ki67_missing",)),
    ev("due_soon"), ev("due"), ev("due"),
    ev("overdue", days=10, level=1), ev("overdue", days=40, level=1, issues=("ki67_missing", "grade_missing")),
    ev("overdue", days=95, level=2), ev("overdue", days=200, level=2),
    ev("needs_review", issues=("margin_missing",)), ev("not_indicated"),
    ev("inactive", issues=("ki67_missing",)), ev("completed"), ev("invalid"),
    ev("due", team="endo-north"),
]


def east() -> TeamMetrics:
    return measure(COHORT, [], AS_OF)[EAST]


def test_the_worklist_is_counted_by_status_with_escalated_apart_from_overdue() -> None:
    m = east()

    assert (m.patients, m.under_surveillance) == (14, 9)
    assert (m.count("not_due"), m.count("due_soon"), m.count("due_now"), m.due) == (2, 1, 2, 3)
    assert (m.overdue, m.escalated) == (2, 2)
    assert (m.needs_review, m.not_indicated, m.invalid) == (1, 1, 1)


def test_the_median_days_overdue_takes_overdue_and_escalated_patients() -> None:
    assert east().median_days_overdue == 67.5  # 10, 40, 95, 200
    assert measure([ev("overdue", days=7, level=1)], [], AS_OF)[EAST].median_days_overdue == 7
    assert measure([ev("due")], [], AS_OF)[EAST].median_days_overdue is None


def test_data_issues_count_followed_patients_once_each_and_by_code() -> None:
    m = east()

    assert m.with_data_issues == 3  # the inactive patient's missing Ki-67 needs no action
    assert m.data_issues == {"ki67_missing": 2, "grade_missing": 1, "margin_missing": 1}


def test_each_team_is_measured_on_its_own() -> None:
    metrics = measure(COHORT, [closure(date(2026, 12, 1), team="hpb-west")], AS_OF)

    assert list(metrics) == ["endo-north", EAST, "hpb-west"]
    assert (metrics["endo-north"].patients, metrics["endo-north"].due) == (1, 1)
    assert (metrics["hpb-west"].patients, metrics["hpb-west"].closed) == (0, 1)


@pytest.mark.parametrize(("scan", "counted"), [
    pytest.param(AS_OF, True, id="on the as-of date"),
    pytest.param(AS_OF - timedelta(days=89), True, id="the 90th day back"),
    pytest.param(AS_OF - timedelta(days=90), False, id="the 91st day back"),
    pytest.param(AS_OF + timedelta(days=1), False, id="after the as-of date"),
])
def test_closures_count_when_the_scan_falls_in_the_last_90_days(scan: date, counted: bool) -> None:
    metrics = measure([ev("not_due")], [closure(scan, close=scan)], AS_OF)

    assert metrics[EAST].closed == int(counted)
    assert closure_period(AS_OF) == (date(2026, 9, 9), AS_OF)


@pytest.mark.parametrize(("scan", "close", "grace", "on_time"), [
    pytest.param(date(2026, 10, 31), date(2026, 10, 1), 30, True, id="on the last day of the grace period"),
    pytest.param(date(2026, 11, 1), date(2026, 10, 1), 30, False, id="the day after"),
    pytest.param(date(2026, 9, 15), date(2026, 10, 1), 30, True, id="inside the window"),
    pytest.param(date(2026, 10, 20), date(2026, 10, 1), 14, False, id="the rule set's own grace period"),
    pytest.param(date(2026, 10, 2), None, 30, False, id="a window without a close date"),
])
def test_a_window_closed_on_time_was_scanned_before_it_became_overdue(
        scan: date, close: date | None, grace: int, on_time: bool) -> None:
    assert closure(scan, close, grace=grace).on_time is on_time


def test_the_on_time_rate_is_the_share_of_closed_windows() -> None:
    closures = [closure(date(2026, 10, 20)), closure(date(2026, 11, 20)), closure(date(2026, 10, 25)),
                closure(date(2026, 12, 1))]

    m = measure([], closures, AS_OF)[EAST]

    assert (m.closed, m.closed_on_time, m.on_time_rate) == (4, 2, 0.5)
    assert TeamMetrics(EAST, AS_OF).on_time_rate is None


def test_the_iso_week_keys_a_report() -> None:
    assert iso_week(date(2026, 12, 7)) == iso_week(date(2026, 12, 13)) == "2026W50"
    assert iso_week(date(2027, 1, 1)) == "2026W53"
    assert report_message_id(EAST, date(2026, 12, 9), "h.example") == "<report-gi-onc-east.2026W50@h.example>"
    assert report_message_id(None, AS_OF, "hospital.example") == "<steward-report.2026W50@hospital.example>"
    assert report_message_id("odd..key", AS_OF, "h.example").startswith("<report-t")


def report_of(m: TeamMetrics | None = None, leads: int = 1) -> Any:
    return team_report(m or east(), team_name="GI Oncology East", run_id="run-1", worklist_url=URL,
                       grace_days={30}, leads=leads)


def lines(report: Any) -> dict[str, str]:
    return {line.label: line.value for section in report.sections for line in section.lines}


def test_the_team_report_says_the_numbers_in_words_with_a_subject_free_of_patient_data() -> None:
    report = report_of()

    assert report.subject == "NET surveillance weekly report - GI Oncology East (2026-12-07)"
    assert report.summary == "9 patients under surveillance · 3 due · 2 overdue · 2 escalated"
    found = lines(report)
    assert (found["Under surveillance"], found["Due"], found["Overdue"], found["Escalated"]) == ("9", "3", "2", "2")
    assert found["Median days overdue"] == "67.5"
    assert found["Ki-67 not recorded"] == "2" and found["Patients with a data issue"] == "3"
    assert "Open quarantined records" not in found  # quarantine is the steward's, not a team's
    assert "MRN-SECRET" not in repr(report)


def test_the_report_says_why_a_navigator_gets_it_when_the_team_has_no_lead() -> None:
    assert "program lead of GI Oncology East" in report_of().recipients_note
    assert "program leads" in report_of(leads=2).recipients_note
    assert "nurse navigators (the team has no program lead" in report_of(leads=0).recipients_note
    lead = CareTeam(EAST, "East", ("nav@h.example",), ("dr@h.example",), ("lead@h.example", "lead@h.example"))
    assert report_recipients(lead) == ("lead@h.example",)
    assert report_recipients(CareTeam(EAST, "East", ("nav@h.example",))) == ("nav@h.example",)


def test_the_steward_gets_the_quarantine_and_every_teams_data_issues() -> None:
    metrics = measure([*COHORT, ev("not_due", team="endo-north", issues=("size_missing",))], [], AS_OF)

    numbers = steward_metrics(metrics, AS_OF, open_quarantine=4, unconfigured_teams=["zz-team"])
    report = steward_report(numbers, run_id="run-1", worklist_url=URL)

    assert (numbers.with_data_issues, numbers.invalid) == (4, 1)
    found = lines(report)
    assert found["Open quarantined records"] == "4" and found["Tumour size not recorded"] == "1"
    assert found["Teams without a usable configuration"] == "zz-team"
    assert report.subject == "NET surveillance weekly report - data quality (2026-12-07)"
    assert not steward_metrics({}, AS_OF, 0).anything


def test_the_chart_is_a_png_drawn_without_pyplot_and_without_mathtext() -> None:
    named = team_report(east(), team_name="Team $x^$ {and} $$", run_id="r", worklist_url=URL, grace_days={30})

    empty_chart = report_of(TeamMetrics(EAST, AS_OF)).chart
    assert named.chart is not None and empty_chart is not None

    png, empty = render(named.chart), render(empty_chart)

    assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000
    assert empty.startswith(PNG_SIGNATURE)
    assert "matplotlib.pyplot" not in sys.modules


def test_the_message_holds_text_and_html_with_the_chart_inline_by_content_id() -> None:
    letter = ReportLetter("team_report", EAST, "<report-gi-onc-east.2026W50@h.example>", "Subject",
                          ("lead@h.example",), "text", '<img src="cid:chart.x@h.example">', PNG_SIGNATURE + b"x",
                          "chart.x@h.example")

    raw = letter.message("netflow@h.example").as_bytes()

    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message.get_content_type() == "multipart/alternative"
    text, related = message.iter_parts()
    assert (text.get_content_type(), related.get_content_type()) == ("text/plain", "multipart/related")
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html" and image.get_content_type() == "image/png"
    assert image["Content-ID"] == "<chart.x@h.example>" and image.get_content_disposition() == "inline"
    assert image.get_content() == PNG_SIGNATURE + b"x"
    assert raw.count(b"MIME-Version") == 1
