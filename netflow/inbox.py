"""Import export files dropped in an inbox folder; each ends in processed/ or failed/, never lost.

    inbox/                  new files land here (a file being written should end in .part or .tmp)
    inbox/processed/        imported files (bad rows are quarantined, not lost)
    inbox/failed/           files that could not be read at all, with a .error.txt beside each
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from netflow.adapters.db import make_engine
from netflow.adapters.patients import PatientStore
from netflow.config import Settings
from netflow.importer import import_source
from netflow.readers import SourceError, open_source

__all__ = ["inbox_files", "import_inbox_file"]

IN_PROGRESS = (".part", ".tmp", ".partial")


def inbox_files(inbox: Path) -> list[str]:
    """The files waiting in the inbox, oldest name first (hidden and in-progress files skipped)."""
    if not inbox.is_dir():
        return []
    return sorted(p.name for p in inbox.iterdir()
                  if p.is_file() and not p.name.startswith(".") and not p.name.endswith(IN_PROGRESS))


def _move(path: Path, folder: str) -> Path:
    target_dir = path.parent / folder
    target_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = target_dir / f"{stamp}-{path.name}"
    path.replace(target)
    return target


def import_inbox_file(config: Settings, name: str, guidelines: tuple[str, ...]) -> dict[str, Any]:
    """Import one inbox file and move it; returns counts (file names and numbers only)."""
    path = config.inbox / Path(name).name
    if not path.is_file():  # taken by a concurrent run: nothing to do
        return {"file": name, "status": "gone"}
    try:
        source = open_source(path)
        engine = make_engine(config.database_url)
        try:
            counts = import_source(PatientStore(engine), source, guidelines)
        finally:
            engine.dispose()
    except SourceError as exc:
        moved = _move(path, "failed")
        moved.with_name(moved.name + ".error.txt").write_text(f"{exc}\n", encoding="utf-8")
        return {"file": name, "status": "failed", "error": str(exc)}
    _move(path, "processed")
    return {"file": name, "status": "processed", **asdict(counts)}
