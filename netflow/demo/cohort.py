"""A whole synthetic cohort: its care teams, and its patients as JSON-ready records, made lazily."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from random import Random
from typing import NamedTuple

from netflow.demo.defects import apply_defect
from netflow.demo.draw import Weighted, between, normal
from netflow.demo.followup import follow_up_plan, imaging_history, outcome
from netflow.demo.names import person_name
from netflow.demo.pathology import pathology
from netflow.demo.tables import GUIDELINE_OVERRIDES
from netflow.demo.teams import DemoTeam, TeamPicker, make_care_teams, team_count

__all__ = [
    "BLOCK_SIZE",
    "DEFAULT_AS_OF",
    "DEFAULT_MALFORMED_RATE",
    "MAX_PATIENTS",
    "Cohort",
    "DemoPatient",
    "build_cohort",
    "generate_patients",
]

DEFAULT_AS_OF = date(2026, 12, 1)
DEFAULT_MALFORMED_RATE = 0.02
MAX_PATIENTS = 10_000_000  # "MRN" + 7 digits
BLOCK_SIZE = 10_000  # part of the cohort's definition: changing it changes the bytes
_YEAR_DAYS = 365.2425
_HISTORY_DAYS = 4383  # resections spread over the 12 years before as-of
_GUIDELINE: Weighted[str | None] = Weighted(
    (*(name for name, _ in GUIDELINE_OVERRIDES), None),
    (*(share for _, share in GUIDELINE_OVERRIDES), 1.0 - sum(share for _, share in GUIDELINE_OVERRIDES)),
)


class DemoPatient(NamedTuple):
    """One generated record (a JSON-ready dict in the spec's field order) and its intended defect."""

    record: dict[str, object]
    defect: str | None


class _IsoDays(dict[int, str]):
    """Day ordinal -> 'YYYY-MM-DD', computed once per day."""

    def __missing__(self, ordinal: int) -> str:
        text = self[ordinal] = date.fromordinal(ordinal).isoformat()
        return text


class _Mrns:
    """Unique 'MRN' + 7 digits for indexes 0..9,999,999: a keyed Feistel permutation, cycle-walked.

    Four rounds on two 12-bit halves, each round's function a table of 4096 random values.
    """

    def __init__(self, rng: Random) -> None:
        self._rounds = tuple(tuple(rng.getrandbits(12) for _ in range(4096)) for _ in range(4))
        self._offset = rng.randrange(MAX_PATIENTS)

    def _permute(self, value: int) -> int:
        first, second, third, fourth = self._rounds
        left, right = value >> 12, value & 0xFFF
        left ^= first[right]
        right ^= second[left]
        left ^= third[right]
        right ^= fourth[left]
        return (left << 12) | right

    def __call__(self, index: int) -> str:
        value = self._permute((index + self._offset) % MAX_PATIENTS)
        while value >= MAX_PATIENTS:
            value = self._permute(value)
        return f"MRN{value:07d}"


def _age_at_resection(rng: Random, site: str, syndrome: str | None) -> int:
    if syndrome is not None:
        mean, low = 42.0, 25
    elif site == "appendix":
        mean, low = 45.0, 25
    elif site in ("lung", "thymus"):
        mean, low = 56.0, 25
    else:
        mean, low = 61.0, 30
    return int(min(85.0, max(low, normal(rng, mean, 12.0))))


class _Factory:
    """What every block of a cohort shares: the MRN permutation, the team picker, the date cache."""

    def __init__(self, rng: Random, teams: Sequence[DemoTeam], as_of: date) -> None:
        self.mrn = _Mrns(rng)
        self.picker = TeamPicker(rng, teams)
        self.as_of = as_of
        self.iso = _IsoDays()

    def patients(self, rng: Random, first_index: int, count: int, malformed_rate: float) -> Iterator[DemoPatient]:
        as_of, mrn, iso, pick_team, pick_guideline = self.as_of, self.mrn, self.iso, self.picker.pick, _GUIDELINE.pick
        today = as_of.toordinal()
        for index in range(first_index, first_index + count):
            tumour = pathology(rng)
            first, last = person_name(rng)
            resection = today - int(_HISTORY_DAYS * (1.0 - rng.random() ** 0.85))
            age = _age_at_resection(rng, tumour.site, tumour.hereditary_syndrome)
            birth = resection - int(age * _YEAR_DAYS) - between(rng, 1, 364)
            intense, poor = tumour.high_risk_looking, tumour.differentiation == "poor"
            young_until = birth + int(50 * _YEAR_DAYS)
            scans = imaging_history(rng, follow_up_plan(tumour, intense), intense, poor, young_until, resection, today)
            after = outcome(rng, scans, intense, poor, age, resection, today)
            record: dict[str, object] = {
                "patient_id": mrn(index),
                "name": f"{first} {last}",
                "birth_date": iso[birth],
                "care_team": pick_team(rng, tumour.site),
                "primary_site": tumour.site,
                "differentiation": tumour.differentiation,
                "grade": tumour.grade,
                "ki67_percent": tumour.ki67_percent,
                "tumor_size_mm": tumour.tumor_size_mm,
                "nodes_positive": tumour.nodes_positive,
                "nodes_examined": tumour.nodes_examined,
                "margin": tumour.margin,
                "resection_type": tumour.resection_type,
                "lymphovascular_invasion": tumour.lymphovascular_invasion,
                "gastric_type": tumour.gastric_type,
                "hereditary_syndrome": tumour.hereditary_syndrome,
                "resection_date": iso[resection],
                "imaging": [{"date": iso[day], "modality": modality} for day, modality in after.imaging],
                "status": after.status,
                "status_date": None if after.status_date is None else iso[after.status_date],
                "guideline": pick_guideline(rng),
            }
            defect = apply_defect(rng, record, as_of) if rng.random() < malformed_rate else None
            yield DemoPatient(record, defect)


def generate_patients(
    rng: Random,
    as_of: date,
    teams: Sequence[DemoTeam],
    count: int,
    malformed_rate: float = DEFAULT_MALFORMED_RATE,
) -> Iterator[DemoPatient]:
    """`count` patients, lazily, all drawn from `rng`: the same rng state gives the same patients."""
    if not 0 <= count <= MAX_PATIENTS:
        raise ValueError(f"count must be 0-{MAX_PATIENTS}, got {count}")
    return _Factory(rng, teams, as_of).patients(rng, 0, count, malformed_rate)


@dataclass(frozen=True)
class Cohort:
    """A reproducible cohort: its care teams, and its patients on demand.

    Patients come in blocks of `block_size`, each drawn from its own `Random` seeded from the
    cohort's seed and the block number, so blocks can be made in any order or in parallel and
    still give the same bytes.
    """

    seed: int
    size: int
    as_of: date
    malformed_rate: float
    teams: tuple[DemoTeam, ...]
    block_size: int = BLOCK_SIZE

    @property
    def blocks(self) -> int:
        return -(-self.size // self.block_size)

    def block(self, number: int) -> Iterator[DemoPatient]:
        """The patients of block `number` (0-based); each call starts afresh."""
        if not 0 <= number < self.blocks:
            raise IndexError(f"block {number} is outside 0-{self.blocks - 1}")
        first = number * self.block_size
        count = min(self.block_size, self.size - first)
        rng = Random(f"netflow-demo/{self.seed}/patients/{number}")
        return _factory(self).patients(rng, first, count, self.malformed_rate)

    def patients(self) -> Iterator[DemoPatient]:
        """Every patient, in order; each call starts afresh."""
        for number in range(self.blocks):
            yield from self.block(number)


@lru_cache(maxsize=4)
def _factory(cohort: Cohort) -> _Factory:
    return _Factory(Random(f"netflow-demo/{cohort.seed}/ids"), cohort.teams, cohort.as_of)


def build_cohort(
    seed: int,
    size: int,
    as_of: date = DEFAULT_AS_OF,
    malformed_rate: float = DEFAULT_MALFORMED_RATE,
    block_size: int = BLOCK_SIZE,
) -> Cohort:
    """The cohort for a seed: 4-8 care teams (more for larger cohorts) and `size` patients."""
    if not 0.0 <= malformed_rate <= 1.0:
        raise ValueError(f"malformed_rate must be between 0 and 1, got {malformed_rate}")
    if not 0 <= size <= MAX_PATIENTS:
        raise ValueError(f"size must be 0-{MAX_PATIENTS}, got {size}")
    if block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {block_size}")
    teams = make_care_teams(Random(f"netflow-demo/{seed}/teams"), team_count(size))
    return Cohort(seed, size, as_of, malformed_rate, teams, block_size)
