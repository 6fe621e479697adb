"""The precompiled (site, tier) rule table picks the rule the rule set's order picks."""

from __future__ import annotations

import itertools

from netflow.domain.record import PRIMARY_SITES
from netflow.domain.rules import TIERS, RuleSet
from netflow.guidelines import load_rulebook

BOOK = load_rulebook()
SIZES = (None, 0.5, 5.0, 9.9, 10.0, 10.1, 15.0, 19.9, 20.0, 20.1, 35.0)


def first_match(rules: RuleSet, *facts: object) -> str | None:
    """The spec's reading: the first rule, in file order, whose conditions hold."""
    return next((rule.id for rule in rules.rules if rule.when.matches(*facts)), None)  # type: ignore[arg-type]


def test_the_table_picks_the_first_matching_rule_for_every_combination() -> None:
    checked = 0
    for guideline in BOOK.ids:
        rules = BOOK[guideline]
        for facts in itertools.product(PRIMARY_SITES, TIERS, (None, 1, 2, 3), (None, 1, 2, 3), SIZES):
            chosen = rules.rule_for(*facts)
            assert (chosen.id if chosen else None) == first_match(rules, *facts), (guideline, facts)
            checked += 1
    assert checked > 10_000


def test_the_table_is_no_part_of_a_rule_sets_equality() -> None:
    rules = BOOK["nccn"]
    rules.rule_for("pancreas", "high", 2, None, 15.0)
    assert rules._table and repr(rules).count("_table") == 0
