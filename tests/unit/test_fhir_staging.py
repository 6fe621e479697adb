"""The staging file sorts pieces by patient, in bounded memory, keeping the last version of a resource."""

from __future__ import annotations

import json
import marshal
from pathlib import Path

import pytest

from netflow.adapters import fhir_staging
from netflow.adapters.fhir_staging import FhirStaging
from netflow.imports.fhir import Context, FhirExport, gather, team_index
from tests.support.fhir import TEAM_SYSTEM, complete, patient, study, write_export


def staged(patient: str, *values: int) -> tuple[str, tuple[bytes, int, None]]:
    return patient, (marshal.dumps(list(values)), 0, None)


@pytest.mark.parametrize("buffer_bytes", [1, 10**9], ids=["spilled-to-disk", "in-memory"])
def test_groups_come_back_by_patient_in_the_order_they_were_added(buffer_bytes: int, tmp_path: Path) -> None:
    with FhirStaging(tmp_path, buffer_bytes) as staging:
        staging.add([staged("Patient/b", 1), staged("Patient/a", 2)])
        staging.add([staged("Patient/b", 3, 4), staged("Patient/c", 5)])
        groups = [(patient, [marshal.loads(data) for data, _, _ in found]) for patient, found in staging.patients()]
        assert groups == [("Patient/a", [[2]]), ("Patient/b", [[1], [3, 4]]), ("Patient/c", [[5]])]
        assert any(tmp_path.iterdir()) == (buffer_bytes == 1)  # only a full buffer touches the disk
    assert not any(tmp_path.iterdir())  # the temporary file is gone


def test_an_export_bigger_than_the_buffer_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    resources = [r for n in range(30) for r in complete(f"p{n}", f"MRN{n:02d}")]
    folder = write_export(tmp_path / "export", [*resources, study("p3", "s1", "2023-01-02", "CT"), patient("p99", "X")])

    def rows() -> list[str]:
        [export] = gather(sorted(folder.iterdir()))
        assert isinstance(export, FhirExport)
        export.context = Context(team_index({"team-1": (f"{TEAM_SYSTEM}|team-1",)}))
        return [json.dumps(row.raw, sort_keys=True) for row in export.rows()]

    in_memory = rows()
    monkeypatch.setattr(fhir_staging, "BUFFER_BYTES", 500)
    assert rows() == in_memory and len(in_memory) == 30
