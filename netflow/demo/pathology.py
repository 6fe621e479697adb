"""The index tumour: site, gastric type, grade, Ki-67, size, operation, nodes, margin, LVI, syndrome."""

from __future__ import annotations

import math
from random import Random
from typing import NamedTuple

from netflow.demo.draw import Weighted, between, normal
from netflow.demo.tables import (
    GASTRIC_TYPE_WEIGHTS,
    GRADE_MIX,
    LOCAL_EXCISION_NODES,
    LOCAL_EXCISION_RATE,
    LVI_REPORTED_RATE,
    LVI_TRUE_SHARE,
    MARGIN_WEIGHTS,
    MISSING_RATE,
    NODE_POSITIVE_RATE,
    NODES_EXAMINED,
    NODES_MISSING_RATE,
    SITE_WEIGHTS,
    SITES,
    SIZE_MEDIAN_MM,
    SYNDROMES,
)

__all__ = ["Pathology", "pathology"]

_SITE_TABLE = Weighted(SITES, SITE_WEIGHTS)
_GASTRIC_TYPE_TABLE: Weighted[int | None] = Weighted((1, 2, 3, None), GASTRIC_TYPE_WEIGHTS)
_GRADE_TABLES = {profile: Weighted(("G1", "G2", "G3", "NEC"), mix) for profile, mix in GRADE_MIX.items()}
_LOG_SIZE = {profile: (math.log(median), sigma) for profile, (median, sigma) in SIZE_MEDIAN_MM.items()}
_LOG_1_5 = math.log(1.5)
_MARGIN_TABLE: Weighted[str | None] = Weighted(("R0", "R1", "R2", None), MARGIN_WEIGHTS)
_NodeCounts = tuple[int | None, int | None]  # (nodes_positive, nodes_examined)
_LOCAL_NODES: Weighted[_NodeCounts] = Weighted(((None, None), (0, 0), (None, 0)), LOCAL_EXCISION_NODES)
_STOMACH_PROFILES = {1: "stomach/1", 2: "stomach/2", 3: "stomach/3"}


class Pathology(NamedTuple):
    """What the pathology report says; `None` where the field was left blank."""

    site: str
    differentiation: str
    grade: int | None
    ki67_percent: float | None
    tumor_size_mm: float | None
    nodes_positive: int | None
    nodes_examined: int | None
    margin: str | None
    resection_type: str | None
    lymphovascular_invasion: bool | None
    gastric_type: int | None
    hereditary_syndrome: str | None

    @property
    def high_risk_looking(self) -> bool:
        """What a clinician would read as aggressive: positive nodes, Ki-67 > 5, G3, R1, LVI, NEC."""
        return (
            (self.nodes_positive or 0) > 0
            or (self.ki67_percent or 0.0) > 5
            or self.grade == 3
            or self.margin == "R1"
            or self.lymphovascular_invasion is True
            or self.differentiation == "poor"
        )


# Ki-67 (%) by grade as (lowest, range): uniform, except G2, skewed towards its low end.
_KI67 = {"G1": (0.2, 2.7), "G2": (3.0, 17.0), "G3": (21.0, 34.0), "NEC": (40.0, 55.0)}


def _ki67(rng: Random, grade: str) -> float:
    """Ki-67 consistent with the WHO grade (G1 < 3, G2 3-20, G3 > 20; NEC 40-95)."""
    low, span = _KI67[grade]
    value = low + span * (rng.random() ** 1.8 if grade == "G2" else rng.random())
    return round(value) if value >= 10 or rng.random() < 0.3 else round(value, 1)


def _stated_grade(rng: Random, grade: str, ki67: float | None) -> int | None:
    """The WHO grade as reported; about one in twenty is discordant with the Ki-67 by one step."""
    stated = 3 if grade in ("G3", "NEC") else int(grade[1])
    if ki67 is not None and rng.random() < 0.05:
        stated = min(3, stated + 1) if stated < 3 and rng.random() < 0.6 else max(1, stated - 1)
    return stated


