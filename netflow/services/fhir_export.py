"""Pull the EHR's FHIR Bulk Data export of a Group into the inbox; import the exports that landed there.

    source = ExportSource(FhirServer(...), group_id="net-patients")
    export_group(inst, source, at=now).as_counts()          # net_fhir_export: kick off, wait, download, land
    for name in landed_exports(inst):                       # net_patient_import, on the export's Asset
        import_landed(inst, name)

An export lands whole or not at all: its files are downloaded into a hidden staging folder in the inbox
(`.fhir-export-<group>.part`, which no import reads) and the folder is renamed into place
(`fhir-export-<group>-<UTC time>`) only once every file arrived; a failed attempt removes it. Only then
does the export's transactionTime become the Group's next `_since` (adapters/fhir_exports.py).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from netflow.adapters.bulkdata import BulkDataClient, BulkDataError, ExportJob, FhirServer, Manifest
from netflow.errors import InputError
from netflow.imports import inbox
from netflow.installation import Installation
from netflow.services import imports

__all__ = ["PREFIX", "RESOURCE_TYPES", "ExportResult", "ExportSource", "export_group", "import_landed",
           "landed_exports"]

# The resource types netflow reads (docs/fhir.md), asked for with `_type`.
RESOURCE_TYPES = ("Patient", "Condition", "Procedure", "Observation", "ImagingStudy", "DiagnosticReport", "CareTeam")
PREFIX = "fhir-export-"  # a landed export's folder in the inbox
MAX_WAIT = 6 * 3600.0  # seconds an export may take at the EHR before the attempt gives up (and cancels it)


@dataclass(frozen=True)
class ExportSource:
    """Which EHR, as whom, and which Group (the NET patients the EHR keeps a Group of)."""

    server: FhirServer
    group_id: str
    max_wait: float = MAX_WAIT


@dataclass(frozen=True)
class ExportResult:
    """What one export brought: counts, the Group and the folder; no URL, no patient data."""

    group_id: str
    folder: str | None  # None when the export held no resource (nothing to import)
    since: str | None
    transaction_time: str
    resources: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0
    error_files: int = 0
    deleted_files: int = 0

    def as_counts(self) -> dict[str, Any]:
        return asdict(self)


def export_group(inst: Installation, source: ExportSource, *, at: datetime,
                 client: Callable[[FhirServer], BulkDataClient] = BulkDataClient) -> ExportResult:
    """Export the Group's resources changed since its last landed export (all of them the first time) into
    a new inbox folder. BulkDataError (one line) when the server fails or refuses; the attempt is recorded
    as failed, nothing stays in the inbox and `_since` does not move, so a retry asks for the same."""
    inst.db.check_ready()
    since = inst.db.fhir_exports.since(source.group_id)
    try:
        with client(source.server) as bulk:
            result = _pull(bulk, source, inst.settings.inbox, since, at)
    except BulkDataError as exc:
        inst.db.fhir_exports.failed(source.group_id, str(exc), at=at)
        raise
    inst.db.fhir_exports.landed(source.group_id, result.transaction_time, result.folder or "", at=at)
    return result


def _pull(bulk: BulkDataClient, source: ExportSource, inbox_dir: Path, since: str | None,
          at: datetime) -> ExportResult:
    inbox_dir.mkdir(parents=True, exist_ok=True)
    slug = _slug(source.group_id)
    staging = inbox_dir / f".{PREFIX}{slug}.part"
    shutil.rmtree(staging, ignore_errors=True)  # what a killed attempt left
    staging.mkdir()
    try:
        job = bulk.kick_off(source.group_id, RESOURCE_TYPES, since)
        manifest = bulk.wait(job, max_wait=source.max_wait)
        resources, size = _download(bulk, manifest, staging)
        folder = _land(staging, inbox_dir, f"{PREFIX}{slug}-{at:%Y%m%dT%H%M%SZ}") if manifest.output else None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _done(bulk, job)
    return ExportResult(source.group_id, folder, since, manifest.transaction_time, dict(resources),
                        len(manifest.output), size, len(manifest.error), len(manifest.deleted))


def _download(bulk: BulkDataClient, manifest: Manifest, staging: Path) -> tuple[Counter[str], int]:
    """Every output file (named by its resource type, as the import reads them) and the server's error files
    (OperationOutcomes, kept in errors/ for the operator, not imported)."""
    resources: Counter[str] = Counter()
    size = 0
    total = len(manifest.output)
    for number, item in enumerate(manifest.output, 1):
        if not re.fullmatch(r"[A-Z][A-Za-z]{1,63}", item.type):
            raise BulkDataError(f"file {number} of {total} of the manifest has no FHIR resource type")
        lines, got = bulk.download(item, staging / f"{item.type}.{number:03d}.ndjson", manifest.requires_access_token,
                                   step=f"file {number} of {total}, {item.type}")
        resources[item.type] += lines
        size += got
    if manifest.error:
        (staging / "errors").mkdir()
        for number, item in enumerate(manifest.error, 1):
            bulk.download(item, staging / "errors" / f"OperationOutcome.{number:03d}.ndjson",
                          manifest.requires_access_token, step=f"error file {number} of {len(manifest.error)}")
    return resources, size


def _land(staging: Path, inbox_dir: Path, name: str) -> str:
    """Rename the complete staging folder into place (atomic: one file system); a new name if taken."""
    target, n = inbox_dir / name, 1
    while target.exists():
        n += 1
        target = inbox_dir / f"{name}-{n}"
    staging.rename(target)
    return target.name


def _done(bulk: BulkDataClient, job: ExportJob) -> None:
    """The files are ours: tell the server it may delete them (Bulk Data delete request; best effort)."""
    bulk.delete(job)


def _slug(group_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", group_id).strip("-")[:60] or "group"


def landed_exports(inst: Installation) -> list[str]:
    """The export folders waiting in the inbox, oldest first (staging folders are hidden and never listed)."""
    folder = inst.settings.inbox
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def import_landed(inst: Installation, name: str) -> dict[str, Any]:
    """Import one landed export folder and move it to processed/ (or to failed/ with why: the folder could
    not be read as a whole, nothing was imported). The folder name and counts only."""
    path = inst.settings.inbox / Path(name).name
    if not path.is_dir():  # taken by a concurrent run
        return {"folder": name, "status": "gone"}
    inst.db.check_ready()  # a database not at this netflow's schema: the folder waits in the inbox
    try:
        result = imports.import_files(inst, [path])
    except InputError as exc:
        inbox.failed(path, str(exc))
        return {"folder": name, "status": "failed", "error": str(exc)}
    inbox.processed(path)
    return {"folder": name, "status": "processed", "files": len(result.files), **asdict(result.total)}
