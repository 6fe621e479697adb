"""What rules v1 and schema revision 0001 knew, frozen here (the code's lists now hold the v2 values too)."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from netflow.domain.record import PatientRecord

# PATIENT_FIELDS as revision 0001 stored them (before resection_type, lymphovascular_invasion, gastric_type).
V1_FIELDS = ("patient_id", "name", "birth_date", "care_team", "primary_site", "differentiation", "grade",
             "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined", "margin",
             "hereditary_syndrome", "resection_date", "status", "status_date", "guideline")


def v1_hash(record: PatientRecord) -> str:
    """record_hash as netflow computed it before rules v2: sha256 of the compact JSON of the v1 field values."""
    values = tuple(getattr(record, name) for name in V1_FIELDS)
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=date.isoformat)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
