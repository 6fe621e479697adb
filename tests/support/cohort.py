"""A small cohort in a real patient database, loaded through the netflow command as a user would."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from netflow.adapters.db import make_engine
from netflow.adapters.tables import events, outbox
from netflow.cli import main
from tests.support.records import low_risk, record, scan

HOSTILE_NAME = "<script>alert(1)</script> O'Brien & Sons Ürsula"

TEAMS_YAML = """
gi-onc-east:
  name: GI Oncology East
  navigators: [nav.east@hospital.example]
  attendings: [dr.east@hospital.example]
  leads: [lead.east@hospital.example]
endo-north:
  name: Endocrine Surgery North
  navigators: [nav.north@hospital.example, nav2.north@hospital.example]
  attendings: [dr.north@hospital.example]
  leads: [lead.north@hospital.example]
hpb-west:
  name: HPB Surgery West
  guideline: consensus2018
  navigators: [nav.west@hospital.example]
  attendings: [dr.west@hospital.example]
  leads: [lead.west@hospital.example]
"""


def cohort_records() -> list[dict[str, Any]]:
    """Each team gets at least one new event on 2026-12-01."""
    return [
        # east: escalated (165 days overdue, high risk) and overdue (61 days), and one not yet due
        record(patient_id="MRN0000001", name=HOSTILE_NAME, nodes_positive=2, imaging=[scan("2025-11-20")]),
        record(patient_id="MRN0000002", name="Ada Lovelace", ki67_percent=None, imaging=[scan("2026-03-01")]),
        record(patient_id="MRN0000003", name="Grace Hopper", imaging=[scan("2026-11-01")]),
        # north: due, needs review, not indicated
        record(patient_id="MRN0000004", name="Mary Somerville", care_team="endo-north",
               imaging=[scan("2026-03-01")]),
        record(patient_id="MRN0000005", name="Emmy Noether", care_team="endo-north", hereditary_syndrome="MEN1"),
        low_risk(patient_id="MRN0000006", name="Lise Meitner", care_team="endo-north", primary_site="appendix",
                 tumor_size_mm=8),
        # west (consensus2018): due soon
        record(patient_id="MRN0000007", name="Rosalind Franklin", care_team="hpb-west",
               resection_date="2020-02-01", imaging=[scan("2025-12-20")]),
    ]


@dataclass
class Cohort:
    url: str
    dir: Path

    def netflow(self, *args: str) -> int:
        return main(list(args))

    def count(self, table: Any, *where: Any) -> int:
        engine = make_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())
        finally:
            engine.dispose()

    def events(self) -> int:
        return self.count(events)

    def outbox(self, status: str | None = None) -> int:
        return self.count(outbox, *([outbox.c.status == status] if status else []))

    def import_records(self, rows: list[dict[str, Any]], name: str = "more.jsonl") -> None:
        path = self.dir / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        assert self.netflow("import", str(path)) == 0


def make_cohort(url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_url: str) -> Cohort:
    monkeypatch.setenv("NETFLOW_DATABASE_URL", url)
    monkeypatch.setenv("NETFLOW_SMTP_URL", smtp_url)
    monkeypatch.setenv("NETFLOW_MAIL_FROM", "netflow@hospital.example")
    monkeypatch.setenv("NETFLOW_WORKLIST_URL", "https://netflow.hospital.example/worklist")
    cohort = Cohort(url, tmp_path)
    assert cohort.netflow("db", "upgrade") == 0
    teams = tmp_path / "teams.yaml"
    teams.write_text(TEAMS_YAML, encoding="utf-8")
    assert cohort.netflow("teams", "load", str(teams)) == 0
    cohort.import_records(cohort_records(), "patients.jsonl")
    return cohort
