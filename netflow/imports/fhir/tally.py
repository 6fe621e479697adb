"""The second accounting line of a FHIR import: resources read, used and skipped, by type.

Every line (or Bundle entry) read is one resource used, one skipped (with its reason) or one unreadable
line (quarantined with the file and line number): read == used + skipped + unreadable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ResourceTally"]


@dataclass
class ResourceTally:
    read: Counter[str] = field(default_factory=Counter)
    used: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    unreadable: int = 0

    def merge(self, other: ResourceTally) -> None:
        self.read.update(other.read)
        self.used.update(other.used)
        self.skipped.update(other.skipped)
        self.reasons.update(other.reasons)
        self.unreadable += other.unreadable

    def skip(self, kind: str, reason: str, count: int = 1) -> None:
        self.skipped[kind] += count
        self.reasons[reason] += count

    def summary(self) -> str:
        """'resources: 12 read, 10 used, 1 skipped, 1 unreadable (read/used/skipped by type: Patient 2/2/0, ...);
        skipped: 1 not a NET patient'"""
        total_read = sum(self.read.values()) + self.unreadable
        types = ", ".join(f"{kind} {self.read[kind]}/{self.used[kind]}/{self.skipped[kind]}"
                          for kind in sorted(self.read))
        line = (f"resources: {total_read} read, {sum(self.used.values())} used, {sum(self.skipped.values())} skipped, "
                f"{self.unreadable} unreadable")
        if types:
            line += f" (read/used/skipped by type: {types})"
        if self.reasons:
            line += "; skipped: " + ", ".join(f"{n} {why}" for why, n in sorted(self.reasons.items()))
        return line

    def as_counts(self) -> dict[str, Any]:
        return {"read": dict(self.read), "used": dict(self.used), "skipped": dict(self.skipped),
                "reasons": dict(self.reasons), "unreadable": self.unreadable}
