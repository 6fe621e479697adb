"""Injection through every way text gets in: patient names into HTML, team names and addresses into
headers, every imported field into SQL. Hostile text is stored verbatim and is harmless everywhere.
"""

from __future__ import annotations

import csv
import io
import json
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import func, insert, inspect, select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import care_teams, imaging_studies, patients, quarantine, team_members, utcnow
from netflow.cli import main
from netflow.imports.formats import PATIENT_COLUMNS
from tests.support.cohort import Cohort, make_cohort
from tests.support.records import record, scan
from tests.support.smtp import SmtpTestServer

D = "2026-12-01"
SQL = "'; DROP TABLE patients; --"
SQL_VARIANTS = [SQL, "\" OR 1=1 --", "x'); DELETE FROM events; --", "1; UPDATE outbox SET status='sent'"]
HTML_NAME = "<img src=x onerror=alert(1)> Robert'); DROP TABLE patients;--"
HEADER_NAME = "Eve Mallory\r\nBcc: spy@evil.example\r\n\r\n<b>body</b>"
NETFLOW_TABLES = {"patients", "imaging_studies", "care_teams", "team_members", "quarantine", "outbox", "events", "runs"}


@pytest.fixture
def cohort(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    return make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)


def headers_of(raw: bytes) -> dict[str, list[str]]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    message = message_from_bytes(head.encode() + b"\r\n\r\n", policy=policy.default)
    found: dict[str, list[str]] = {}
    for name, value in message.items():
        found.setdefault(name.lower(), []).append(str(value))
    return found


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def test_hostile_patient_names_are_escaped_in_html_and_never_reach_a_header(
        cohort: Cohort, smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NETFLOW_PHI_LEVEL", "full")
    cohort.import_records([
        record(patient_id="MRN0000101", name=HTML_NAME, imaging=[scan("2025-01-10")]),
        record(patient_id="MRN0000102", name=HEADER_NAME, imaging=[scan("2025-01-10")]),
    ])

    assert cohort.netflow("remind", "--as-of", D) == 0

    east = next(m for m in smtp_server.messages if "GI Oncology East" in str(m.message["Subject"]))
    assert set(headers_of(east.raw)) == {"from", "to", "cc", "subject", "date", "message-id", "auto-submitted",
                                         "mime-version", "content-type"}
    assert east.rcpt_tos == ("nav.east@hospital.example", "dr.east@hospital.example", "lead.east@hospital.example")
    html = html_of(east.message)
    assert "<img" not in html and "<b>body</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt; Robert&#39;); DROP TABLE patients;--" in html
    assert "Eve Mallory Bcc: spy@evil.example &lt;b&gt;body&lt;/b&gt;" in html  # one line, escaped
    assert "Eve Mallory Bcc: spy@evil.example <b>body</b>" in text_of(east.message)


def test_a_team_name_with_line_breaks_that_bypassed_the_loader_cannot_add_a_header(
        cohort: Cohort, smtp_server: SmtpTestServer) -> None:
    engine = make_engine(cohort.url)
    try:
        with engine.begin() as conn:  # as if someone wrote the table by hand
            conn.execute(insert(care_teams).values(key="evil", name="Evil\r\nBcc: x@evil.example\n<script>",
                                                   updated_at=utcnow()))
            conn.execute(insert(team_members).values(team_key="evil", role="navigator", email="nav@evil-team.example"))
    finally:
        engine.dispose()
    cohort.import_records([record(patient_id="MRN0000103", care_team="evil", imaging=[scan("2025-01-10")])])

    assert cohort.netflow("remind", "--as-of", D) == 0

    evil = [m for m in smtp_server.messages if m.rcpt_tos == ("nav@evil-team.example",)]
    assert len(evil) == 1 and len(smtp_server.messages) == 4
    headers = headers_of(evil[0].raw)
    assert "bcc" not in headers and headers["to"] == ["nav@evil-team.example"]
    assert headers["subject"][0].startswith("NET surveillance - Evil Bcc: x@evil.example <script>: ")
    assert "<script>" not in html_of(evil[0].message)


def test_a_teams_file_trying_header_injection_is_refused_and_changes_nothing(
        cohort: Cohort, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]) -> None:
    path = cohort.dir / "evil-teams.yaml"
    path.write_text('gi-onc-east:\n  name: "East\\r\\nBcc: x@evil.example"\n'
                    '  navigators: ["nav.east@hospital.example\\r\\nBcc: x@evil.example"]\n'
                    '  attendings: ["dr@hospital.example>, <x@evil.example"]\n', encoding="utf-8")

    assert cohort.netflow("teams", "load", str(path)) == 2
    assert cohort.netflow("remind", "--as-of", D) == 0

    err = capsys.readouterr().err
    assert "name: must be the team's name" in err and "navigators: entry 1" in err and "attendings: entry 1" in err
    assert all("evil.example" not in " ".join(m.rcpt_tos) for m in smtp_server.messages)


