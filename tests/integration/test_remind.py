"""`netflow remind` against a real SMTP server (aiosmtpd): the digests care teams receive."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from netflow.adapters.tables import events
from tests.support.cohort import HOSTILE_NAME, Cohort, make_cohort
from tests.support.records import record, scan
from tests.support.smtp import SmtpTestServer

D = "2026-12-01"
MRNS = [f"MRN000000{i}" for i in range(1, 8)]
NAMES = [HOSTILE_NAME, "Ada Lovelace", "Grace Hopper", "Mary Somerville", "Emmy Noether", "Lise Meitner",
         "Rosalind Franklin"]


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)


def by_team(server: SmtpTestServer) -> dict[str, email.message.EmailMessage]:
    found = {}
    for received in server.messages:
        subject = str(received.message["Subject"])
        team = subject.split(" - ", 1)[1].split(":", 1)[0]
        assert team not in found, f"two digests for {team}"
        found[team] = received.message
    return found


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_each_team_gets_one_digest_with_recipients_by_escalation(cohort: Cohort, smtp_server: SmtpTestServer
                                                                 ) -> None:
    assert cohort.netflow("remind", "--as-of", D) == 0

    digests = by_team(smtp_server)
    assert set(digests) == {"GI Oncology East", "Endocrine Surgery North", "HPB Surgery West"}
    east, north, west = (digests[t] for t in ("GI Oncology East", "Endocrine Surgery North", "HPB Surgery West"))
    assert str(east["To"]) == "nav.east@hospital.example"
    assert str(east["Cc"]) == "dr.east@hospital.example, lead.east@hospital.example"  # escalated row
    assert str(north["To"]) == "nav.north@hospital.example, nav2.north@hospital.example"
    assert north["Cc"] is None  # due, review and confirm rows only
    assert west["Cc"] is None
    assert str(east["Subject"]) == f"NET surveillance - GI Oncology East: 2 overdue, 0 due, 2 high-risk ({D})"


def test_subjects_carry_no_patient_data(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    for received in smtp_server.messages:
        subject = str(received.message["Subject"])
        for secret in MRNS + NAMES + ["O'Brien", "Lovelace"]:
            assert secret not in subject


def test_text_and_html_parts_carry_the_same_patients(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    for message in by_team(smtp_server).values():
        text, html = parts(message)
        in_text = {m for m in MRNS if m in text}
        assert in_text and in_text == {m for m in MRNS if m in html}


def test_a_hostile_name_is_escaped_in_html_and_intact_in_text(cohort: Cohort, smtp_server: SmtpTestServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_PHI_LEVEL", "full")
    cohort.netflow("remind", "--as-of", D)
    text, html = parts(by_team(smtp_server)["GI Oncology East"])
    assert HOSTILE_NAME in text
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Brien &amp; Sons Ürsula" in html


def test_minimal_phi_level_shows_initials_not_names(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    text, html = parts(by_team(smtp_server)["GI Oncology East"])
    assert "Ada Lovelace" not in text and "Ada Lovelace" not in html
    assert "A. L." in text


def test_the_same_date_twice_sends_nothing_the_second_time(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    assert cohort.netflow("remind", "--as-of", D) == 0
    recorded = cohort.events()

    assert cohort.netflow("remind", "--as-of", D) == 0

    assert len(smtp_server.messages) == 3
    assert cohort.events() == recorded


def test_a_later_date_sends_only_new_events(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    first = cohort.events()

    # 2026-12-21: MRN0000007's window opens (due_soon -> due); nothing else changes
    assert cohort.netflow("remind", "--as-of", "2026-12-21", "--allow-future") == 0

    assert cohort.events() == first + 1
    later = smtp_server.messages[3:]
    assert len(later) == 1
    text, _ = parts(later[0].message)
    assert "MRN0000007" in text and "MRN0000001" not in text


def test_an_earlier_date_after_a_later_one_records_nothing(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    recorded = cohort.events()
    assert cohort.netflow("remind", "--as-of", "2026-06-01") == 0
    assert cohort.events() == recorded and len(smtp_server.messages) == 3


def test_a_patient_first_seen_120_days_overdue_gets_one_escalated_event(cohort: Cohort) -> None:
    cohort.netflow("remind", "--as-of", D)
    kinds = cohort.count(events, events.c.patient_id == "MRN0000001", events.c.kind.in_(
        ["due_soon", "due", "overdue", "escalated"]))
    assert kinds == 1
    assert cohort.count(events, events.c.patient_id == "MRN0000001", events.c.kind == "escalated") == 1


def test_a_new_scan_closes_the_window_without_an_email(cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    cohort.netflow("remind", "--as-of", D)
    cohort.import_records([record(patient_id="MRN0000002", name="Ada Lovelace", ki67_percent=None,
                                  imaging=[scan("2026-03-01"), scan("2026-12-02", "MRI")])])

    assert cohort.netflow("remind", "--as-of", "2026-12-03") == 0

    assert cohort.count(events, events.c.patient_id == "MRN0000002", events.c.kind == "closed") == 1
    assert len(smtp_server.messages) == 3


def test_a_rejected_message_is_retried_by_the_next_run_and_every_team_gets_one(
        cohort: Cohort, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]) -> None:
    smtp_server.reject(3, 550, "5.7.1 rejected for the test")

    assert cohort.netflow("remind", "--as-of", D) == 1

    assert (cohort.outbox("sent"), cohort.outbox("pending")) == (2, 1)
    assert "5.7.1 rejected for the test" in capsys.readouterr().out
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert cohort.outbox("sent") == 3
    assert len(by_team(smtp_server)) == 3


def test_a_server_that_is_down_marks_nothing_sent_and_exits_1(
        cohort: Cohort, dead_smtp_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("NETFLOW_SMTP_URL", dead_smtp_url)

    assert cohort.netflow("remind", "--as-of", D) == 1

    assert cohort.outbox("sent") == 0 and cohort.outbox("pending") == 3
    out = capsys.readouterr().out
    assert "sent: 0, retrying: 3, failed: 0" in out
    assert dead_smtp_url.rsplit(":", 1)[1] in out  # names the port it could not reach


def test_after_max_attempts_a_message_is_failed_and_reported(
        cohort: Cohort, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # issue 16: only the server refusing the message counts as an attempt (a server that is down no longer does)
    smtp_server.reject_all(554, "5.7.1 refused for the test")
    monkeypatch.setenv("NETFLOW_MAX_ATTEMPTS", "2")
    cohort.netflow("remind", "--as-of", D)

    assert cohort.netflow("remind", "--as-of", D) == 1

    assert cohort.outbox("failed") == 3
    assert "failed: 3" in capsys.readouterr().out


def test_a_dry_run_writes_eml_files_and_records_nothing(cohort: Cohort, smtp_server: SmtpTestServer,
                                                        tmp_path: Path) -> None:
    out = tmp_path / "eml"

    assert cohort.netflow("remind", "--as-of", D, "--dry-run", "--eml-dir", str(out)) == 0

    files = sorted(out.glob("*.eml"))
    assert len(files) == 3
    for path in files:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert isinstance(message, email.message.EmailMessage)
        assert message.get_body(("html",)) is not None and message["Subject"].startswith("NET surveillance")
    assert (cohort.events(), cohort.outbox(), len(smtp_server.messages)) == (0, 0, 0)


def test_a_team_without_configuration_keeps_its_events_waiting(cohort: Cohort, smtp_server: SmtpTestServer,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    cohort.import_records([record(patient_id="MRN0000099", care_team="unknown-team")])

    assert cohort.netflow("remind", "--as-of", D) == 0

    assert "waiting: team unknown-team" in capsys.readouterr().out
    assert cohort.count(events, events.c.care_team == "unknown-team", events.c.outbox_id.is_(None)) == 1


def test_quarantined_rows_go_to_the_data_steward_once(cohort: Cohort, smtp_server: SmtpTestServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_DATA_STEWARD", "steward@hospital.example")
    bad = cohort.dir / "bad.jsonl"
    bad.write_text('{"patient_id": "MRN0000050", "grade": 9}\nnot json\n', encoding="utf-8")
    cohort.netflow("import", str(bad))

    cohort.netflow("remind", "--as-of", D)
    cohort.netflow("remind", "--as-of", "2026-12-02")

    steward = [m for m in smtp_server.messages if "data quality" in str(m.message["Subject"])]
    assert len(steward) == 1
    assert steward[0].rcpt_tos == ("steward@hospital.example",)
    text, _ = parts(steward[0].message)
    assert "MRN0000050" in text and "grade" in text


@pytest.mark.postgres
def test_on_postgresql_each_team_gets_one_digest_across_reruns_and_a_failure(
        postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> None:
    cohort = make_cohort(postgres_url, tmp_path, monkeypatch, smtp_server.url)
    smtp_server.reject(2, 451, "4.3.0 try again later")

    assert cohort.netflow("remind", "--as-of", D) == 1
    assert cohort.netflow("remind", "--as-of", D) == 0
    assert cohort.netflow("remind", "--as-of", D) == 0

    assert len(by_team(smtp_server)) == 3
    assert cohort.outbox("sent") == 3
    assert cohort.count(events, events.c.outbox_id.is_(None), events.c.kind != "closed") == 0


def test_after_the_rules_update_a_changed_plan_is_its_own_section_not_a_sudden_escalation(
        cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    """A 15 mm appendiceal NET was 'no surveillance' under rules v1 (the team was told); under v2 it follows
    the optional 2-5 year schedule, already escalated for a 2015 resection. The team hears it once, as a plan
    change with the old and the new plan, not as an escalated patient out of nowhere."""
    import json
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from netflow.adapters.db import make_engine

    cohort.import_records([record(patient_id="MRN0000008", name="Ida Noddack", care_team="endo-north",
                                  primary_site="appendix", grade=1, ki67_percent=1.0, tumor_size_mm=15,
                                  resection_date="2015-03-15")])
    v1_payload = {"patient_id": "MRN0000008", "as_of": "2026-06-01", "guideline": "nccn",
                  "rule_id": "nccn/extrapancreatic/low", "status": "not_indicated", "explanation": "v1"}
    engine = make_engine(cohort.url)
    with engine.begin() as conn:  # what a run under rules v1 recorded (no rules version in the payload)
        conn.execute(insert(events).values(patient_id="MRN0000008", care_team="endo-north", kind="not_indicated",
                                           event_key="", window_open=None, as_of=date(2026, 6, 1),
                                           run_id="v1-run", payload=json.dumps(v1_payload),
                                           created_at=datetime(2026, 6, 1, 6, tzinfo=UTC), outbox_id=None))
    engine.dispose()

    assert cohort.netflow("remind", "--as-of", D) == 0

    text, _ = parts(by_team(smtp_server)["Endocrine Surgery North"])
    section = text.split("PLAN CHANGED BY A RULES UPDATE", 1)[1]
    assert "MRN0000008" in section and "nccn/extrapancreatic/low" in section and "nccn/appendix/optional" in section
    assert text.count("MRN0000008") == 1  # not also under escalated
    assert cohort.count(events, events.c.patient_id == "MRN0000008", events.c.kind == "escalated") == 1
