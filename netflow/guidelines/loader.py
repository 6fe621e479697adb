"""Read and check rule set files (YAML), eagerly: a bad file fails at load with the file, the rule and the fix."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from netflow.config import DEFAULT_GUIDELINE
from netflow.domain.record import PRIMARY_SITES
from netflow.domain.rules import TIERS, Interval, NotIndicatedWhen, Phase, Rule, RuleBook, RuleSet
from netflow.errors import ConfigurationError

__all__ = ["BUILTIN_DIR", "RuleSetError", "builtin_files", "load_rulebook", "load_ruleset"]

BUILTIN_DIR = Path(__file__).resolve().parent
RULESET_KEYS = {"id", "title", "short_name", "version", "sources", "settings", "site_groups", "rules"}
REQUIRED_KEYS = ("id", "title", "version", "sources", "site_groups", "rules")
RULE_KEYS = {"id", "site_group", "tier", "first_scan", "then", "not_indicated", "source", "summary",
             "project_choice"}
PHASE_KEYS = {"months", "while_last_scan_before_month"}
CONDITION_KEYS = {"sites", "size_below_mm"}
SETTINGS = {"lead_days": 0, "grace_days": 0, "escalation_days": 1, "horizon_months": 1, "mri_below_age": 0}
SCHEDULED_SITES = tuple(s for s in PRIMARY_SITES if s != "other")


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
        if low > high:
            self.fail(where, f"min {low} is greater than max {high}", fix)
            return None
        return Interval(low, high)

    def phases(self, where: str, value: Any) -> tuple[Phase, ...]:
        if not isinstance(value, list) or not value:
            self.fail(where, "'then' must be a non-empty list of phases",
                      "add e.g. 'then: [{months: [6, 12]}]'")
            return ()
        phases: list[Phase] = []
        previous_bound = 0
        for index, item in enumerate(value, start=1):
            at = f"{where}, phase {index}"
            if not isinstance(item, Mapping):
                self.fail(at, "a phase must be a mapping", "write it as {months: [min, max]}")
                continue
            self.unknown_keys(at, item, PHASE_KEYS)
            interval = self.months(at, item.get("months"))
            bound = item.get("while_last_scan_before_month")
            last = index == len(value)
            if last and bound is not None:
                self.fail(at, "the last phase must apply without end",
                          "remove 'while_last_scan_before_month' from the last phase")
            elif not last and not (isinstance(bound, int) and not isinstance(bound, bool)
                                   and bound > previous_bound):
                self.fail(at, f"every phase but the last needs 'while_last_scan_before_month' "
                              f"greater than {previous_bound}, got {bound!r}",
                          "set the month (after resection) until which this phase applies")
            else:
                previous_bound = bound or previous_bound
            if interval is not None:
                phases.append(Phase(interval, bound if not last else None))
        return tuple(phases)

    def not_indicated(self, where: str, value: Any, group_sites: list[str]) -> tuple[NotIndicatedWhen, ...]:
        if value is None:
            return ()
        if value == "always":
            return (NotIndicatedWhen(),)
        fix = "write 'not_indicated: always' or a list of {sites: [...], size_below_mm: N}"
        if not isinstance(value, list) or not value:
            self.fail(where, f"not_indicated must be 'always' or a list of conditions, got {value!r}", fix)
            return ()
        cases: list[NotIndicatedWhen] = []
        for item in value:
            if not isinstance(item, Mapping):
                self.fail(where, f"a not_indicated condition must be a mapping, got {item!r}", fix)
                continue
            self.unknown_keys(where, item, CONDITION_KEYS)
            sites = item.get("sites")
            if sites is not None and (not isinstance(sites, list)
                                      or any(s not in group_sites for s in sites)):
                self.fail(where, f"not_indicated sites {sites!r} are not all in this rule's site group",
                          f"use sites from {', '.join(group_sites)}")
                continue
            size = item.get("size_below_mm")
            if size is not None and (isinstance(size, bool) or not isinstance(size, (int, float))
                                     or size <= 0):
                self.fail(where, f"size_below_mm must be a number > 0, got {size!r}", fix)
                continue
            cases.append(NotIndicatedWhen(frozenset(sites) if sites is not None else None,
                                          float(size) if size is not None else None))
        return tuple(cases)


def _parse(path: Path, data: Any) -> RuleSet:
    r = _Reader(path)
    if not isinstance(data, Mapping):
        raise RuleSetError(path, ["the file must be a YAML mapping with id, title, version, sources, "
                                  "site_groups and rules"])
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
    settings = dict(SETTINGS_DEFAULTS)
    raw_settings = data.get("settings") or {}
    if not isinstance(raw_settings, Mapping):
        r.fail("settings", "must be a mapping", "write e.g. 'settings: {lead_days: 30}'")
        raw_settings = {}
    r.unknown_keys("settings", raw_settings, set(SETTINGS))
    for key, value in raw_settings.items():
        if key in SETTINGS:
            if not isinstance(value, int) or isinstance(value, bool) or value < SETTINGS[key]:
                r.fail("settings", f"{key} must be a whole number >= {SETTINGS[key]}, got {value!r}",
                       f"set {key} to a whole number")
            else:
                settings[key] = value
    site_groups: dict[str, str] = {}
    group_sites: dict[str, list[str]] = {}
    raw_groups = data.get("site_groups") or {}
    if not isinstance(raw_groups, Mapping):
        r.fail("site_groups", "must map a group name to a list of sites",
               "write e.g. 'site_groups: {pancreas: [pancreas]}'")
        raw_groups = {}
    for group, sites in raw_groups.items():
        if not isinstance(sites, list) or not sites:
            r.fail(f"site group {group!r}", "must be a non-empty list of primary sites",
                   f"list sites from {', '.join(SCHEDULED_SITES)}")
            continue
        group_sites[group] = []
        for site in sites:
            if site not in SCHEDULED_SITES:
                r.fail(f"site group {group!r}", f"unknown primary site {site!r}",
                       f"use one of {', '.join(SCHEDULED_SITES)} ('other' always goes to clinician review)")
            elif site in site_groups:
                r.fail(f"site group {group!r}", f"site {site!r} is already in group {site_groups[site]!r}",
                       "put each site in exactly one group")
            else:
                site_groups[site] = group
                group_sites[group].append(site)
    missing_sites = [s for s in SCHEDULED_SITES if s not in site_groups]
    if raw_groups and missing_sites:
        r.fail("site_groups", f"no group for {', '.join(missing_sites)}",
               "add each of these sites to a site group")
    rules: dict[tuple[str, str], Rule] = {}
    seen_ids: set[str] = set()
    raw_rules = data.get("rules")
    if not isinstance(raw_rules, list):
        r.fail("rules", "must be a list of rules", "write 'rules:' followed by '- id: ...' items")
        raw_rules = []
    for index, raw in enumerate(raw_rules, start=1):
        rule = _parse_rule(r, index, raw, set_id, group_sites, sources, seen_ids)
        if rule is not None:
            if (rule.site_group, rule.tier) in rules:
                r.fail(f"rule {rule.id!r}", f"a second rule for {rule.site_group}/{rule.tier}",
                       "keep one rule per site group and tier")
            rules[(rule.site_group, rule.tier)] = rule
    for group in group_sites:
        for tier in TIERS:
            if (group, tier) not in rules and not r.problems:
                r.fail("rules", f"no rule for site group {group!r}, tier {tier!r}",
                       f"add a rule with id {set_id}/{group}/{tier}")
    if r.problems:
        raise RuleSetError(path, r.problems)
    return RuleSet(
        id=set_id,
        title=str(data["title"]),
        short_name=str(data.get("short_name") or set_id),
        version=str(data["version"]),
        sources=dict(sources),
        site_groups=site_groups,
        rules=rules,
        path=str(path),
        **settings,
    )


SETTINGS_DEFAULTS = {"lead_days": 30, "grace_days": 30, "escalation_days": 90, "horizon_months": 120,
                     "mri_below_age": 50}


def _parse_rule(r: _Reader, index: int, raw: Any, set_id: str, group_sites: Mapping[str, list[str]],
                sources: Mapping[str, str], seen_ids: set[str]) -> Rule | None:
    where = f"rule {index}"
    if not isinstance(raw, Mapping):
        r.fail(where, "must be a mapping", "start the rule with '- id: <set>/<group>/<tier>'")
        return None
    rule_id = raw.get("id")
    if isinstance(rule_id, str):
        where = f"rule {rule_id!r}"
        if rule_id in seen_ids:
            r.fail(where, "duplicate rule id", "give each rule its own id")
            return None
        seen_ids.add(rule_id)
    r.unknown_keys(where, raw, RULE_KEYS)
    group, tier = raw.get("site_group"), raw.get("tier")
    if group not in group_sites:
        r.fail(where, f"unknown site_group {group!r}", f"use one of {', '.join(group_sites) or 'the site_groups'}")
        return None
    if tier not in TIERS:
        r.fail(where, f"unknown tier {tier!r}", "use high, standard or low")
        return None
    expected = f"{set_id}/{group}/{tier}"
    if rule_id != expected:
        r.fail(where, f"id must be {expected!r}", f"write 'id: {expected}'")
    if raw.get("source") not in sources:
        r.fail(where, f"source {raw.get('source')!r} is not one of the file's sources",
               f"cite one of {', '.join(sources) or 'the sources'} as 'source:'")
    choice = raw.get("project_choice")
    if choice is not None and not (isinstance(choice, str) and choice.strip()):
        r.fail(where, "project_choice must be a sentence", "explain the choice in words, or remove it")
    not_indicated = r.not_indicated(where, raw.get("not_indicated"), group_sites[str(group)])
    always = raw.get("not_indicated") == "always"
    first = then = None
    if not always or "first_scan" in raw or "then" in raw:
        first = r.months(f"{where}, first_scan", raw.get("first_scan"))
        then = r.phases(where, raw.get("then"))
    return Rule(
        id=expected,
        site_group=str(group),
        tier=str(tier),
        first_scan=first,
        then=then or (),
        not_indicated=not_indicated,
        source=str(raw.get("source")),
        summary=str(raw.get("summary") or ""),
        project_choice=choice,
    )


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
    return (BUILTIN_DIR / "nccn.yaml", BUILTIN_DIR / "consensus2018.yaml")


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
