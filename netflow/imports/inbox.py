"""The inbox folder where export files are dropped; each file ends in processed/ or failed/, never lost.

    inbox/                  new files land here (a file being written should end in .part or .tmp)
    inbox/processed/        imported files (bad rows are quarantined, not lost)
    inbox/failed/           files that could not be read at all, with a .error.txt beside each
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

__all__ = ["failed", "inbox_files", "processed", "waiting"]

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


def waiting(inbox: Path, name: str) -> Path | None:
    """The inbox file called `name` (a plain name, never a path), or None when another run took it."""
    path = inbox / Path(name).name
    return path if path.is_file() else None


def processed(path: Path) -> Path:
    """Move an imported file to processed/ (its bad rows are in quarantine)."""
    return _move(path, "processed")


def failed(path: Path, error: str) -> Path:
    """Move a file that could not be read at all to failed/, with a .error.txt beside it saying why."""
    moved = _move(path, "failed")
    moved.with_name(moved.name + ".error.txt").write_text(f"{error}\n", encoding="utf-8")
    return moved
