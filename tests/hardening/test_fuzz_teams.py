"""`netflow teams load` fed hostile files, and the addresses it accepts checked against what mail can carry.

Never a crash: exit status 0 with the teams loaded, or 2 with every problem listed and nothing loaded.
An address the loader accepts is an address every digest can be sent to.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netflow.adapters.mail import build_message, parse_address
from netflow.cli import main
from netflow.guidelines.teams import valid_address
from tests.support.cohort import Cohort, make_cohort
from tests.support.smtp import SmtpTestServer

EXAMPLES = int(os.environ.get("NETFLOW_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(max_examples=EXAMPLES or 60, deadline=None, derandomize=EXAMPLES is None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def teams_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('teams') / 'netflow.db'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", url)
        assert main(["db", "upgrade"]) == 0
    return url


def load(path: Path, url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NETFLOW_DATABASE_URL", url)
        status = main(["teams", "load", str(path)])
    out, err = capsys.readouterr()
    return status, out, err


def assert_refused(status: int, err: str) -> None:
    assert status == 2
    assert err.startswith("netflow teams: error: teams file ") and "problem(s):" in err
    assert err.rstrip().endswith("nothing was loaded") and "Traceback" not in err


scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                    st.sampled_from(["nav@hospital.example", "Nav <nav@hospital.example>", "a@b", "nccn",
                                     "x\r\nBcc: e@evil.example", "consensus2018", "GI Oncology East"]))
yaml_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=12), st.sampled_from(
        ["name", "navigators", "attendings", "leads", "guideline"])), inner, max_size=5)), max_leaves=20)


@FUZZ
@given(document=yaml_values)
def test_a_teams_file_of_any_yaml_shape_is_loaded_or_refused_listing_its_problems(
        teams_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], document: object) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")

    status, out, err = load(path, teams_url, capsys)

    if status == 0:
        assert out.startswith("loaded ")
    else:
        assert_refused(status, err)


@FUZZ
@given(content=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda t: t.encode("utf-8"))))
def test_a_teams_file_of_any_bytes_is_loaded_or_refused_listing_its_problems(
        teams_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes) -> None:
    path = tmp_path / "teams.yaml"
    path.write_bytes(content)

    status, out, err = load(path, teams_url, capsys)

    if status == 0:
        assert out.startswith("loaded ")
    else:
        assert_refused(status, err)


GOOD = "  navigators: [nav@hospital.example]\n"


@pytest.mark.parametrize(("content", "problem"), [
    ("east:\n  name: \"Evil\\r\\nBcc: x@evil.example\"\n" + GOOD, "name: must be the team's name on one line"),
    ("east:\n  name: \"Evil\\LBcc: x@evil.example\"\n" + GOOD, "name: must be the team's name on one line"),
    ("east:\n  name: \"Evil\\NBcc: x@evil.example\"\n" + GOOD, "name: must be the team's name on one line"),
    ("east:\n  name: \"Evil\\tTab\"\n" + GOOD, "name: must be the team's name on one line"),
    ("east:\n  name: East\n  navigators: [\"nav@hospital.example\\r\\nBcc: x@evil.example\"]\n",
     "navigators: entry 1 is not a valid email address"),
    ("east:\n  name: East\n  navigators: [\"Nav <nav@hospital.example>\"]\n", "entry 1 is not a valid email"),
    ("east:\n  name: East\n  navigators: [\"a@b@c.example\"]\n", "entry 1 is not a valid email"),
    ("east:\n  name: East\n  navigators: [\"nav@hospital.example, evil@evil.example\"]\n", "entry 1 is not a valid"),
    ("east:\n  name: East\n  navigators: nav@hospital.example\n  colour: red\n", "colour: unknown field"),
    ("east:\n  name: East\n  navigators: {a: b}\n", "must be a list of email addresses"),
    ("east:\n  name: East\n  navigators: []\n", "a team needs at least one valid navigator"),
    ("east:\n  name: 2026-13-45\n" + GOOD, "is not valid YAML: a value cannot be read"),
    ("east:\n  name: !!float abc\n" + GOOD, "is not valid YAML: a value cannot be read"),
    ("east: " + "[" * 3000 + "]" * 3000 + "\n", "nested too deeply"),
    ("- east\n- west\n", "the file must map each team key"),
    ("", "the file must map each team key"),
    ("east: [unclosed\n", "is not valid YAML"),
    ("east: !!python/object/apply:os.system [echo pwned]\n", "is not valid YAML"),
    ("\"bad key!\":\n  name: East\n" + GOOD, "the key must be 1-64 letters"),
], ids=["crlf-name", "line-separator-name", "next-line-name", "tab-name", "crlf-address", "display-name",
        "two-at", "two-addresses", "unknown-field", "navigators-mapping", "no-navigator", "bad-date", "bad-float",
        "deep", "a-list", "empty", "bad-yaml", "python-tag", "bad-key"])
def test_a_bad_teams_file_is_refused_naming_the_problem_and_nothing_is_loaded(
        teams_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, problem: str) -> None:
    path = tmp_path / "teams.yaml"
    path.write_text(content, encoding="utf-8")

    status, _, err = load(path, teams_url, capsys)

    assert_refused(status, err)
    assert problem in err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1"])
def test_a_teams_file_in_another_encoding_is_refused_with_what_to_do(
        teams_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str) -> None:
    path = tmp_path / "teams.yaml"
    path.write_bytes("east:\n  name: Équipe Est\n  navigators: [nav@hospital.example]\n".encode(encoding))

    status, _, err = load(path, teams_url, capsys)

    assert_refused(status, err)
    assert "is not UTF-8 text; save it as UTF-8" in err


domains = st.sampled_from(["hospital.example", "bücher.example", "xn--bcher-kva.example", "KLINIK.Example",
                           "sub.d-mn.example", "例え.テスト", "a.b.c.example"])
locals_ = st.one_of(st.from_regex(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\.[A-Za-z0-9_-]{1,10}){0,2}",
                                  fullmatch=True), st.text(max_size=20))


@FUZZ
@given(text=st.one_of(st.emails(), st.builds(lambda local, domain: f"{local}@{domain}", locals_, domains),
                      st.text(max_size=60)))
def test_every_address_the_teams_loader_accepts_can_head_a_digest(text: str) -> None:
    address = valid_address(text)
    if address is None:
        return
    parse_address(address)
    build_message(sender="netflow@hospital.example", to=[address], cc=[address], subject="s", text="t",
                  html="<p>t</p>", message_id="<digest-1@netflow.local>")


def test_a_navigator_at_an_internationalised_domain_gets_the_digest_at_its_ascii_form(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp_server: SmtpTestServer) -> None:
    cohort: Cohort = make_cohort(f"sqlite:///{tmp_path / 'netflow.db'}", tmp_path, monkeypatch, smtp_server.url)
    teams = tmp_path / "idn.yaml"
    teams.write_text("hpb-west:\n  name: HPB Surgery West\n  navigators: [nav@bücher.example]\n", encoding="utf-8")
    assert cohort.netflow("teams", "load", str(teams)) == 0

    assert cohort.netflow("remind", "--as-of", "2026-12-01") == 0

    west = [m for m in smtp_server.messages if "HPB Surgery West" in str(m.message["Subject"])]
    assert len(west) == 1 and west[0].rcpt_tos == ("nav@xn--bcher-kva.example",)
    assert cohort.outbox("failed") == 0
