"""The import DAG moves each inbox file to processed/ or failed/ and quarantines bad rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from netflow.adapters.tables import patients, quarantine
from tests.support.cohort import make_cohort
from tests.support.records import record


def test_inbox_files_are_imported_moved_and_bad_rows_quarantined(
        airflow_db: Path, dagbag: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_retries: None) -> None:
    from airflow.sdk import DagRunState

    cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, "smtp://127.0.0.1:1")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    monkeypatch.setenv("NETFLOW_INBOX", str(inbox))
    good = [record(patient_id=f"NEW{i:04d}") for i in range(5)]
    (inbox / "export-1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in good) +
                                          '{"patient_id": "BAD0001", "grade": 9}\nnot json\n', encoding="utf-8")
    (inbox / "imaging.csv").write_text("patient_id,date,modality\nNEW0001,2026-01-05,CT\n", encoding="utf-8")
    (inbox / "notes.docx").write_bytes(b"\x00\x01binary")
    (inbox / "half-written.jsonl.part").write_text("{", encoding="utf-8")

    dag_run = dagbag.dags["net_patient_import"].test()

    assert dag_run.state == DagRunState.SUCCESS
    processed = sorted(p.name.split("-", 1)[1] for p in (inbox / "processed").iterdir())
    assert processed == ["export-1.jsonl", "imaging.csv"]
    failed = sorted(p.name.split("-", 1)[1] for p in (inbox / "failed").iterdir())
    assert failed == ["notes.docx", "notes.docx.error.txt"]
    assert (inbox / "half-written.jsonl.part").exists()
    assert cohort.count(patients) == 7 + 5
    assert cohort.count(quarantine) == 2
