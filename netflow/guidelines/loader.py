"""Read and check rule set files (YAML), eagerly: a bad file fails at load with the file, the rule and the fix.

Besides each value, the loader checks the rule set as a whole: every patient of a covered site
(any tier, grade, gastric type and size) is matched by some rule, and every rule is reached by
some patient (a rule shadowed by the rules before it is a mistake in the order).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from itertools import product
from pathlib import Path
from typing import Any

import yaml

from netflow.config import DEFAULT_GUIDELINE
from netflow.domain.record import GASTRIC_TYPES, MODALITIES, PRIMARY_SITES
from netflow.domain.rules import CROSS_SECTIONAL, RECOMMENDATIONS, TIERS, Interval, Rule, RuleBook, RuleSet, When
from netflow.errors import ConfigurationError

__all__ = ["BUILTIN_DIR", "RuleSetError", "builtin_files", "load_rulebook", "load_ruleset"]

BUILTIN_DIR = Path(__file__).resolve().parent
RULESET_KEYS = {"id", "title", "short_name", "version", "sources", "settings", "covers", "chest_ct_for", "rules"}
REQUIRED_KEYS = ("id", "title", "version", "sources", "covers", "rules")
RULE_KEYS = {"id", "when", "not_indicated", "first", "early", "then", "horizon_months", "qualifying", "recommends",
             "source", "section", "summary", "project_choice"}
SCHEDULE_KEYS = ("first", "early", "then", "horizon_months", "recommends")
WHEN_KEYS = {"sites", "tiers", "grade", "gastric_type", "size_below_mm", "size_up_to_mm"}
EARLY_KEYS = {"months", "while_last_scan_before_month"}
SETTINGS = {"lead_days": 0, "grace_days": 0, "escalation_days": 1, "horizon_months": 1, "mri_below_age": 0}
SETTINGS_DEFAULTS = {"lead_days": 30, "grace_days": 30, "escalation_days": 90, "horizon_months": 120,
                     "mri_below_age": 50}
SCHEDULED_SITES = tuple(s for s in PRIMARY_SITES if s != "other")
GRADES = (1, 2, 3)
MAX_MONTHS = 1200  # no window, phase or horizon beyond 100 years: the date arithmetic stays in range


class RuleSetError(ConfigurationError):
    """A rule set file is wrong. The message lists each problem with where it is and how to fix it."""

    def __init__(self, path: Path | str, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"rule set file {self.path} has {len(problems)} problem(s):\n{lines}")


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[str] = []

    def fail(self, where: str, message: str, fix: str) -> None:
        self.problems.append(f"{where}: {message}. Fix: {fix}.")

    def unknown_keys(self, where: str, data: Mapping[str, Any], allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                self.fail(where, f"unknown key {key!r}",
                          f"remove it or use one of {', '.join(sorted(allowed))}")

    def months(self, where: str, value: Any) -> Interval | None:
        fix = "write the window as [min, max] whole months, 0 < min <= max, e.g. [6, 12]"
        if (not isinstance(value, list) or len(value) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            self.fail(where, f"months must be a list of two whole numbers, got {value!r}", fix)
            return None
        low, high = value
        if low <= 0 or high <= 0:
            self.fail(where, f"months must be > 0, got {value!r}", fix)
            return None
        if high > MAX_MONTHS:
            self.fail(where, f"months must be at most {MAX_MONTHS} (100 years), got {value!r}", fix)
            return None
        if low > high:
            self.fail(where, f"min {low} is greater than max {high}", fix)
            return None
        return Interval(low, high)

    def whole(self, where: str, name: str, value: Any, minimum: int = 1) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool) and minimum <= value <= MAX_MONTHS:
            return value
        self.fail(where, f"{name} must be a whole number from {minimum} to {MAX_MONTHS}, got {value!r}",
                  f"set {name} to e.g. 24")
        return None

    def names(self, where: str, name: str, value: Any, allowed: Iterable[Any]) -> frozenset[Any] | None:
        options = tuple(allowed)
        if isinstance(value, list) and value and all(v in options and not isinstance(v, bool) for v in value):
            return frozenset(value)
        self.fail(where, f"{name} must be a non-empty list of {', '.join(str(o) for o in options)}; got {value!r}",
                  f"write e.g. '{name}: [{options[0]}]'")
        return None

    def size(self, where: str, name: str, value: Any) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            self.fail(where, f"{name} must be a number of millimetres > 0, got {value!r}", f"write e.g. '{name}: 10'")
            return None
        return float(value)

    def when(self, where: str, value: Any, covers: frozenset[str]) -> When:
        if value is None:
            return When()
        if not isinstance(value, Mapping):
            self.fail(where, f"when must be a mapping of conditions, got {value!r}",
                      "write e.g. 'when: {sites: [appendix], tiers: [low], size_below_mm: 10}'")
            return When()
        self.unknown_keys(f"{where}, when", value, WHEN_KEYS)
        at = f"{where}, when"
        sites = self.names(at, "sites", value["sites"], sorted(covers)) if "sites" in value else None
        tiers = self.names(at, "tiers", value["tiers"], TIERS) if "tiers" in value else None
        grade = gastric = None
        if "grade" in value and value["grade"] not in GRADES:
            self.fail(at, f"grade must be 1, 2 or 3 (the effective grade), got {value['grade']!r}", "write 'grade: 3'")
        elif "grade" in value:
            grade = int(value["grade"])
        if "gastric_type" in value and value["gastric_type"] not in GASTRIC_TYPES:
            self.fail(at, f"gastric_type must be 1, 2 or 3, got {value['gastric_type']!r}", "write 'gastric_type: 1'")
        elif "gastric_type" in value:
            gastric = int(value["gastric_type"])
        return When(sites, tiers, grade, gastric, self.size(at, "size_below_mm", value.get("size_below_mm")),
                    self.size(at, "size_up_to_mm", value.get("size_up_to_mm")))

    def early(self, where: str, value: Any) -> tuple[Interval | None, int | None]:
        if value is None:
            return None, None
        fix = "write 'early: {months: [3, 6], while_last_scan_before_month: 24}'"
        if not isinstance(value, Mapping):
            self.fail(where, f"early must be a mapping, got {value!r}", fix)
            return None, None
        self.unknown_keys(f"{where}, early", value, EARLY_KEYS)
        return (self.months(f"{where}, early", value.get("months")),
                self.whole(f"{where}, early", "while_last_scan_before_month",
                           value.get("while_last_scan_before_month")))


def _parse(path: Path, data: Any) -> RuleSet:
    r = _Reader(path)
    if not isinstance(data, Mapping):
        raise RuleSetError(path, ["the file must be a YAML mapping with id, title, version, sources, "
                                  "covers and rules"])
    r.unknown_keys("top level", data, RULESET_KEYS)
    for key in REQUIRED_KEYS:
        if key not in data:
            r.fail("top level", f"missing {key!r}", f"add '{key}:' (see netflow/guidelines/nccn.yaml)")
    set_id = data.get("id")
    if not isinstance(set_id, str) or not set_id.replace("_", "").replace("-", "").isalnum():
        r.fail("top level", f"id must be a short name of letters, digits, - or _, got {set_id!r}",
               "write e.g. 'id: nccn_local'")
        set_id = str(set_id)
    sources = data.get("sources") or {}
    if not isinstance(sources, Mapping) or not sources or not all(
            isinstance(v, str) and v.strip() for v in sources.values()):
        r.fail("sources", "must map a short key to each citation", "write e.g. 'sources: {nccn: \"NCCN ...\"}'")
        sources = {}
    settings = _settings(r, data.get("settings"))
    covers = r.names("covers", "covers", data.get("covers"), SCHEDULED_SITES) or frozenset()
    chest: frozenset[str] = frozenset()
    if data.get("chest_ct_for") is not None:
        chest = r.names("chest_ct_for", "chest_ct_for", data.get("chest_ct_for"), sorted(covers)) or frozenset()
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list) or not raw_rules:
        r.fail("rules", "must be a list of rules", "write 'rules:' followed by '- id: ...' items")
        raw_rules = []
    rules: list[Rule] = []
    seen_ids: set[str] = set()
    for index, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(r, index, raw, set_id, covers, sources, seen_ids, settings["horizon_months"])
        if rule is not None:
            rules.append(rule)
    if not r.problems:
        _check_coverage(r, covers, rules)
    if r.problems:
        raise RuleSetError(path, r.problems)
    return RuleSet(
        id=set_id,
        title=str(data["title"]),
        short_name=str(data.get("short_name") or set_id),
        version=str(data["version"]),
        sources=dict(sources),
        covers=covers,
        rules=tuple(rules),
        lead_days=settings["lead_days"],
        grace_days=settings["grace_days"],
        escalation_days=settings["escalation_days"],
        mri_below_age=settings["mri_below_age"],
        chest_ct_sites=chest,
        path=str(path),
    )


def _settings(r: _Reader, raw: Any) -> dict[str, int]:
    settings = dict(SETTINGS_DEFAULTS)
    if raw is None:
        return settings
    if not isinstance(raw, Mapping):
        r.fail("settings", "must be a mapping", "write e.g. 'settings: {lead_days: 30}'")
        return settings
    r.unknown_keys("settings", raw, set(SETTINGS))
    for key, value in raw.items():
        if key in SETTINGS:
            if not isinstance(value, int) or isinstance(value, bool) or value < SETTINGS[key]:
                r.fail("settings", f"{key} must be a whole number >= {SETTINGS[key]}, got {value!r}",
                       f"set {key} to a whole number")
            else:
                settings[key] = value
    return settings


def _parse_rule(r: _Reader, index: int, raw: Any, set_id: str, covers: frozenset[str], sources: Mapping[str, str],
                seen_ids: set[str], default_horizon: int) -> Rule | None:
    where = f"rule {index}"
    if not isinstance(raw, Mapping):
        r.fail(where, "must be a mapping", f"start the rule with '- id: {set_id}/<group>/<name>'")
        return None
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id.startswith(f"{set_id}/") or rule_id.count("/") != 2:
        r.fail(where, f"id must read {set_id}/<group>/<name>, got {rule_id!r}", f"write e.g. 'id: {set_id}/all/low'")
        return None
    where = f"rule {rule_id!r}"
    if rule_id in seen_ids:
        r.fail(where, "duplicate rule id", "give each rule its own id")
        return None
    seen_ids.add(rule_id)
    r.unknown_keys(where, raw, RULE_KEYS)
    if raw.get("source") not in sources:
        r.fail(where, f"source {raw.get('source')!r} is not one of the file's sources",
               f"cite one of {', '.join(sources) or 'the sources'} as 'source:'")
    for key in ("section", "summary", "project_choice"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and value.strip()):
            r.fail(where, f"{key} must be text", f"write the {key} in words, or remove it")
    when = r.when(where, raw.get("when"), covers)
    qualifying = CROSS_SECTIONAL
    if "qualifying" in raw:
        qualifying = r.names(where, "qualifying", raw["qualifying"], MODALITIES) or CROSS_SECTIONAL
    common: dict[str, Any] = dict(id=rule_id, when=when, qualifying=qualifying, source=str(raw.get("source")),
                                  summary=str(raw.get("summary") or ""), project_choice=raw.get("project_choice"))
    section = raw.get("section")
    if isinstance(section, str) and section.strip():
        common["source"] = f"{raw.get('source')}, {section.strip()}"
    not_indicated = raw.get("not_indicated", False)
    if not isinstance(not_indicated, bool):
        r.fail(where, f"not_indicated must be true or false, got {not_indicated!r}",
               "write 'not_indicated: true' for a rule that plans no imaging")
        return None
    if not_indicated:
        for key in SCHEDULE_KEYS:
            if key in raw:
                r.fail(where, f"a not_indicated rule has no {key}", f"remove '{key}:'")
        return Rule(not_indicated=True, recommends=None, horizon_months=None, **common)
    first = r.months(f"{where}, first", raw.get("first"))
    then = r.months(f"{where}, then", raw.get("then"))
    early, until = r.early(where, raw.get("early"))
    horizon: int | None = default_horizon
    if "horizon_months" in raw:
        value = raw["horizon_months"]
        horizon = None if value == "lifelong" else r.whole(where, "horizon_months", value)
    recommends = raw.get("recommends", "cross_sectional")
    if recommends not in RECOMMENDATIONS:
        r.fail(where, f"recommends must be one of {', '.join(RECOMMENDATIONS)}, got {recommends!r}",
               "write e.g. 'recommends: cross_sectional'")
    return Rule(first=first, early=early, early_until_month=until, then=then, horizon_months=horizon,
                recommends=str(recommends), **common)


def _check_coverage(r: _Reader, covers: frozenset[str], rules: list[Rule]) -> None:
    """Every covered patient is matched by a rule; every rule is the first match of some patient."""
    thresholds = {t for rule in rules for t in (rule.when.size_below_mm, rule.when.size_up_to_mm) if t is not None}
    sizes: list[float | None] = [None, 1.0, *sorted({t + d for t in thresholds for d in (-0.5, 0.0, 0.5)})]
    reached: set[str] = set()
    for site, tier, grade, size in product(sorted(covers), TIERS, (None, *GRADES), sizes):
        for gastric in ((None, *GASTRIC_TYPES) if site == "stomach" else (None,)):
            rule = next((x for x in rules if x.when.matches(site, tier, grade, gastric, size)), None)
            if rule is None:
                r.fail("rules", f"no rule applies to a {tier}-risk {site} tumour (grade {grade}, size {size} mm, "
                                f"gastric type {gastric})", "add a last rule for this site and tier without "
                                                          "conditions on grade or size")
                return
            reached.add(rule.id)
    for rule in rules:
        if rule.id not in reached:
            r.fail(f"rule {rule.id!r}", "is never reached: the rules before it match every patient it would",
                   "move it before the rule that shadows it, or remove it")


def load_ruleset(path: Path | str) -> RuleSet:
    """Load and check one rule set file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RuleSetError(path, [f"cannot be read ({exc.strerror or exc})"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleSetError(path, [f"is not valid YAML: {exc}"]) from None
    return _parse(path, data)


def builtin_files() -> tuple[Path, ...]:
    return (BUILTIN_DIR / "nccn.yaml", BUILTIN_DIR / "consensus2018.yaml", BUILTIN_DIR / "esmo2020.yaml")


@lru_cache(maxsize=16)
def _load(files: tuple[Path, ...], default: str) -> RuleBook:
    rulesets: dict[str, RuleSet] = {}
    for path in builtin_files() + files:
        ruleset = load_ruleset(path)
        rulesets[ruleset.id] = ruleset  # an installation's file may replace a built-in one
    return RuleBook(rulesets, default)


def load_rulebook(extra_files: Iterable[Path | str] = (), default: str = DEFAULT_GUIDELINE) -> RuleBook:
    """The built-in rule sets, plus an installation's own files (which may replace a built-in id)."""
    return _load(tuple(Path(p).resolve() for p in extra_files), default)
