"""After the resection: the imaging a patient actually had, and what became of them.

Dates are day ordinals (`date.toordinal()`) here: cheap to add and compare.
"""

from __future__ import annotations

from collections.abc import Callable
from random import Random
from typing import NamedTuple

from netflow.demo.draw import Weighted, between
from netflow.demo.tables import FOLLOW_UP_PROFILES

__all__ = ["FollowUp", "imaging_history", "outcome"]

_MONTH_DAYS = 30.44
_TEN_YEARS_DAYS = 3653

_PROFILES = Weighted([name for name, _ in FOLLOW_UP_PROFILES], [weight for _, weight in FOLLOW_UP_PROFILES])
# Surveillance studies as (commonest, its share, next, both shares): MRI favoured under 50; the
# remaining 5 % are studies that do not count as surveillance imaging (_NOT_COUNTING).
_UNDER_50 = ("MRI", 0.57, "CT", 0.95)
_FROM_50 = ("CT", 0.66, "MRI", 0.95)
_NOT_COUNTING = Weighted(("SSTR_PET", "US", "EUS", "FDG_PET", "other"), (40, 20, 10, 10, 20))
_EXTRA = Weighted(("SSTR_PET", "US", "EUS", "FDG_PET", "other"), (45, 30, 10, 5, 10))
_STAGING = Weighted(("CT", "MRI", "SSTR_PET"), (60, 25, 15))
_QUALIFYING = ("CT", "MRI")


class FollowUp(NamedTuple):
    """Imaging as (day ordinal, modality) in date order, the status and when it took effect."""

    imaging: list[tuple[int, str]]
    status: str
    status_date: int | None


def _interval_months(rand: Callable[[], float], pancreas: bool, intense: bool, poor: bool,
                     number: int, years: float) -> int:
    """Roughly what a clinic books: NCCN-like, tighter when the tumour looks aggressive."""
    if poor:
        return 3 if years < 2 else 6
    if number == 0:
        if intense or rand() < 0.3:
            return 3
        return 6 if rand() < 0.6 else 12
    if pancreas:
        return 6 if intense or rand() < 0.45 else 12
    if intense or years < 3:
        return 12
    return 12 if rand() < 0.5 else 24


def imaging_history(
    rng: Random, site: str, intense: bool, poor: bool, young_until: int, resection: int, as_of: int,
) -> list[tuple[int, str]]:
    """Staging before surgery, then surveillance scans as the patient's adherence allows, up to as_of.

    The hottest loop of the generator, hence the local names.
    """
    rand = rng.random
    scans: list[tuple[int, str]] = []
    if rand() < 0.7:
        scans.append((resection - 7 - int(rand() * 69), _STAGING.pick(rng)))
    profile = _PROFILES.pick(rng)
    if profile == "never":
        if rand() < 0.3:
            extra = resection + 30 + int(rand() * 371)
            if extra <= as_of:
                scans.append((extra, _EXTRA.pick(rng)))
        return scans
    stop_after = int(rand() * 5) if profile == "lost" else 1000
    end = min(as_of, resection + _TEN_YEARS_DAYS + int(rand() * 241)) if rand() < 0.8 else as_of
    pancreas, drifting, erratic = site == "pancreas", profile == "drifting", profile == "erratic"
    young_first, young_share, young_next, young_both = _UNDER_50
    old_first, old_share, old_next, old_both = _FROM_50
    last, number = resection, 0
    while number < stop_after:
        if erratic:
            gap = 60 + int(rand() * 841)
        else:
            months = _interval_months(rand, pancreas, intense, poor, number, (last - resection) / 365.25)
            gap = int(months * _MONTH_DAYS)
            if drifting:
                gap += int(rand() * 46) + number * (15 + int(rand() * 46))
            else:
                gap += int(rand() * 50) - 21
        when = last + gap
        if when > end:
            break
        roll = rand()
        if when < young_until:
            modality = young_first if roll < young_share else young_next if roll < young_both else None
        else:
            modality = old_first if roll < old_share else old_next if roll < old_both else None
        scans.append((when, modality or _NOT_COUNTING.pick(rng)))
        if rand() < 0.04:
            extra = when + 14 + int(rand() * 107)
            if extra <= as_of:
                scans.append((extra, _EXTRA.pick(rng)))
        last, number = when, number + 1
    scans.sort()
    return scans


def _first_qualifying_from(scans: list[tuple[int, str]], day: int) -> int | None:
    for when, modality in scans:
        if when >= day and modality in _QUALIFYING:
            return when
    return None


def outcome(
    rng: Random, scans: list[tuple[int, str]], intense: bool, poor: bool, age: int, resection: int, as_of: int,
) -> FollowUp:
    """Recurrence (found on a scan), death, opting out or transfer; imaging stops with them."""
    if as_of - resection < 90:
        return FollowUp(scans, "active", None)
    status, when, cut = "active", 0, as_of
    if rng.random() < 0.03 + 0.09 * intense + 0.30 * poor:
        onset = resection + 90 + int(rng.expovariate(1 / 1100))
        if onset < as_of:
            detected = _first_qualifying_from(scans, onset)
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
