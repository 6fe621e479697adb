"""Rule set files: the built-ins cite their sources; the loader refuses bad files with the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from netflow.domain import evaluate
from netflow.guidelines import RuleSetError, builtin_files, load_rulebook, load_ruleset
from tests.support.records import record, scan
from tests.support.rulesets import LOCAL_RULESET

CUSTOM = LOCAL_RULESET


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
    for rule in ruleset.rules:
        assert rule.source.split(",")[0] in ruleset.sources
        assert rule.summary


@pytest.mark.parametrize("path", builtin_files(), ids=lambda p: p.stem)
def test_the_projects_own_choices_are_marked_in_the_rule_files(path: Path) -> None:
    ruleset = load_ruleset(path)
    high = next(rule for rule in ruleset.rules if rule.id.endswith("/high") and not rule.id.endswith("wdg3/high"))
    assert high.project_choice, "high-risk intervals are the project's choice [I]"
    assert "[I]" in path.read_text(encoding="utf-8")


def test_an_installation_rule_set_is_loaded_beside_the_builtins(tmp_path: Path) -> None:
    book = load_rulebook([write(tmp_path, CUSTOM)])
    assert set(book.ids) == {"nccn", "consensus2018", "esmo2020", "local"}


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
    assert book["nccn"].title == "Local GEP protocol"


@pytest.mark.parametrize(
    ("change", "new", "message"),
    [
        ("    source: mdt\n    project_choice", "    source: mdt\n    colour: red\n    project_choice",
         "unknown key 'colour'"),
        ("first: [6, 6]", "first: [0, 6]", "months must be > 0"),
        ("first: [6, 6]", "first: [8, 6]", "min 8 is greater than max 6"),
        ("then: [9, 9]", "then: [-9, 9]", "months must be > 0"),
        ("  - id: local/all/low\n    when: {tiers: [low]}\n    not_indicated: true\n    source: mdt\n", "",
         "no rule applies to a low-risk appendix tumour"),
        ("covers: [pancreas, small_intestine,", "covers: [pancreas, liver, small_intestine,",
         "covers must be a non-empty list of"),
        ("id: local/all/standard", "id: local/all/high", "duplicate rule id"),
        ("    source: mdt\n    project_choice", "    source: nowhere\n    project_choice",
         "source 'nowhere' is not one of the file's sources"),
        ("id: local/all/standard", "id: local-std", "id must read local/<group>/<name>"),
        ("when: {tiers: [standard]}", "when: {tiers: [medium]}", "tiers must be a non-empty list of high"),
        ("when: {tiers: [high]}", "when: {}", "'local/all/standard': is never reached"),
        ("early: {months: [6, 6], while_last_scan_before_month: 24}",
         "early: {months: [6, 6], while_last_scan_before_month: 0}", "while_last_scan_before_month must be a whole"),
        ("    not_indicated: true\n", "    not_indicated: true\n    first: [3, 3]\n",
         "a not_indicated rule has no first"),
        ("    then: [9, 9]\n", "    then: [9, 9]\n    qualifying: [CT, X-ray]\n",
         "qualifying must be a non-empty list"),
        ("    then: [9, 9]\n", "    then: [9, 9]\n    recommends: PET\n", "recommends must be one of"),
        ("    then: [9, 9]\n", "    then: [9, 9]\n    horizon_months: forever\n", "horizon_months must be a whole"),
    ],
    ids=["unknown-key", "zero-months", "min-over-max", "negative-months", "a-patient-without-rule",
         "unknown-site", "duplicate-id", "unknown-source", "malformed-id", "unknown-tier", "shadowed-rule",
         "bad-phase-bound", "schedule-on-not-indicated", "unknown-modality", "unknown-recommendation",
         "bad-horizon"],
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
        assert {"id", "title", "version", "sources", "covers", "rules"} <= set(data)


def test_a_lifelong_rule_is_never_completed(tmp_path: Path) -> None:
    book = load_rulebook([write(tmp_path, CUSTOM.replace("    then: [9, 9]\n", "    then: [9, 9]\n"
                                                         "    horizon_months: lifelong\n"))])
    raw = record(guideline="local", resection_date="2000-01-15", imaging=[scan("2026-02-10")])
    assert evaluate(raw, date(2026, 12, 1), book).status == "due"
