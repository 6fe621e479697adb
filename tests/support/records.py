"""Test data builders: a valid baseline record and the spec's vignettes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent.parent / "data"


def vignettes() -> list[dict[str, Any]]:
    """Every case of ../shared/spec/vignettes.jsonl (copied into tests/data)."""
    with open(DATA / "vignettes.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def record(**overrides: Any) -> dict[str, Any]:
    """A valid standard-risk pancreatic record; keyword arguments replace fields."""
    base: dict[str, Any] = {
        "patient_id": "T001",
        "name": "Test Patient",
        "birth_date": "1960-06-15",
        "care_team": "gi-onc-east",
        "primary_site": "pancreas",
        "differentiation": "well",
        "grade": 2,
        "ki67_percent": 4.0,
        "tumor_size_mm": 25,
        "nodes_positive": 0,
        "nodes_examined": 12,
        "margin": "R0",
        "hereditary_syndrome": None,
        "resection_date": "2022-03-15",
        "imaging": [],
        "status": "active",
        "status_date": None,
        "guideline": None,
    }
    base.update(overrides)
    return base


def low_risk(**overrides: Any) -> dict[str, Any]:
    """A low-risk record: grade 1, Ki-67 1 %, node negative, 15 mm, R0."""
    fields: dict[str, Any] = {"grade": 1, "ki67_percent": 1.0, "tumor_size_mm": 15}
    fields.update(overrides)
    return record(**fields)


def scan(day: str, modality: str = "CT") -> dict[str, str]:
    return {"date": day, "modality": modality}