def all_fields_hostile(payload: str, n: int) -> list[dict[str, object]]:
    """One record per field with `payload` in that field (and a unique id), plus one with it in every text field."""
    rows: list[dict[str, object]] = []
    for position, field in enumerate(PATIENT_COLUMNS):
        rows.append(record(**{"patient_id": f"SQL{n}-{position}", field: payload}))
    rows.append(record(patient_id=payload, name=payload, care_team=payload[:64], imaging=[scan("2025-01-10")]))
    return rows


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *rows])
    return buffer.getvalue()


def table_counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= NETFLOW_TABLES
            return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                    for t in (patients, imaging_studies, quarantine)}
    finally:
        engine.dispose()


def test_sql_in_every_imported_field_is_stored_verbatim_or_quarantined_and_harms_nothing(
        database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    cohort = make_cohort(database_url, tmp_path, monkeypatch, smtp_server.url)
    rows = [row for n, payload in enumerate(SQL_VARIANTS) for row in all_fields_hostile(payload, n)]
    jsonl = tmp_path / "hostile.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    imaging = tmp_path / "imaging.csv"
    imaging.write_text(csv_text(["patient_id", "date", "modality"],
                                [row for p in SQL_VARIANTS for row in ([p, "2026-01-05", "CT"], [p, p, p])]),
                       encoding="utf-8")
    people = tmp_path / "hostile.csv"
    people.write_text(csv_text(["patient_id", "name", "care_team", "birth_date", "primary_site", "resection_date"],
                               [[f"{p}-csv", p, "gi-onc-east", "1960-01-01", "pancreas", "2022-01-01"]
                                for p in SQL_VARIANTS]), encoding="utf-8")
    before = table_counts(database_url)

    assert cohort.netflow("import", str(jsonl), str(imaging), str(people)) == 0
    assert cohort.netflow("scan", "--as-of", D, "--team", SQL) == 0
    assert cohort.netflow("remind", "--as-of", D, "--team", SQL) == 0
    assert cohort.netflow("remind", "--as-of", D) == 0

    after = table_counts(database_url)
    # Per payload: patient_id, name and care_team take any text (the all-fields record updates the patient_id
    # one), the other fields refuse it; one CSV patient; two scans (JSON Lines and imaging CSV).
    assert after["patients"] - before["patients"] == len(SQL_VARIANTS) * 4
    assert after["imaging_studies"] - before["imaging_studies"] == len(SQL_VARIANTS) * 2
    assert after["quarantine"] - before["quarantine"] == len(SQL_VARIANTS) * (len(PATIENT_COLUMNS) - 3 + 1)
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            for payload in SQL_VARIANTS:
                stored = conn.execute(select(patients.c.name, patients.c.care_team).where(
                    patients.c.patient_id == payload)).one()
                assert tuple(stored) == (payload, payload)
                assert conn.execute(select(patients.c.name).where(
                    patients.c.patient_id == f"{payload}-csv")).scalar_one() == payload
            raws = conn.execute(select(quarantine.c.raw)).scalars().all()
            assert all(any(json.dumps(p)[1:-1] in raw or p in raw for raw in raws) for p in SQL_VARIANTS)
    finally:
        engine.dispose()
    capsys.readouterr()
    assert main(["scan", "--as-of", D, "--format", "jsonl"]) == 0
    scanned = {json.loads(line)["patient_id"] for line in capsys.readouterr().out.splitlines()}
    assert set(SQL_VARIANTS) <= scanned
