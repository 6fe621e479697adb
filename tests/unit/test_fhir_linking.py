"""A patient whose Patient resource is not in the export (a `_since` export): known by the MRN an earlier
import read on their Patient id, looked up a batch of patients at a time, assembled over the stored record."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest

from netflow.domain.record import PatientRecord, parse_record
from netflow.imports.fhir import source
from netflow.imports.fhir.assemble import Context, Patient, assemble, team_index
from netflow.imports.fhir.resources import Piece, piece
from netflow.imports.fhir.source import FhirExport
from tests.support.fhir import TEAM_SYSTEM, StoredRecords, complete, net_condition, patient, study, write_export

TEAMS = team_index({"team-1": (f"{TEAM_SYSTEM}|team-1",), "team-2": ("bare-2",)})


def pieces_of(resources: list[dict[str, Any]]) -> list[tuple[str, str, dict[str, Any]]]:
    found = [(resource["resourceType"], piece(resource)) for resource in resources]
    return [(kind, p.kind, p.data) for kind, p in found if isinstance(p, Piece)]


def stored_record(*extra: dict[str, Any], **fields: Any) -> PatientRecord:
    result = assemble(pieces_of([*complete("p1", "MRN1"), *extra]), Context(TEAMS))
    assert result is not None
    record, errors = parse_record({**result.raw, **fields})
    assert record is not None, errors
    return record


def over(stored: PatientRecord, resources: list[dict[str, Any]], default_team: str | None = None) -> Patient:
    context = Context(TEAMS, default_team, stored=StoredRecords(stored))
    result = assemble(pieces_of(resources), context, known_mrn=stored.patient_id)
    assert result is not None and result.missing == []
    return result


def test_a_new_study_of_a_known_patient_id_is_assembled_over_the_stored_record() -> None:
    stored = stored_record()
    result = over(stored, [study("p1", "s3", "2024-03-04", "MR")])
    record, errors = parse_record(result.raw)
    assert record is not None, errors
    assert (record.patient_id, record.name, record.birth_date, record.care_team, record.primary_site) == (
        "MRN1", stored.name, stored.birth_date, "team-1", "pancreas")
    assert [(s.date.isoformat(), s.modality) for s in record.imaging] == [("2024-03-04", "MRI")]
    assert result.scan_sources == (("fhir", "ImagingStudy/s3"),)


def test_the_stored_team_wins_over_the_care_team_option_when_the_export_has_no_care_team() -> None:
    assert over(stored_record(), [study("p1", "s3", "2024-03-04", "MR")], default_team="team-2").raw[
        "care_team"] == "team-1"


def test_a_stored_deceased_status_stays_when_a_recurrence_comes_without_the_patient() -> None:
    stored = stored_record(patient("p1", "MRN1", deceasedDateTime="2025-01-01"))
    raw = over(stored, [net_condition("p1", "C7B.02", onsetDateTime="2025-06-01")]).raw
    assert (raw["status"], raw["status_date"]) == ("deceased", "2025-01-01")


def test_a_later_recurrence_keeps_the_date_of_the_first_one() -> None:
    stored = stored_record(status="recurrence", status_date="2024-02-01")
    raw = over(stored, [net_condition("p1", "C7B.02", onsetDateTime="2025-06-01")]).raw
    assert (raw["status"], raw["status_date"]) == ("recurrence", "2024-02-01")


def test_a_known_patient_id_no_longer_stored_is_not_a_net_patient() -> None:
    assert assemble(pieces_of([study("p1", "s3", "2024-03-04", "MR")]), Context(TEAMS), known_mrn="MRN1") is None


class Links:
    """A fake `fhir_patients` map: what was asked, what was kept."""

    def __init__(self, known: Mapping[str, str]) -> None:
        self.known = dict(known)
        self.asked: list[list[str]] = []
        self.kept: list[tuple[str, str]] = []

    def linked(self, fhir_ids: Collection[str]) -> Mapping[str, str]:
        self.asked.append(sorted(fhir_ids))
        return {i: self.known[i] for i in fhir_ids if i in self.known}

    def link(self, pairs: list[tuple[str, str]]) -> None:
        self.kept.extend(pairs)


def test_absent_patients_are_looked_up_a_batch_at_a_time_and_complete_ones_are_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(source, "LINK_BATCH", 3)
    stored = stored_record()
    resources = [*complete("a1", "MRN-A1"), *complete("a2", "MRN-A2"), patient("a3", "MRN-A3"),
                 net_condition("a3"),  # quarantined (no resection): not kept
                 *(study(f"b{n}", f"s{n}", "2024-03-04", "CT") for n in range(1, 6))]
    links = Links({"b1": "MRN1", "b4": "MRN1"})
    export = FhirExport(sorted(write_export(tmp_path / "export", resources).iterdir()), "export/")
    records = StoredRecords(stored)
    export.context = Context(TEAMS, stored=records, linked=links.linked, link=links.link)
    rows = list(export.rows())
    # patients in key order a1 a2 a3 | b1 b2 b3 | b4 b5: one look-up per batch holding absent Patients
    assert links.asked == [["b1", "b2", "b3"], ["b4", "b5"]]
    assert links.kept == [("a1", "MRN-A1"), ("a2", "MRN-A2")]
    assert records.asked == [["MRN-A3"], ["MRN1"], ["MRN1"]]  # one question a batch, for the records wanted
    assert [row.raw["patient_id"] for row in rows if row.raw] == ["MRN-A1", "MRN-A2", "MRN-A3", "MRN1", "MRN1"]
    assert export.tally.reasons == {"not a NET patient": 3} and export.tally.used["ImagingStudy"] == 2


def test_a_condition_read_again_in_a_later_file_decides_by_its_last_version_that_the_stored_record_is_wanted(
        tmp_path: Path) -> None:
    first = net_condition("p1", cid="p1-c-C25.4")  # as complete() has it
    folder = write_export(tmp_path / "export", complete("p1", "MRN1"))
    (folder / "Later.ndjson").write_text(json.dumps({**first, "code": net_condition("p1", "E31.21")["code"]}) + "\n",
                                         encoding="utf-8")  # the same Condition, now MEN1
    records = StoredRecords(stored_record())
    export = FhirExport(sorted(folder.iterdir()), "export/")
    export.context = Context(TEAMS, stored=records)
    [row] = list(export.rows())
    assert records.asked == [["MRN1"]]  # the NET Condition is replaced: the stored record gives the site
    assert row.raw is not None and not row.missing
    assert (row.raw["primary_site"], row.raw["hereditary_syndrome"]) == ("pancreas", "MEN1")
    assert export.tally.reasons == {"duplicate (the last version kept)": 1}
