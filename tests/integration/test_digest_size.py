"""A team's first digest is its backlog: counts and links to the worklist, not thousands of rows; the next
digests list each patient with a link to their page (issue 14 item 5), through `netflow remind` and a real
SMTP server."""

from __future__ import annotations

import email.message
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import patients
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import SmtpTestServer

LIMIT = 200 * 1024
URL = "https://netflow.hospital.example/worklist/"


def parts(message: email.message.EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


@pytest.fixture
def big_team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> Cohort:
    """2,000 made-up patients, all of GI Oncology East (the demo cohort's, moved to one team)."""
    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    demo = tmp_path / "demo.jsonl"
    assert cohort.netflow("demo-data", "--patients", "2000", "--seed", "3", "--out", str(demo),
                          "--malformed-rate", "0") == 0
    rows = [json.loads(line) for line in demo.read_text(encoding="utf-8").splitlines()]
    cohort.import_records([row | {"care_team": "gi-onc-east"} for row in rows], "big.jsonl")
    return cohort


def test_a_first_digest_for_a_team_of_2000_patients_stays_under_200_kb_and_links_to_the_worklist(
        big_team: Cohort, smtp_server: SmtpTestServer) -> None:
    assert big_team.netflow("remind", "--as-of", "2026-12-01") == 0

    east = [m.message for m in smtp_server.messages if "GI Oncology East" in str(m.message["Subject"])]
    assert len(east) == 1
    text, html = parts(east[0])
    assert len(text.encode()) < LIMIT and len(html.encode()) < LIMIT
    assert len(east[0].as_bytes()) < 2 * LIMIT
    assert "first digest for GI Oncology East: it holds the team's whole backlog" in text
    assert "first digest for GI Oncology East: it holds the team&#39;s whole backlog" in html
    assert f"{URL}?team=gi-onc-east&status=escalated" in text
    assert f'href="{URL}?team=gi-onc-east&amp;status=escalated"' in html
    assert not re.search(r"MRN\d", text) and not re.search(r"MRN\d", html)  # no patient listed
    counts = [int(n) for n in re.findall(r"^ +(\d+)  \S", text.split("IN THIS DIGEST", 1)[1], re.M)]
    assert sum(counts) > 1000


def test_the_next_digest_lists_each_patient_with_a_link_to_their_page_and_no_mrn_in_any_link(
        big_team: Cohort, smtp_server: SmtpTestServer) -> None:
    assert big_team.netflow("remind", "--as-of", "2026-12-01") == 0
    assert big_team.netflow("remind", "--as-of", "2026-12-08") == 0

    east = [m.message for m in smtp_server.messages if "GI Oncology East" in str(m.message["Subject"])]
    assert len(east) == 2
    text, html = parts(east[1])
    text = text.replace("\r\n", "\n")
    rows = [dict(re.findall(r"^  (MRN|Open) +(\S+)$", block, re.M)) for block in text.split("\n\n")
            if block.startswith("  MRN ")]
    listed = {row["MRN"] for row in rows}
    links = {row["MRN"]: row.get("Open") for row in rows}
    assert len(listed) > 10
    engine = make_engine(big_team.url)
    with engine.connect() as conn:
        refs = dict(conn.execute(select(patients.c.patient_id, patients.c.ref)
                                 .where(patients.c.patient_id.in_(sorted(listed)))).all())
    engine.dispose()
    assert links == {mrn: f"{URL}patients/{refs[mrn]}" for mrn in listed}
    for url in re.findall(r'href="([^"]+)"', html) + re.findall(r"https?://\S+", text):
        assert "MRN" not in url
    assert all(f'href="{link}"' in html for link in links.values())
