"""The care teams file: parsed and checked from YAML into `CareTeam`s (netflow.domain.teams).

    gi-onc-east:
      name: GI Oncology East
      guideline: nccn            # optional; else the installation default
      navigators: [nav.one@hospital.example]
      attendings: [dr.two@hospital.example]
      leads: [lead.three@hospital.example]
      members: [jdoe, asmith]    # optional: the Airflow users who see and act on this team's patients
      fhir: ["urn:oid:2.16.840.1.113883.3.example|careteam-17"]  # optional: the team's FHIR CareTeam identifiers

>>> teams = parse_teams(yaml_text, guidelines=("nccn", "consensus2018"))  # doctest: +SKIP

Every problem is collected and reported at once (`TeamsError`), each naming the team and the
field; nothing is loaded from a file with a problem. Addresses are plain ASCII addresses
(`local@domain.tld`), never with a display name, CR or LF: no header can be injected through them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import yaml
from email_validator import EmailNotValidError, validate_email

from netflow.domain.teams import ROLES, CareTeam
from netflow.errors import ConfigurationError

__all__ = ["TeamsError", "load_teams_file", "parse_teams", "valid_address"]

TEAM_KEYS = ("name", "guideline", *ROLES, "members", "fhir")
KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
# An Airflow user name as the auth managers accept it: no spaces or control characters, at most 100.
USER_PATTERN = re.compile(r"[^\s\x00-\x1f\x7f]{1,100}")
FHIR_IDENTIFIER = re.compile(r"[^\s\x00-\x1f\x7f]{1,200}")
MAX_ADDRESS = 254


class TeamsError(ConfigurationError):
    """The teams file is wrong; the message lists each problem with the team and field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"teams file {source} has {len(problems)} problem(s):\n{lines}")


def valid_address(text: object) -> str | None:
    """The normalised address, or None when `text` is not one plain, deliverable-looking address."""
    if not isinstance(text, str) or len(text) > MAX_ADDRESS or any(c in text for c in "\r\n\0"):
        return None
    try:
        result = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    # The ASCII form (an internationalised domain as xn--...): the only form an SMTP envelope and the
    # message headers take without SMTPUTF8, and the form the mail adapter checks.
    return str(result.ascii_email) if result.ascii_email else None


class _Reader:
    def __init__(self, guidelines: Collection[str] | None) -> None:
        self.guidelines = guidelines
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def entries(self, key: str, field: str, value: Any, check: Callable[[Any], str | None], not_a_list: str,
                wrong_entry: str) -> tuple[str, ...]:
        """A list field (a single string is a list of one): each entry as `check` returns it, kept once; an
        entry `check` refuses (None) is a problem "entry N <wrong_entry>", a value not a list `not_a_list`."""
        where = f"team {key!r}, {field}"
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.fail(where, not_a_list)
            return ()
        found: list[str] = []
        for position, item in enumerate(value, start=1):
            entry = check(item)
            if entry is None:
                self.fail(where, f"entry {position} {wrong_entry}")
            elif entry not in found:
                found.append(entry)
        return tuple(found)

    def addresses(self, key: str, field: str, value: Any) -> tuple[str, ...]:
        return self.entries(key, field, value, valid_address,
                            "must be a list of email addresses, e.g. [nav.one@hospital.example]",
                            "is not a valid email address (write local@domain.tld, without a name or angle brackets)")

    def strings(self, key: str, field: str, value: Any, pattern: re.Pattern[str], one: str) -> tuple[str, ...]:
        """A list of plain strings each matching `pattern` (a single string is a list of one)."""
        def check(item: Any) -> str | None:
            return item if isinstance(item, str) and pattern.fullmatch(item) else None

        return self.entries(key, field, value, check, f"must be a list, each entry {one}", f"must be {one}")

    def guideline(self, key: str, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str) or (self.guidelines is not None and value not in self.guidelines):
            known = ", ".join(self.guidelines) if self.guidelines is not None else "a rule set id"
            self.fail(f"team {key!r}, guideline", f"must be one of {known}; got {value!r}")
            return None
        return value

    def team(self, key: Any, body: Any) -> CareTeam | None:
        if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
            self.fail(f"team {key!r}", "the key must be 1-64 letters, digits, '.', '-' or '_'")
            return None
        if not isinstance(body, Mapping):
            self.fail(f"team {key!r}", "must be a mapping with name, navigators and optionally "
                                       "guideline, attendings, leads")
            return None
        for unknown in (k for k in body if k not in TEAM_KEYS):
            self.fail(f"team {key!r}, {unknown}", f"unknown field; use {', '.join(TEAM_KEYS)}")
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or not name.isprintable():
            self.fail(f"team {key!r}, name", "must be the team's name on one line, without control characters")
        before = len(self.problems)
        navigators = self.addresses(key, "navigators", body.get("navigators"))
        if not navigators and len(self.problems) == before:
            self.fail(f"team {key!r}, navigators", "a team needs at least one valid navigator address")
        team = CareTeam(
            key=key,
            name=str(name).strip(),
            navigators=navigators,
            attendings=self.addresses(key, "attendings", body.get("attendings")),
            leads=self.addresses(key, "leads", body.get("leads")),
            guideline=self.guideline(key, body.get("guideline")),
            users=self.strings(key, "members", body.get("members"), USER_PATTERN,
                               "an Airflow user name (no spaces, at most 100 characters)"),
            fhir=self.strings(key, "fhir", body.get("fhir"), FHIR_IDENTIFIER,
                              'a FHIR identifier ("system|value" or a value; no spaces, at most 200 characters)'),
        )
        return team


def parse_teams(data: Any, guidelines: Collection[str] | None = None, source: str = "<teams>") -> list[CareTeam]:
    """Check parsed YAML and return its teams; raise TeamsError listing every problem.

    `guidelines` are the rule set ids a team may name (None: any string is accepted).
    """
    reader = _Reader(guidelines)
    if not isinstance(data, Mapping) or not data:
        raise TeamsError(source, ["the file must map each team key to its name and addresses "
                                  "(see examples/teams.yaml)"])
    teams = [reader.team(key, body) for key, body in data.items()]
    if reader.problems:
        raise TeamsError(source, reader.problems)
    return [team for team in teams if team is not None]


def load_teams_file(path: Path | str, guidelines: Collection[str] | None = None) -> list[CareTeam]:
    """Read and check a teams YAML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise TeamsError(path.name, [f"cannot be read ({exc.strerror or exc})"]) from None
    except UnicodeDecodeError:
        raise TeamsError(path.name, ["is not UTF-8 text; save it as UTF-8"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TeamsError(path.name, [f"is not valid YAML: {exc}"]) from None
    except ValueError as exc:  # a value YAML types itself but cannot build, e.g. the date 2026-13-45
        raise TeamsError(path.name, [f"is not valid YAML: a value cannot be read ({exc})"]) from None
    except RecursionError:
        raise TeamsError(path.name, ["is nested too deeply to be a teams file (see examples/teams.yaml)"]) from None
    return parse_teams(data, guidelines, source=path.name)
