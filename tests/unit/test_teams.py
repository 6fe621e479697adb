"""The teams file: shapes, addresses and guidelines are checked, and every problem names the team and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from netflow.domain.teams import CareTeam
from netflow.guidelines.teams import TeamsError, load_teams_file, parse_teams, valid_address

GUIDELINES = ("nccn", "consensus2018")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def team(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "GI Oncology East",
        "navigators": ["nav.one@hospital.example"],
        "attendings": ["dr.two@hospital.example"],
        "leads": ["lead.three@hospital.example"],
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def problems(data: Any) -> list[str]:
    with pytest.raises(TeamsError) as caught:
        parse_teams(data, GUIDELINES, source="teams.yaml")
    assert "teams.yaml" in str(caught.value)
    return caught.value.problems


def test_a_valid_file_gives_frozen_teams_with_their_members() -> None:
    [parsed] = parse_teams({"gi-onc-east": team(guideline="nccn")}, GUIDELINES)
    assert parsed == CareTeam(key="gi-onc-east", name="GI Oncology East", guideline="nccn",
                              navigators=("nav.one@hospital.example",), attendings=("dr.two@hospital.example",),
                              leads=("lead.three@hospital.example",))
    assert parsed.members() == (("navigator", "nav.one@hospital.example"),
                                ("attending", "dr.two@hospital.example"), ("lead", "lead.three@hospital.example"))
    with pytest.raises(AttributeError):
        parsed.name = "other"  # type: ignore[misc]


def test_the_example_teams_file_loads() -> None:
    teams = load_teams_file(EXAMPLES / "teams.yaml", GUIDELINES)
    assert [t.key for t in teams] == ["gi-onc-east", "gi-onc-west"]


def test_attendings_leads_and_guideline_are_optional() -> None:
    [parsed] = parse_teams({"t1": team(attendings=None, leads=None)}, GUIDELINES)
    assert (parsed.attendings, parsed.leads, parsed.guideline) == ((), (), None)


def test_a_repeated_address_is_kept_once() -> None:
    [parsed] = parse_teams({"t1": team(navigators=["a@hospital.example", "a@hospital.example"])})
    assert parsed.navigators == ("a@hospital.example",)


@pytest.mark.parametrize("navigators", [None, [], ["not-an-address"]], ids=["missing", "empty", "invalid"])
def test_a_team_without_a_valid_navigator_is_an_error_naming_the_team(navigators: Any) -> None:
    [problem] = problems({"gi-onc-east": team(navigators=navigators)})
    assert "team 'gi-onc-east', navigators" in problem


@pytest.mark.parametrize("address", [
    "nav@hospital.example\r\nBcc: victim@elsewhere.example",
    "nav@hospital.example\nX: y",
    "Nav One <nav@hospital.example>",
    "nav@hospital.example, other@hospital.example",
    "nav@localhost",
    "\"quoted local\"@hospital.example",
    "né@hospital.example",
    "plainaddress",
    12345,
], ids=["crlf-injection", "lf", "display-name", "two-addresses", "no-dot-domain", "quoted", "non-ascii",
        "no-at", "not-a-string"])
def test_addresses_that_could_inject_headers_or_are_not_plain_are_refused(address: Any) -> None:
    assert valid_address(address) is None
    [problem] = problems({"t1": team(attendings=[address])})
    assert problem.startswith("team 't1', attendings: entry 1")


def test_an_unknown_field_is_named() -> None:
    [problem] = problems({"t1": team(navigator=["a@hospital.example"])})
    assert problem.startswith("team 't1', navigator: unknown field")


def test_an_unknown_guideline_is_named_with_the_known_ones() -> None:
    [problem] = problems({"t1": team(guideline="esmo")})
    assert "team 't1', guideline" in problem and "nccn, consensus2018" in problem


@pytest.mark.parametrize("data", [None, [], "text", {}], ids=["empty", "list", "string", "no-teams"])
def test_a_file_that_is_not_a_mapping_of_teams_is_refused(data: Any) -> None:
    assert "map each team key" in problems(data)[0]


@pytest.mark.parametrize(("key", "body"), [
    ("bad key!", team()), ("t1", ["a@hospital.example"]), ("t1", team(name="")),
    ("t1", team(name="Two\nLines")), ("t1", team(navigators="a@hospital.example, b@hospital.example")),
], ids=["key", "body-not-mapping", "empty-name", "multiline-name", "comma-string"])
def test_wrong_shapes_are_errors_naming_the_team(key: str, body: Any) -> None:
    assert all(f"team {key!r}" in p for p in problems({key: body}))


def test_every_problem_of_every_team_is_reported_at_once() -> None:
    found = problems({"t1": team(navigators=[]), "t2": team(leads=["x"], extra=1)})
    assert len(found) == 3


def test_an_unreadable_or_invalid_yaml_file_is_a_teams_error(tmp_path: Path) -> None:
    broken = tmp_path / "teams.yaml"
    broken.write_text("t1: [unclosed\n", encoding="utf-8")
    with pytest.raises(TeamsError, match="not valid YAML"):
        load_teams_file(broken)
    with pytest.raises(TeamsError, match="cannot be read"):
        load_teams_file(tmp_path / "missing.yaml")


def test_a_single_address_may_be_written_without_a_list(tmp_path: Path) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(yaml.safe_dump({"t1": {"name": "T", "navigators": "a@hospital.example"}}), encoding="utf-8")
    assert load_teams_file(path)[0].navigators == ("a@hospital.example",)


def test_members_and_fhir_identifiers_are_read_and_kept_once() -> None:
    [parsed] = parse_teams({"t1": team(members=["jdoe", "asmith", "jdoe"], fhir="urn:oid:1.2.3|careteam-17")})
    assert parsed.users == ("jdoe", "asmith")
    assert parsed.fhir == ("urn:oid:1.2.3|careteam-17",)
    assert parsed.members() == (("navigator", "nav.one@hospital.example"),
                                ("attending", "dr.two@hospital.example"), ("lead", "lead.three@hospital.example"))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("members", ["j doe"], "team 't1', members: entry 1 must be an Airflow user name"),
    ("members", ["x" * 101], "team 't1', members: entry 1 must be an Airflow user name"),
    ("members", [7], "team 't1', members: entry 1 must be an Airflow user name"),
    ("members", {"jdoe": 1}, "team 't1', members: must be a list"),
    ("fhir", ["a\nb"], "team 't1', fhir: entry 1 must be a FHIR identifier"),
    ("fhir", [""], "team 't1', fhir: entry 1 must be a FHIR identifier"),
])
def test_a_wrong_member_or_fhir_identifier_is_named(field: str, value: Any, message: str) -> None:
    [problem] = problems({"t1": team(**{field: value})})
    assert problem.startswith(message)