def _size(rng: Random, profile: str, grade: str) -> float:
    log_median, sigma = _LOG_SIZE[profile]
    if grade == "NEC":
        log_median += _LOG_1_5
    size = min(180.0, max(1.0, math.exp(normal(rng, log_median, sigma))))
    return round(size) if size >= 5 or rng.random() < 0.5 else round(size, 1)


def _resection_type(rng: Random, profile: str, grade: str, size: float | None) -> str:
    """Local excision for most small appendiceal, rectal and gastric type 1 and 2 tumours; a formal
    resection otherwise."""
    rates = LOCAL_EXCISION_RATE.get(profile)
    if rates is None:
        return "formal_resection"
    if grade in ("G3", "NEC") or (size is not None and size > 20):
        rate = rates[2]
    else:
        rate = rates[0] if size is not None and size < 10 else rates[1]
    return "local_excision" if rng.random() < rate else "formal_resection"


def _nodes(rng: Random, site: str, profile: str, grade: str, size: float | None) -> _NodeCounts:
    """The nodes of a formal resection: examined, some positive, now and then not documented."""
    if rng.random() < NODES_MISSING_RATE[site]:
        return None, None
    rate = NODE_POSITIVE_RATE[profile]
    if site in ("rectum", "appendix") and size is not None and size > 20:
        rate = 0.45
    if grade == "NEC":
        rate = min(0.9, rate + 0.3)
    low, high = NODES_EXAMINED[site]
    examined = between(rng, low, high)
    positive = 0
    if rng.random() < rate:
        positive = 1 + int(-math.log(1.0 - rng.random()) / 0.4)  # exponential, mean 2.5
        examined = max(examined, positive + between(rng, 0, 6))
    if rng.random() < 0.03:
        return positive, None
    return positive, examined


def _lymphovascular_invasion(rng: Random, resection: str, adverse: bool) -> bool | None:
    """Mostly not reported (null); when reported, true more often with adverse features."""
    if rng.random() >= LVI_REPORTED_RATE[resection]:
        return None
    return rng.random() < LVI_TRUE_SHARE[adverse]


def _syndrome(rng: Random, profile: str) -> str | None:
    options = SYNDROMES.get(profile)
    if options is None:
        return None
    roll = rng.random()
    for syndrome, share in options:
        if roll < share:
            return syndrome
        roll -= share
    return None


def pathology(rng: Random) -> Pathology:
    """One resected tumour, its features drawn together so that they agree most of the time."""
    site = _SITE_TABLE.pick(rng)
    gastric_type = _GASTRIC_TYPE_TABLE.pick(rng) if site == "stomach" else None
    profile = site if gastric_type is None else _STOMACH_PROFILES[gastric_type]
    grade = _GRADE_TABLES[profile].pick(rng)
    ki67 = None if rng.random() < MISSING_RATE["ki67_percent"] else _ki67(rng, grade)
    stated = None if rng.random() < MISSING_RATE["grade"] else _stated_grade(rng, grade, ki67)
    size = None if rng.random() < MISSING_RATE["tumor_size_mm"] else _size(rng, profile, grade)
    resection = _resection_type(rng, profile, grade, size)
    if resection == "local_excision":
        positive, examined = _LOCAL_NODES.pick(rng)
    else:
        positive, examined = _nodes(rng, site, profile, grade, size)
    margin = _MARGIN_TABLE.pick(rng)
    if grade == "NEC" and margin == "R0" and rng.random() < 0.15:
        margin = "R1"
    adverse = bool(positive) or grade in ("G3", "NEC") or (size is not None and size > 20)
    lvi = _lymphovascular_invasion(rng, resection, adverse)
    recorded = None if rng.random() < MISSING_RATE["resection_type"] else resection
    differentiation = "poor" if grade == "NEC" else "well"
    syndrome = _syndrome(rng, profile)
    return Pathology(
        site, differentiation, stated, ki67, size, positive, examined, margin, recorded, lvi, gastric_type, syndrome,
    )
