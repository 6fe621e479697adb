"""Guideline rule sets as immutable domain objects (loaded from data by netflow.guidelines).

A rule set is an ordered list of rules; the first rule whose conditions match a patient applies
(spec section 5.1). A rule either plans no surveillance imaging (`not_indicated`) or is a
schedule: the first window, counted from the resection while no qualifying scan exists yet; an
optional early interval while the last scan is before a month boundary; then the interval after.
Each rule names the modalities that count as its scan, its horizon (or none: lifelong) and the
modality it recommends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from netflow.domain.dates import add_months

__all__ = ["CROSS_SECTIONAL", "RECOMMENDATIONS", "TIERS", "Interval", "Rule", "RuleBook", "RuleSet", "When",
           "guideline_for"]

TIERS = ("high", "standard", "low")
CROSS_SECTIONAL = frozenset(("CT", "MRI"))
# What a rule may recommend (spec section 6); the engine turns each into a modality code.
RECOMMENDATIONS = ("cross_sectional", "endoscopy", "endoscopy_and_rectal_MRI_or_EUS")


@dataclass(frozen=True, slots=True)
class Interval:
    """A window for the next scan, in months from where it is counted: [min, max]."""

    min_months: int
    max_months: int

    def as_list(self) -> list[int]:
        return [self.min_months, self.max_months]

    def describe(self) -> str:
        if self.min_months == self.max_months:
            return f"{self.min_months} months"
        return f"{self.min_months}-{self.max_months} months"


@dataclass(frozen=True, slots=True)
class When:
    """A rule's conditions; it matches a patient when every condition that is set holds.

    Sizes must be documented to match (`size_below_mm`: < , `size_up_to_mm`: <=); `grade` is the
    effective grade."""

    sites: frozenset[str] | None = None
    tiers: frozenset[str] | None = None
    grade: int | None = None
    gastric_type: int | None = None
    size_below_mm: float | None = None
    size_up_to_mm: float | None = None

    def matches(self, site: str, tier: str, grade: int | None, gastric_type: int | None,
                size_mm: float | None) -> bool:
        if self.sites is not None and site not in self.sites:
            return False
        if self.tiers is not None and tier not in self.tiers:
            return False
        if self.grade is not None and grade != self.grade:
            return False
        if self.gastric_type is not None and gastric_type != self.gastric_type:
            return False
        if self.size_below_mm is not None and (size_mm is None or size_mm >= self.size_below_mm):
            return False
        return self.size_up_to_mm is None or (size_mm is not None and size_mm <= self.size_up_to_mm)


@dataclass(frozen=True)
class Rule:
    """One rule of a rule set: when it applies, and the schedule (or none) it sets, with its source."""

    id: str
    when: When
    not_indicated: bool = False
    first: Interval | None = None
    early: Interval | None = None
    early_until_month: int | None = None
    then: Interval | None = None
    horizon_months: int | None = 120  # None: lifelong, never completed
    qualifying: frozenset[str] = CROSS_SECTIONAL
    recommends: str | None = "cross_sectional"
    source: str = ""
    summary: str = ""
    project_choice: str | None = None

    def interval_after(self, anchor: date, last_scan: date | None) -> Interval:
        """The interval for the next window: the first one without a scan; the early one while the last scan
        is before `early_until_month` after the anchor; else the later one."""
        if last_scan is None:
            assert self.first is not None
            return self.first
        if self.early is not None and self.early_until_month is not None \
                and last_scan < add_months(anchor, self.early_until_month):
            return self.early
        assert self.then is not None
        return self.then

    def horizon_end(self, anchor: date) -> date | None:
        """The last day a window may open on (None for a lifelong rule)."""
        return None if self.horizon_months is None else add_months(anchor, self.horizon_months)


@dataclass(frozen=True)
class RuleSet:
    """One guideline: the sites it covers and its rules, in order (the first that matches applies)."""

    id: str
    title: str
    short_name: str
    version: str
    sources: Mapping[str, str]
    covers: frozenset[str]  # primary sites this guideline covers; others need review
    rules: tuple[Rule, ...]
    lead_days: int = 30
    grace_days: int = 30
    escalation_days: int = 90
    mri_below_age: int = 50
    chest_ct_sites: frozenset[str] = frozenset()  # a cross-sectional scan adds a chest CT for these primaries
    path: str = ""
    _by_id: Mapping[str, Rule] = field(default_factory=dict, repr=False)
    # (site, tier) -> the rules whose site and tier conditions hold, in order: built on first use
    _table: dict[tuple[str, str], tuple[Rule, ...]] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {rule.id: rule for rule in self.rules})

    def rule_for(self, site: str, tier: str, grade: int | None, gastric_type: int | None,
                 size_mm: float | None) -> Rule | None:
        """The first rule whose conditions match, or None when none does."""
        candidates = self._table.get((site, tier))
        if candidates is None:
            candidates = self._table[site, tier] = tuple(
                rule for rule in self.rules
                if (rule.when.sites is None or site in rule.when.sites)
                and (rule.when.tiers is None or tier in rule.when.tiers))
        for rule in candidates:
            if rule.when.matches(site, tier, grade, gastric_type, size_mm):
                return rule
        return None

    def rule_by_id(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

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
