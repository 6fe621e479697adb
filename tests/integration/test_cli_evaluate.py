"""`netflow evaluate` as a person runs it: files, standard input, bad lines, bad arguments."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from netflow.cli import main
from tests.support.records import record, vignettes
from tests.unit.test_vignettes import comparable

NETFLOW = [sys.executable, "-m", "netflow"]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_cli(args: list[str], stdin: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NETFLOW, *args], input=stdin, capture_output=True, text=True, timeout=60,
                          env=env)


def test_every_vignette_matches_through_the_command(tmp_path: Path) -> None:
    cases = vignettes()
    for as_of in sorted({c["as_of"] for c in cases}):
        for guideline in sorted({c["default_guideline"] for c in cases}):
            group = [c for c in cases if c["as_of"] == as_of and c["default_guideline"] == guideline]
            if not group:
                continue
            path = write_jsonl(tmp_path / f"{as_of}.jsonl", [c["record"] for c in group])

            done = run_cli(["evaluate", str(path), "--as-of", as_of, "--guideline", guideline])

            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert len(lines) == len(group)
            for case, line in zip(group, lines, strict=True):
                assert comparable(json.loads(line), case["expect"]) == case["expect"], case["id"]


def test_output_keeps_input_order_and_the_spec_field_order(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record(patient_id=f"P{i}") for i in range(5)])

    assert main(["evaluate", str(path), "--as-of", "2026-12-01"]) == 0

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["patient_id"] for r in rows] == [f"P{i}" for i in range(5)]
    assert list(rows[0]) == [
        "patient_id", "as_of", "guideline", "rule_id", "status", "risk_tier", "risk_reasons", "review_reasons",
        "last_scan", "window_open", "window_close", "interval_months", "days_overdue",
        "escalation_level", "recommended_modality", "data_issues", "errors", "explanation"]


def test_a_line_that_is_not_json_is_invalid_and_names_its_line_number(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps(record()) + "\n{not json\n" + json.dumps(record(patient_id="P2")) + "\n")

    assert main(["evaluate", str(path), "--as-of", "2026-12-01"]) == 0

    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in rows] == ["overdue", "invalid", "overdue"]
    assert rows[1]["errors"][0]["field"] == "line"
    assert rows[1]["errors"][0]["message"].startswith("2 is not valid JSON")


def test_standard_input_is_read_with_a_dash() -> None:
    done = run_cli(["evaluate", "-", "--as-of", "2026-12-01"], stdin=json.dumps(record()) + "\n")
    assert done.returncode == 0
    assert json.loads(done.stdout)["status"] == "overdue"


def test_the_record_guideline_wins_over_the_command_line_default(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record(), record(guideline="nccn")])
    main(["evaluate", str(path), "--as-of", "2026-12-01", "--guideline", "consensus2018"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["guideline"] for r in rows] == ["consensus2018", "nccn"]


def test_a_missing_file_is_one_clear_line_and_exit_status_2(tmp_path: Path) -> None:
    done = run_cli(["evaluate", str(tmp_path / "absent.jsonl"), "--as-of", "2026-12-01"])
    assert done.returncode == 2
    expected = f"netflow evaluate: error: cannot read {tmp_path}/absent.jsonl: no such file"
    assert done.stderr.strip().splitlines() == [expected]


@pytest.mark.parametrize("bad", ["2026-13-01", "01/12/2026", "tomorrow"])
def test_a_bad_as_of_date_is_exit_status_2(tmp_path: Path, bad: str) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record()])
    done = run_cli(["evaluate", str(path), "--as-of", bad])
    assert done.returncode == 2
    assert "--as-of: must be a date as YYYY-MM-DD" in done.stderr


def test_an_unknown_guideline_is_exit_status_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [record()])
    done = run_cli(["evaluate", str(path), "--as-of", "2026-12-01", "--guideline", "esmo"])
    assert done.returncode == 2
    assert "unknown guideline 'esmo'" in done.stderr


def test_an_installation_rule_set_is_added_through_configuration(tmp_path: Path) -> None:
    from tests.unit.test_guidelines import CUSTOM

    rules = tmp_path / "local.yaml"
    rules.write_text(CUSTOM, encoding="utf-8")
    path = write_jsonl(tmp_path / "in.jsonl", [record()])
    env = {"PATH": "/usr/bin:/bin", "NETFLOW_RULESETS": str(rules)}

    done = run_cli(["evaluate", str(path), "--as-of", "2026-12-01", "--guideline", "local"], env=env)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rule_id"] == "local/all/standard"


def test_help_describes_every_option() -> None:
    done = run_cli(["evaluate", "--help"])
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    for word in ("FILE", "--as-of", "--guideline", "standard input"):
        assert word in text
    top = run_cli(["--help"])
    assert "evaluate" in top.stdout
