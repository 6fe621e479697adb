"""Every vignette of the spec, through the Python API (the CLI test runs them through the command)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from netflow.domain import evaluate
from netflow.guidelines import load_rulebook
from tests.support.records import vignettes

CASES = vignettes()


def comparable(evaluation: dict[str, Any], expect: dict[str, Any]) -> dict[str, Any]:
    got = {key: evaluation[key] for key in expect if key != "error_fields"}
    got["error_fields"] = [error["field"] for error in evaluation["errors"]]
    return got


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_each_vignette_evaluates_exactly_as_the_spec_expects(case: dict[str, Any]) -> None:
    book = load_rulebook(default=case["default_guideline"])

    result = evaluate(case["record"], date.fromisoformat(case["as_of"]), book).to_dict()

    assert comparable(result, case["expect"]) == case["expect"]
    assert result["explanation"]


def test_there_are_vignettes_to_check() -> None:
    assert len(CASES) >= 31
