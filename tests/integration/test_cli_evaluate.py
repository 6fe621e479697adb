"""`netflow evaluate` as a person runs it: files, standard input, bad lines, bad arguments."""

from __future__ import annotations

import json
import random
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


def messy_file(path: Path) -> Path:
    """Records of every kind, with what a JSON Lines file can hold besides: blank lines, CRLF and lone CR
    line ends, a BOM, bytes that are not UTF-8, lines that are not JSON, NaN and integers past 64 bits."""
    from tests.unit.test_engine_differential import generate

    rng = random.Random(5)
    lines = [json.dumps(generate(rng, i)[0]).encode() for i in range(600)]
    lines[3:3] = [b"", b"   ", b"{not json", b"[1, 2]", b'{"patient_id": NaN}',
                  b'{"patient_id": 123456789012345678901234}', b'{"patient_id": "\\ud800", "care_team": 1}',
                  b'{"patient_id": "X\xff\xfe"}', b'"text"', b"{}", b'{"nodes_examined": 123456789012345678901234}']
    body = b"\n".join(lines[:200]) + b"\r\n" + b"\r\n".join(lines[200:400]) + b"\r" + b"\n".join(lines[400:])
    path.write_bytes(b"\xef\xbb\xbf" + body)
    return path


def evaluated(path: Path, workers: int, monkeypatch: pytest.MonkeyPatch,
              capsysbinary: pytest.CaptureFixture[bytes]) -> bytes:
    import netflow.cli.evaluate as command

    monkeypatch.setattr(command, "BLOCK_BYTES", 4096)  # many blocks: the workers share the file
    monkeypatch.setenv("NETFLOW_WORKERS", str(workers))
    capsysbinary.readouterr()
    assert main(["evaluate", str(path), "--as-of", "2026-12-01"]) == 0
    return capsysbinary.readouterr().out


def test_two_workers_print_byte_for_byte_what_one_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    path = messy_file(tmp_path / "messy.jsonl")
    alone = evaluated(path, 1, monkeypatch, capsysbinary)
    assert evaluated(path, 2, monkeypatch, capsysbinary) == alone
    assert alone.count(b"\n") == 609


def test_each_line_is_what_the_standard_library_path_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    """orjson reads and writes; the standard library decides what it refuses. Same objects, line numbers included."""
    from datetime import date

    from netflow.domain.engine import evaluate
    from netflow.guidelines import load_rulebook

    path = messy_file(tmp_path / "messy.jsonl")
    book = load_rulebook()
    expected = []
    with open(path, encoding="utf-8-sig", errors="replace") as source:  # the reading before orjson
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                expected.append(evaluate(json.loads(line), date(2026, 12, 1), book).to_dict())
            except ValueError as exc:
                expected.append({"line": number, "error": str(exc).split(":")[0]})

    got = [json.loads(line) for line in evaluated(path, 2, monkeypatch, capsysbinary).splitlines()]

    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        if "line" in want:
            assert have["errors"] == [{"field": "line",
                                       "message": f"{want['line']} is not valid JSON ({want['error']})"}]
        else:
            assert have == json.loads(json.dumps(want)), want.get("patient_id")


def test_evaluate_loads_neither_sqlalchemy_nor_the_services(tmp_path: Path) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text('{"patient_id": "X1"}\n', encoding="utf-8")
    probe = ("import sys\nfrom netflow.cli import main\n"
             f"code = main(['evaluate', {str(source)!r}, '--as-of', '2026-12-01'])\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'jinja2', 'psycopg') "
             "or m.startswith('netflow.services') or m.startswith('netflow.adapters'))\n"
             "print(code, heavy, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip().splitlines()[-1] == "0 []"
    assert '"patient_id":"X1"' in done.stdout
