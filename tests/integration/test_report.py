"""`netflow report` on a real database and a real SMTP server (aiosmtpd): the weekly report leads receive."""

from __future__ import annotations

import email
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from netflow.adapters.database import Database
from netflow.adapters.db import make_engine
from netflow.adapters.tables import outbox
from netflow.config import Settings
from netflow.installation import load_book
from netflow.reports import team_metrics
from tests.support.cohort import HOSTILE_NAME, Cohort, make_cohort
from tests.support.records import record, scan
from tests.support.smtp import SmtpTestServer

WEEK_START = "2026-12-07"  # Monday of ISO week 2026W50
MRNS = [f"MRN000000{i}" for i in range(1, 8)]
NAMES = [HOSTILE_NAME, "O'Brien", "Ada Lovelace", "Grace Hopper", "Mary Somerville", "Emmy Noether",
         "Lise Meitner", "Rosalind Franklin", "Lovelace"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REPORT = "NET surveillance weekly report - "
SUBJECT = REPORT + "{} (2026-12-07)"


def close_two_windows(cohort: Cohort) -> None:
    """Digests on 2026-12-01, then two scans on 2026-12-02 recorded as closures on 2026-12-03:
    MRN0000002 (east) 62 days after its grace period ended, MRN0000007 (west) before its window opened."""
    assert cohort.netflow("remind", "--as-of", "2026-12-01") == 0
    cohort.import_records([
        record(patient_id="MRN0000002", name="Ada Lovelace", ki67_percent=None,
               imaging=[scan("2026-03-01"), scan("2026-12-02", "MRI")]),
        record(patient_id="MRN0000007", name="Rosalind Franklin", care_team="hpb-west", resection_date="2020-02-01",
               imaging=[scan("2025-12-20"), scan("2026-12-02")]),
    ])
    assert cohort.netflow("remind", "--as-of", "2026-12-03") == 0


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    made = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    close_two_windows(made)
    smtp_server.handler.messages.clear()  # keep only what the report sends
    return made


@pytest.fixture
def quick_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in PNG for the delivery tests (the real chart is checked by the inline-chart test and unit tests)."""
    monkeypatch.setattr("netflow.reports.letters.charts.render", lambda chart: PNG_SIGNATURE + b"stand-in")


def reports(server: SmtpTestServer) -> dict[str, EmailMessage]:
    found = {}
    for received in server.messages:
        subject = str(received.message["Subject"])
        if not subject.startswith(REPORT):
            continue  # a digest
        team = subject.removeprefix(REPORT).rsplit(" (", 1)[0]
        assert team not in found, f"two reports for {team}"
        found[team] = received.message
    return found


def expected_metrics() -> dict[str, dict[str, object]]:
    return {
        "gi-onc-east": {"patients": 3, "under_surveillance": 3, "not_due": 2, "due": 0, "overdue": 0,
                        "escalated": 1, "median_days_overdue": 171.0, "closed": 1, "closed_on_time": 0,
                        "with_data_issues": 1, "data_issues": {"ki67_missing": 1}, "needs_review": 0,
                        "not_indicated": 0},
        "endo-north": {"patients": 3, "under_surveillance": 1, "not_due": 0, "due": 1, "overdue": 0,
                       "escalated": 0, "median_days_overdue": None, "closed": 0, "closed_on_time": 0,
                       "with_data_issues": 0, "data_issues": {}, "needs_review": 1, "not_indicated": 1},
        "hpb-west": {"patients": 1, "under_surveillance": 1, "not_due": 1, "due": 0, "overdue": 0,
                     "escalated": 0, "median_days_overdue": None, "closed": 1, "closed_on_time": 1,
                     "with_data_issues": 0, "data_issues": {}, "needs_review": 0, "not_indicated": 0},
    }


def measured(url: str) -> dict[str, dict[str, object]]:
    engine = make_engine(url)
    try:
        metrics = team_metrics(Database(engine), load_book(Settings(database_url=url)), date(2026, 12, 7))
    finally:
        engine.dispose()
    wanted = expected_metrics()
    return {key: {k: m.as_counts()[k] for k in wanted[key]} for key, m in metrics.items()}


def test_team_metrics_on_a_fixed_cohort_give_the_expected_numbers(cohort: Cohort) -> None:
    # east: MRN1 escalated 171 days, MRN2 scanned (late) so not due, MRN3 not due; north: MRN4 due,
    # MRN5 review, MRN6 not indicated; west: MRN7 scanned before its window, on time.
    assert measured(cohort.url) == expected_metrics()


def test_each_lead_gets_one_report_with_the_chart_inline_and_no_patient_data(
        cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    assert cohort.netflow("report", "--as-of", WEEK_START) == 0

    found = reports(smtp_server)
    assert len(smtp_server.messages) == 3
    assert set(found) == {"GI Oncology East", "Endocrine Surgery North", "HPB Surgery West"}
    east = found["GI Oncology East"]
    assert str(east["Subject"]) == SUBJECT.format("GI Oncology East")
    assert str(east["To"]) == "lead.east@hospital.example" and east["Cc"] is None
    assert east["Message-ID"] == "<report-gi-onc-east.2026W50@hospital.example>"
    assert {r.rcpt_tos for r in smtp_server.messages} == {
        ("lead.east@hospital.example",), ("lead.north@hospital.example",), ("lead.west@hospital.example",)}
    assert smtp_server.connections == 1
    html_part = east.get_body(("html",))
    text_part = east.get_body(("plain",))
    assert html_part is not None and text_part is not None
    html, text = html_part.get_content(), text_part.get_content()
    images = [p for p in east.walk() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    png = images[0].get_content()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 20_000
    assert f'src="cid:{images[0]["Content-ID"].strip("<>")}"' in html
    for words in ("Escalated", "171", "Ki-67 not recorded", "0%"):
        assert words in text and words in html
    for received in smtp_server.messages:
        raw = received.raw.decode("utf-8", "replace")
        assert not [secret for secret in MRNS + NAMES if secret in raw or secret in str(received.message)]


@pytest.mark.usefixtures("quick_chart")
def test_running_twice_in_a_week_sends_one_report_per_team_and_retries_a_refused_one(
        cohort: Cohort, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]) -> None:
    assert cohort.netflow("report", "--as-of", WEEK_START, "--team", "hpb-west") == 0
    assert list(reports(smtp_server)) == ["HPB Surgery West"]
    smtp_server.reject(smtp_server.handler.seen + 2, 451, "4.3.0 try again later")  # east, after north

    assert cohort.netflow("report", "--as-of", WEEK_START) == 1
    out = capsys.readouterr().out
    assert "gi-onc-east: " in out and "4.3.0 try again later" in out
    assert "sent: 1, already sent this week: 1, failed: 1" in out
    # same ISO week: only the refused one
    assert cohort.netflow("report", "--as-of", "2026-12-09", "--allow-future") == 0
    assert cohort.netflow("report", "--as-of", "2026-12-13", "--allow-future") == 0
    assert "sent: 0, already sent this week: 3, failed: 0" in capsys.readouterr().out
    # the outbox sender leaves reports alone
    assert cohort.netflow("remind", "--as-of", "2026-12-09", "--allow-future") == 0

    assert len(reports(smtp_server)) == 3
    assert cohort.count(outbox, outbox.c.kind == "team_report", outbox.c.status == "sent") == 3
    assert cohort.outbox("pending") == 0


@pytest.mark.usefixtures("quick_chart")
def test_a_dry_run_writes_eml_files_and_sends_nothing(
        cohort: Cohort, smtp_server: SmtpTestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")
    bad = cohort.dir / "bad.jsonl"
    bad.write_text('{"patient_id": "MRN0000050", "grade": 9}\n', encoding="utf-8")
    cohort.netflow("import", str(bad))
    cohort.import_records([record(patient_id="MRN0000099", care_team="unknown-team")])
    out = tmp_path / "eml"

    assert cohort.netflow("report", "--as-of", WEEK_START, "--dry-run", "--eml-dir", str(out)) == 0
    assert "waiting: team unknown-team has no usable configuration" in capsys.readouterr().out

    files = {path.name: path.read_bytes() for path in out.glob("*.eml")}
    assert sorted(files) == ["2026-12-07-report-data-steward.eml", "2026-12-07-report-endo-north.eml",
                             "2026-12-07-report-gi-onc-east.eml", "2026-12-07-report-hpb-west.eml"]
    east = email.message_from_bytes(files["2026-12-07-report-gi-onc-east.eml"], policy=policy.default)
    assert any(p.get_content_type() == "image/png" for p in east.walk())
    steward = email.message_from_bytes(files["2026-12-07-report-data-steward.eml"], policy=policy.default)
    assert isinstance(steward, EmailMessage)
    steward_text = steward.get_body(("plain",))
    assert steward_text is not None
    assert "Open quarantined records                            1" in steward_text.get_content()
    assert "unknown-team" in steward_text.get_content()
    for data in files.values():
        parsed = email.message_from_bytes(data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        bodies = [part.get_content() for part in parsed.walk() if part.get_content_maintype() == "text"]
        assert len(bodies) == 2 and not [b for b in bodies if "MRN00" in b or "Lovelace" in b]
    assert (len(smtp_server.messages), cohort.count(outbox, outbox.c.kind == "team_report")) == (0, 0)


@pytest.mark.postgres
@pytest.mark.usefixtures("quick_chart")
def test_on_postgresql_the_numbers_match_and_a_second_run_sends_nothing(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> None:
    cohort = make_cohort(postgres_url, tmp_path, monkeypatch, smtp_server.url)
    close_two_windows(cohort)
    smtp_server.handler.messages.clear()

    assert measured(postgres_url) == expected_metrics()
    assert cohort.netflow("report", "--as-of", WEEK_START) == 0
    assert cohort.netflow("report", "--as-of", WEEK_START) == 0
    assert len(reports(smtp_server)) == 3
