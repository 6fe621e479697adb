"""Rule set files: the built-ins cite their sources; the loader refuses bad files with the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from netflow.domain import evaluate
from netflow.guidelines import RuleSetError, builtin_files, load_rulebook, load_ruleset
from tests.support.records import record, scan

CUSTOM = """
id: local
title: Local pancreas-only protocol
short_name: Local protocol
version: "2026-1"
sources:
  mdt: "Minutes of the NET multidisciplinary team, 2026-03"
site_groups:
  all: [pancreas, small_intestine, appendix, rectum, colon, stomach, duodenum]
rules:
  - id: local/all/high
    site_group: all
    tier: high
    first_scan: [2, 4]
    then: [{months: [4, 4]}]
    source: mdt
  - id: local/all/standard
    site_group: all
    tier: standard
    first_scan: [6, 6]
    then: [{months: [9, 9]}]
    source: mdt
    project_choice: "Our MDT chose 9 months."
  - id: local/all/low
    site_group: all
    tier: low
    not_indicated: always
    source: mdt
"""


def write(tmp_path: Path, text: str, name: str = "local.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def mutate(tmp_path: Path, change: str, new: str) -> Path:
    assert change in CUSTOM
    return write(tmp_path, CUSTOM.replace(change, new, 1))


@pytest.mark.parametrize("path", builtin_files(), ids=lambda p: p.stem)
def test_every_builtin_rule_cites_a_source_listed_in_its_file(path: Path) -> None:
    ruleset = load_ruleset(path)
    assert ruleset.sources
    for rule in ruleset.rules.values():
        assert rule.source in ruleset.sources
        assert rule.summary


@pytest.mark.parametrize("path", builtin_files(), ids=lambda p: p.stem)
def test_the_projects_own_choices_are_marked_in_the_rule_files(path: Path) -> None:
    ruleset = load_ruleset(path)
    high = ruleset.rules[(next(iter(ruleset.site_groups.values())), "high")]
    assert high.project_choice, "high-risk intervals are the project's choice [I]"
    assert "[I]" in path.read_text(encoding="utf-8")


def test_an_installation_rule_set_is_loaded_beside_the_builtins(tmp_path: Path) -> None:
    book = load_rulebook([write(tmp_path, CUSTOM)])
    assert set(book.ids) == {"nccn", "consensus2018", "local"}


def test_a_record_can_follow_an_installation_rule_set(tmp_path: Path) -> None:
    book = load_rulebook([write(tmp_path, CUSTOM)])
    raw = record(guideline="local", imaging=[scan("2026-02-10")])

    result = evaluate(raw, date(2026, 12, 1), book)

    assert (result.rule_id, result.window_open, result.status) == (
        "local/all/standard", date(2026, 11, 10), "due")
    assert "Local protocol asks for imaging every 9 months" in result.explanation


def test_an_installation_file_may_replace_a_builtin_rule_set(tmp_path: Path) -> None:
    path = write(tmp_path, CUSTOM.replace("id: local\n", "id: nccn\n").replace("local/", "nccn/"))
    book = load_rulebook([path])
    assert book["nccn"].title == "Local pancreas-only protocol"


@pytest.mark.parametrize(
    ("change", "new", "message"),
    [
        ("    source: mdt\n", "    source: mdt\n    colour: red\n", "unknown key 'colour'"),
        ("first_scan: [6, 6]", "first_scan: [0, 6]", "months must be > 0"),
        ("first_scan: [6, 6]", "first_scan: [8, 6]", "min 8 is greater than max 6"),
        ("then: [{months: [9, 9]}]", "then: [{months: [-9, 9]}]", "months must be > 0"),
        ("  - id: local/all/low\n    site_group: all\n    tier: low\n    not_indicated: always\n"
         "    source: mdt\n", "", "no rule for site group 'all', tier 'low'"),
        ("  all: [pancreas, small_intestine,", "  all: [small_intestine,", "no group for pancreas"),
        ("id: local/all/standard", "id: local/all/high", "duplicate rule id"),
        ("    source: mdt\n    project_choice", "    source: nowhere\n    project_choice",
         "source 'nowhere' is not one of the file's sources"),
        ("id: local/all/standard", "id: local/std", "id must be 'local/all/standard'"),
        ("tier: standard", "tier: medium", "unknown tier 'medium'"),
    ],
    ids=["unknown-key", "zero-months", "min-over-max", "negative-months", "missing-tier",
         "missing-site", "duplicate-id", "unknown-source", "malformed-id", "unknown-tier"],
)
def test_a_bad_rule_file_fails_at_load_naming_the_file_the_rule_and_the_fix(
    tmp_path: Path, change: str, new: str, message: str
) -> None:
    path = mutate(tmp_path, change, new)

    with pytest.raises(RuleSetError) as caught:
        load_ruleset(path)

    text = str(caught.value)
    assert str(path) in text
    assert message in text
    assert "Fix:" in text


def test_a_file_that_is_not_yaml_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="is not valid YAML"):
        load_ruleset(write(tmp_path, "id: [unclosed"))


def test_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(RuleSetError, match="cannot be read"):
        load_ruleset(tmp_path / "absent.yaml")


def test_the_builtin_files_are_plain_yaml_a_clinician_can_read() -> None:
    for path in builtin_files():
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert {"id", "title", "version", "sources", "site_groups", "rules"} <= set(data)
