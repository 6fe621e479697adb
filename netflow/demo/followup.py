"""After the resection: the imaging a patient actually had, and what became of them.

Each tumour gets a follow-up *plan*, roughly what its clinic would book (NCCN v2.2025):
cross-sectional imaging (CT or MRI; a chest CT is a "CT"), tighter for the pancreas; yearly
gastroscopy for gastric type 1 and 2; an endoscopy with EUS or rectal MRI at 6 and 12 months
for a 10-20 mm rectal tumour; scans every 2-5 years, or none, for a 10-20 mm appendiceal one;
none, mostly, for a G1 R0 one under 10 mm. The patient's adherence profile then decides which
visits happen.

Dates are day ordinals (`date.toordinal()`) here: cheap to add and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import NamedTuple

from netflow.demo.draw import Weighted, between
from netflow.demo.pathology import Pathology
from netflow.demo.tables import (
    FOLLOW_UP_PROFILES,
    GASTROSCOPY_CT_RATE,
    OPTIONAL_IMAGING_RATE,
    RECTAL_LOCAL_STUDY,
    UNINDICATED_IMAGING_RATE,
)

__all__ = ["PLANS", "FollowUp", "follow_up_plan", "imaging_history", "outcome"]

_MONTH_DAYS = 30.44
_TEN_YEARS_DAYS = 3653

_PROFILES = Weighted([name for name, _ in FOLLOW_UP_PROFILES], [weight for _, weight in FOLLOW_UP_PROFILES])
# Surveillance studies as (commonest, its share, next, both shares): MRI favoured under 50; the
# remaining 5 % are studies that do not count as surveillance imaging (_NOT_COUNTING).
_UNDER_50 = ("MRI", 0.57, "CT", 0.95)
_FROM_50 = ("CT", 0.66, "MRI", 0.95)
_NOT_COUNTING = Weighted(("SSTR_PET", "US", "EUS", "FDG_PET", "other"), (40, 20, 10, 10, 20))
_EXTRA = Weighted(("SSTR_PET", "US", "EUS", "FDG_PET", "other"), (45, 30, 10, 5, 10))
_LOCAL_STUDY = Weighted([name for name, _ in RECTAL_LOCAL_STUDY], [weight for _, weight in RECTAL_LOCAL_STUDY])
# Studies on which a recurrence can be found (and after which imaging stops).
_DETECTING = frozenset(("CT", "MRI", "endoscopy", "EUS"))

Months = Callable[[Callable[[], float], bool, bool, int, float], int]
Scans = list[tuple[int, str]]
Studies = Callable[[Random, list[int], int, Scans], None]


class FollowUp(NamedTuple):
    """Imaging as (day ordinal, modality) in date order, the status and when it took effect."""

    imaging: Scans
    status: str
    status_date: int | None


def follow_up_plan(tumour: Pathology, intense: bool) -> str:
    """The plan the clinic books for this tumour (`intense`: it looks high risk): one of `PLANS`."""
    site, size = tumour.site, tumour.tumor_size_mm
    if site == "pancreas":
        return "pancreas"
    if intense:
        return "cross_sectional"
    if site == "stomach" and tumour.gastric_type in (1, 2):
        return "gastroscopy"
    if site in ("appendix", "rectum") and size is not None and size <= 20:
        if size < 10 and tumour.grade == 1 and tumour.margin == "R0":
            return "none_expected"
        return "optional" if site == "appendix" else "rectal_course"
    return "cross_sectional"


def _early_months(rand: Callable[[], float], intense: bool, poor: bool, years: float) -> int:
    """The first scan (3, 6 or 12 months), and every scan of a NEC (3-monthly, 6-monthly after 2 years)."""
    if poor:
        return 3 if years < 2 else 6
    if intense or rand() < 0.3:
        return 3
    return 6 if rand() < 0.6 else 12


def _abdominal_months(rand: Callable[[], float], intense: bool, poor: bool, number: int, years: float) -> int:
    """Roughly what a clinic books outside the pancreas: yearly, then every 1-2 years after 3 years."""
    if poor or number == 0:
        return _early_months(rand, intense, poor, years)
    if intense or years < 3:
        return 12
    return 12 if rand() < 0.5 else 24


def _pancreas_months(rand: Callable[[], float], intense: bool, poor: bool, number: int, years: float) -> int:
    """The pancreas: every 6-12 months, 6 when the tumour looks aggressive."""
    if poor or number == 0:
        return _early_months(rand, intense, poor, years)
    return 6 if intense or rand() < 0.45 else 12


def _sparse_months(rand: Callable[[], float], intense: bool, poor: bool, number: int, years: float) -> int:
    """Optional follow-up of a 10-20 mm appendiceal tumour: every 2 to 5 years."""
    return 24 + int(rand() * 37)


def _gastroscopy_months(rand: Callable[[], float], intense: bool, poor: bool, number: int, years: float) -> int:
    """Gastroscopy after a year, then mostly yearly, now and then after 2 or 3 years."""
    if number == 0 or rand() < 0.7:
        return 12
    return 24 if rand() < 0.7 else 36


def _rectal_months(rand: Callable[[], float], intense: bool, poor: bool, number: int, years: float) -> int:
    """The rectal short course: at 6 and at 12 months."""
    return 6


def _cross_sectional(rng: Random, days: list[int], young_until: int, scans: Scans) -> None:
    """CT or MRI at each visit (MRI favoured under 50), a few other studies, a few extras.

    The hottest loop of the generator, hence the local names.
    """
    rand = rng.random
    young_first, young_share, young_next, young_both = _UNDER_50
    old_first, old_share, old_next, old_both = _FROM_50
    for when in days:
        roll = rand()
        if when < young_until:
            modality = young_first if roll < young_share else young_next if roll < young_both else None
        else:
            modality = old_first if roll < old_share else old_next if roll < old_both else None
        scans.append((when, modality or _NOT_COUNTING.pick(rng)))
        if rand() < 0.04:
            scans.append((when + 14 + int(rand() * 107), _EXTRA.pick(rng)))


def _gastroscopies(rng: Random, days: list[int], young_until: int, scans: Scans) -> None:
    """A gastroscopy ("endoscopy") at each visit, now and then a CT within the month."""
    rand = rng.random
    for when in days:
        scans.append((when, "endoscopy"))
        if rand() < GASTROSCOPY_CT_RATE:
            scans.append((when + int(rand() * 30), "CT"))


def _rectal_visits(rng: Random, days: list[int], young_until: int, scans: Scans) -> None:
    """An endoscopy and a local study (EUS the same day, or a rectal MRI within three weeks) at each visit."""
    rand = rng.random
    for when in days:
        scans.append((when, "endoscopy"))
        study = _LOCAL_STUDY.pick(rng)
        scans.append((when if study == "EUS" else when + int(rand() * 22), study))


class _Plan(NamedTuple):
    """How a plan books visits (months to the next), the studies of each visit, and how many visits at most.

    `imaged` is the share of patients on this plan who are followed at all.
    """

    months: Months
    studies: Studies
    imaged: float
    visits: int


PLANS: dict[str, _Plan] = {
    "cross_sectional": _Plan(_abdominal_months, _cross_sectional, 1.0, 1000),
    "pancreas": _Plan(_pancreas_months, _cross_sectional, 1.0, 1000),
    "gastroscopy": _Plan(_gastroscopy_months, _gastroscopies, 1.0, 1000),
    "rectal_course": _Plan(_rectal_months, _rectal_visits, 1.0, 2),
    "optional": _Plan(_sparse_months, _cross_sectional, OPTIONAL_IMAGING_RATE, 1000),
    "none_expected": _Plan(_abdominal_months, _cross_sectional, UNINDICATED_IMAGING_RATE, 2),
}

# Staging before the resection: how often, and which study.
_STAGING: dict[str, tuple[float, Weighted[str]]] = {
    "cross_sectional": (0.7, Weighted(("CT", "MRI", "SSTR_PET"), (60, 25, 15))),
    "gastroscopy": (0.9, Weighted(("endoscopy", "CT", "EUS"), (70, 20, 10))),
    "rectal_course": (0.8, Weighted(("endoscopy", "EUS", "MRI", "CT"), (40, 25, 25, 10))),
    "none_expected": (0.4, Weighted(("endoscopy", "CT", "US"), (45, 40, 15))),
}
_STAGING["pancreas"] = _STAGING["optional"] = _STAGING["cross_sectional"]


def _visit_days(
    rand: Callable[[], float], months: Months, profile: str, intense: bool, poor: bool,
    resection: int, end: int, limit: int,
) -> list[int]:
    """The days of the visits that happen, up to `end`: near each due date, later and later, or at random."""
    drifting, erratic = profile == "drifting", profile == "erratic"
    days: list[int] = []
    last, number = resection, 0
    while number < limit:
        if erratic:
            gap = 60 + int(rand() * 841)
        else:
            gap = int(months(rand, intense, poor, number, (last - resection) / 365.25) * _MONTH_DAYS)
            if drifting:
                gap += int(rand() * 46) + number * (15 + int(rand() * 46))
            else:
                gap += int(rand() * 50) - 21
        last += gap
        if last > end:
            break
        days.append(last)
        number += 1
    return days


def imaging_history(
    rng: Random, plan: str, intense: bool, poor: bool, young_until: int, resection: int, as_of: int,
) -> Scans:
    """Staging before surgery, then the plan's visits as the patient's adherence allows, up to as_of."""
    rand = rng.random
    scans: Scans = []
    staging_rate, staging = _STAGING[plan]
    if rand() < staging_rate:
        scans.append((resection - 7 - int(rand() * 69), staging.pick(rng)))
    profile = _PROFILES.pick(rng)
    if profile == "never":
        if rand() < 0.3:
            scans.append((resection + 30 + int(rand() * 371), _EXTRA.pick(rng)))
        return [scan for scan in scans if scan[0] <= as_of]
    months, studies, imaged, limit = PLANS[plan]
    if imaged < 1.0 and rand() >= imaged:
        limit = 0
    if profile == "lost":
        limit = min(limit, int(rand() * 5))
    end = min(as_of, resection + _TEN_YEARS_DAYS + int(rand() * 241)) if rand() < 0.8 else as_of
    studies(rng, _visit_days(rand, months, profile, intense, poor, resection, end, limit), young_until, scans)
    scans.sort()
    while scans and scans[-1][0] > as_of:
        scans.pop()
    return scans


def _first_detecting_from(scans: Scans, day: int) -> int | None:
    for when, modality in scans:
        if when >= day and modality in _DETECTING:
            return when
    return None


def outcome(
    rng: Random, scans: Scans, intense: bool, poor: bool, age: int, resection: int, as_of: int,
) -> FollowUp:
    """Recurrence (found on a scan or an endoscopy), death, opting out or transfer; imaging stops with them."""
    if as_of - resection < 90:
        return FollowUp(scans, "active", None)
    status, when, cut = "active", 0, as_of
    if rng.random() < 0.03 + 0.09 * intense + 0.30 * poor:
        onset = resection + 90 + int(rng.expovariate(1 / 1100))
        if onset < as_of:
            detected = _first_detecting_from(scans, onset)
            cut = detected if detected is not None else onset
            status, when = "recurrence", min(as_of, cut + between(rng, 2, 28))
    death = 0.02 + max(0, age - 60) * 0.006 + 0.30 * poor + 0.25 * (status == "recurrence")
    if rng.random() < death:
        start = (when if status != "active" else resection) + 30
        if start < as_of:
            died = between(rng, start, as_of)
            status, when, cut = "deceased", died, min(cut, died)
    elif status == "active" and rng.random() < 0.05:
        status = "opted_out" if rng.random() < 0.4 else "transferred"
        when = between(rng, resection + 60, as_of)
        cut = when
    if cut < as_of:
        scans = [scan for scan in scans if scan[0] <= cut]
    if status == "recurrence" and rng.random() < 0.5 and when + 35 <= as_of:
        scans.append((when + between(rng, 5, 35), "SSTR_PET"))
    if status == "active":
        return FollowUp(scans, status, None)
    return FollowUp(scans, status, None if rng.random() < 0.05 else when)
