"""Guideline rule sets as immutable domain objects (loaded from data by netflow.guidelines)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from netflow.domain.dates import add_months

__all__ = ["TIERS", "Interval", "NotIndicatedWhen", "Phase", "Rule", "RuleBook", "RuleSet"]

TIERS = ("high", "standard", "low")


@dataclass(frozen=True, slots=True)
class Interval:
    """A window for the next scan, in months from the anchor: [min, max]."""

    min_months: int
    max_months: int

    def as_list(self) -> list[int]:
        return [self.min_months, self.max_months]

    def describe(self) -> str:
        if self.min_months == self.max_months:
            return f"{self.min_months} months"
        return f"{self.min_months}-{self.max_months} months"


@dataclass(frozen=True, slots=True)
class Phase:
    """Follow-up interval after a scan; applies while the last scan is before `until_month`."""

    interval: Interval
    until_month: int | None = None


@dataclass(frozen=True, slots=True)
class NotIndicatedWhen:
    """A low-risk case for which the guideline plans no surveillance imaging."""

    sites: frozenset[str] | None = None
    size_below_mm: float | None = None

    def matches(self, site: str, size_mm: float | None) -> bool:
        if self.sites is not None and site not in self.sites:
            return False
        if self.size_below_mm is not None and (size_mm is None or size_mm >= self.size_below_mm):
            return False
        return True


@dataclass(frozen=True)
class Rule:
    """The schedule for one site group and risk tier, with where it comes from."""

    id: str
    site_group: str
    tier: str
    first_scan: Interval | None
    then: tuple[Phase, ...]
    not_indicated: tuple[NotIndicatedWhen, ...] = ()
    source: str = ""
    summary: str = ""
    project_choice: str | None = None

    def is_not_indicated(self, site: str, size_mm: float | None) -> bool:
        return any(case.matches(site, size_mm) for case in self.not_indicated)

    def interval_after(self, anchor: date, last_scan: date | None) -> Interval:
        """The interval for the next window: the first scan's, or the phase chosen by the last scan."""
        if last_scan is None:
            assert self.first_scan is not None
            return self.first_scan
        for phase in self.then:
            if phase.until_month is None or last_scan < add_months(anchor, phase.until_month):
                return phase.interval
        return self.then[-1].interval


@dataclass(frozen=True)
class RuleSet:
    """One guideline: which sites form which group, and a rule per group and tier."""

    id: str
    title: str
    short_name: str
    version: str
    sources: Mapping[str, str]
    site_groups: Mapping[str, str]  # primary site -> site group
    rules: Mapping[tuple[str, str], Rule]  # (site group, tier) -> rule
    lead_days: int = 30
    grace_days: int = 30
    escalation_days: int = 90
    horizon_months: int = 120
    mri_below_age: int = 50
    path: str = ""

    def rule_for(self, site: str, tier: str) -> Rule:
        return self.rules[(self.site_groups[site], tier)]

    def citation(self) -> str:
        return "; ".join(self.sources.values())


@dataclass(frozen=True)
class RuleBook:
    """Every rule set the installation knows, and which one applies by default."""

    rulesets: Mapping[str, RuleSet]
    default: str = "nccn"
    _ids: tuple[str, ...] = field(default=(), repr=False)

    def __post_init__(self) -> None:
        if self.default not in self.rulesets:
            known = ", ".join(sorted(self.rulesets))
            raise ValueError(f"default guideline {self.default!r} is not a known rule set ({known})")
        object.__setattr__(self, "_ids", tuple(self.rulesets))

    @property
    def ids(self) -> tuple[str, ...]:
        return self._ids

    def with_default(self, default: str) -> RuleBook:
        return RuleBook(self.rulesets, default)

    def __getitem__(self, guideline: str) -> RuleSet:
        return self.rulesets[guideline]


def guideline_for(record_guideline: str | None, team_guideline: str | None, book: RuleBook) -> str:
    """Which rule set applies to a patient: the record's own, else the care team's, else the book's default.

    The one place this is decided. The id may be one the book no longer has (a rule set removed after
    the record named it): the engine then evaluates the record as invalid, naming the field."""
    return record_guideline or team_guideline or book.default
