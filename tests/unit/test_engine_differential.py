"""Differential test: netflow's engine against an independent model of the spec.

tests/support/spec_oracle.py is written from /work/shared/spec/surveillance-rules.md alone.
Here a seeded random generator makes records that sit on the boundaries of the spec (sizes,
Ki-67, grades, nodal status, resection type, LVI, gastric types, sites, statuses, scan dates
around phase boundaries and horizons, ages around 50, every guideline, and malformed values
of every kind section 1 lists) and both models evaluate them; every field must agree.
"""

from __future__ import annotations

import calendar
import json
import random
import re
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from netflow.domain import evaluate
from netflow.guidelines import load_rulebook
from tests.support.records import vignettes
from tests.support.spec_oracle import GUIDELINES, MODALITIES, oracle
from tests.support.spec_oracle import PRIMARY_SITES as SITES

SEED = 20260
RECORDS = 20_000
AS_OF_DATES = ("2026-12-01", "2025-02-28", "2024-02-29", "2026-03-31", "2027-01-31", "2025-06-15")
#: months after the resection where the spec changes something: phase boundaries (24, 36,
#: 60), horizons (12, 15, 120) and the windows' bounds.
BOUNDARY_MONTHS = (0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 36, 48, 60, 72, 96, 108, 114, 117, 120, 132)
DELETE = object()  # a field left out of the record


# ---------------------------------------------------------------- the generator


def add_months(d: date, n: int) -> date:
    index = d.month - 1 + n
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def near(rng: random.Random, d: date, spread: int = 3) -> date:
    """A date on, or a few days either side of, d (mostly exactly on it)."""
    if rng.random() < 0.4:
        return d
    return d + timedelta(days=rng.randint(-spread, spread))


def pick_resection(rng: random.Random, as_of: date) -> date:
    """The resection, placed so that as_of falls near a boundary measured from it."""
    if rng.random() < 0.05:
        return as_of + timedelta(days=rng.choice((1, 2, 30, 200)))  # not yet resected
    months = rng.choice((*BOUNDARY_MONTHS, rng.randint(0, 160)))
    resected = near(rng, add_months(as_of, -months), 45)
    if rng.random() < 0.15:  # month-end anchors exercise the clamping of add_months
        last = calendar.monthrange(resected.year, resected.month)[1]
        resected = resected.replace(day=rng.choice((29, 30, 31, last)) if last >= 31 else last)
    return resected


def pick_birth(rng: random.Random, resected: date) -> str:
    """Mostly ages around 50 at the window's opening; a few 29 February birthdays."""
    if rng.random() < 0.05:
        year = rng.choice((1968, 1972, 1976, 1980))
        return f"{year}-02-29"
    base = add_months(resected, rng.choice((-600, -597, -594, -588, -576, -612, -624, -420, -780)))
    return near(rng, base, 20).isoformat()


def pick_scans(rng: random.Random, resected: date, as_of: date) -> list[dict[str, Any]]:
    scans = []
    for _ in range(rng.choice((0, 0, 1, 1, 2, 2, 3, 4))):
        anchor = rng.random()
        if anchor < 0.6:
            day = near(rng, add_months(resected, rng.choice(BOUNDARY_MONTHS)), 20)
        elif anchor < 0.75:
            day = near(rng, as_of, 2)
        elif anchor < 0.85:
            day = near(rng, resected, 1)
        else:
            day = resected + timedelta(days=rng.randint(-400, 4000))
        weights = (6, 4, 1, 1, 1, 2, 3, 1)
        modality = rng.choices(MODALITIES, weights)[0]
        scans.append({"date": day.isoformat(), "modality": modality})
    return scans


def pick_ki67(rng: random.Random) -> Any:
    return rng.choice(
        (None, 0, 0.5, 1.0, 2.9, 2.99, 3, 3.0, 3.01, 4.0, 4.99, 5, 5.0, 5.01, 6, 12.0, 19.99, 20, 20.0, 20.01, 21,
         35.0, 80, 100)
    )  # fmt: skip


def pick_size(rng: random.Random) -> Any:
    return rng.choice((None, 0.5, 5, 8, 9.9, 9.99, 10, 10.0, 10.01, 12, 15, 19.9, 19.99, 20, 20.0, 20.01, 21, 25, 40))


def valid_record(rng: random.Random, as_of: date, index: int) -> dict[str, Any]:
    site = rng.choices(SITES, (3, 2, 4, 4, 1, 4, 1, 2, 2, 1))[0]
    resected = pick_resection(rng, as_of)
    nodes_examined = rng.choice((None, 0, 0, 1, 3, 12))
    nodes_positive = rng.choice((None, 0, 0, 0, 1, 2))
    if nodes_positive is not None and nodes_examined is not None and nodes_positive > nodes_examined:
        nodes_positive = nodes_examined
    low_risk_leaning = rng.random() < 0.4
    status = rng.choices(("active", "recurrence", "deceased", "opted_out", "transferred", None), (24, 1, 1, 1, 1, 3))[0]
    status_date = None
    if rng.random() < 0.6:
        status_date = near(rng, as_of, 2).isoformat() if rng.random() < 0.7 else resected.isoformat()
    record: dict[str, Any] = {
        "patient_id": f"D{index:05d}",
        "name": rng.choice(("Test Patient", None)),
        "birth_date": pick_birth(rng, resected),
        "care_team": "gi-onc-east",
        "primary_site": site,
        "differentiation": rng.choices(("well", "poor", None), (24, 1, 4))[0],
        "grade": rng.choices((1, 2, 3, None), (6, 3, 1, 1) if low_risk_leaning else (2, 3, 2, 1))[0],
        "ki67_percent": rng.choice((1.0, 2.0, 0.5)) if low_risk_leaning and rng.random() < 0.6 else pick_ki67(rng),
        "tumor_size_mm": pick_size(rng),
        "nodes_positive": nodes_positive,
        "nodes_examined": nodes_examined,
        "margin": rng.choices(("R0", "R1", "R2", None), (20, 3, 1, 2))[0],
        "hereditary_syndrome": rng.choices((None, "MEN1", "VHL", "NF1", "TSC"), (80, 1, 1, 1, 1))[0],
        "resection_date": resected.isoformat(),
        "imaging": pick_scans(rng, resected, as_of),
        "status": status,
        "status_date": status_date,
        "guideline": rng.choice((None, None, None, *GUIDELINES)),
    }
    # the v2 fields, sometimes absent altogether
    for field, choices in (
        ("resection_type", ("local_excision", "local_excision", "formal_resection", None)),
        ("lymphovascular_invasion", (True, False, False, None)),
    ):
        if rng.random() < 0.8:
            record[field] = rng.choice(choices)
    if site == "stomach" and rng.random() < 0.85:
        record["gastric_type"] = rng.choice((1, 1, 2, 2, 3, None))
    return record


#: Malformed values for every field section 1 lists: missing required fields, wrong JSON
#: types, unknown enum values, values out of range, and the cross-field checks.
MALFORMED: dict[str, tuple[Any, ...]] = {
    "patient_id": (DELETE, None, "", " ", " T1", "T1\n", "x" * 65, 12, ["T1"], True),
    "name": (5, ["Test"], True),
    "birth_date": ("", DELETE, None, "1960-6-15", "19600615", "1960-02-30", 19600615, "1960-06-15T00:00", " 1960-06-15",
                   "1960/06/15", "2100-01-01"),
    "care_team": ("", " ", "gi ", "g" * 65, DELETE, None, 5, ["gi"]),
    "primary_site": ("", DELETE, None, "Pancreas", "liver", 1, True),
    "differentiation": ("", "moderate", 1, True, "WELL"),
    "grade": ("", 2.0, "2", True, 4, 0, -1, 1.5),
    "ki67_percent": ("", -0.1, 100.1, "5", True, False, [5], -1),
    "tumor_size_mm": ("", 0, 0.0, -1, "10", True, -0.5),
    "nodes_positive": ("", 2.0, "1", -1, True, 99),
    "nodes_examined": ("", -1, 3.0, "3", False, True),
    "margin": ("", "r0", "R3", 0, True),
    "resection_type": ("", 1, "local", True, "Local_excision"),
    "lymphovascular_invasion": ("", "true", 1, 0, "yes", "false"),
    "gastric_type": ("", "1", 1.0, 4, 0, True, 2),
    "hereditary_syndrome": ("", "men1", 1, "MEN2", True),
    "resection_date": (DELETE, None, "2022-3-15", "2022-02-29", 20220315, "2022-03-15 ", "2022-13-01", "20220315",
                       "2022-03-15\n", "\u0662\u0660\u0662\u0662-03-15", "2022-W11-2", "2022-074", "+2022-03-15",
                       "2022-03-15Z", "0000-01-01", ""),
    "imaging": ("", "CT", {}, 5, True),
    "imaging_entry": ("CT", None, {}, {"date": "2024-1-01", "modality": "CT"}, {"date": "2024-01-01"},
                      {"modality": "MRI"}, {"date": "2024-01-01", "modality": "PET"},
                      {"date": 20240101, "modality": "ct"}, {"date": None, "modality": None},
                      {"date": "2024-02-30", "modality": "MRI"}, {"date": "", "modality": "CT"},
                      {"date": "2024-01-01", "modality": ""}),
    "status": ("", "dead", 1, True, "Active"),
    "status_date": ("", "2026-13-01", 5, "2026-1-1", True, "2026-03-01\n", "20260301"),
    "guideline": ("", "NCCN", "esmo", 1, True, "consensus"),
}  # fmt: skip


def malform(rng: random.Random, record: dict[str, Any]) -> None:
    for field in rng.sample(sorted(MALFORMED), rng.choice((1, 1, 1, 2))):
        value = rng.choice(MALFORMED[field])
        if field == "imaging_entry":
            scans = list(record["imaging"]) if isinstance(record.get("imaging"), list) else []
            scans.insert(rng.randint(0, len(scans)), value)
            record["imaging"] = scans
        elif value is DELETE:
            record.pop(field, None)
        else:
            record[field] = value
        if field == "nodes_positive" and value == 99:
            record["nodes_examined"] = rng.choice((3, 0, None))
        if field == "gastric_type" and value == 2:
            record["primary_site"] = rng.choice(("duodenum", "pancreas", "other", None, "Stomach"))
        if field == "birth_date" and value == "2100-01-01":
            resected = record.get("resection_date")
            if isinstance(resected, str) and len(resected) == 10 and resected[4] == "-" and resected[7] == "-":
                try:  # born the day after the resection (or on it: valid)
                    day = date.fromisoformat(resected) + timedelta(days=rng.choice((1, 1, 0)))
                    record["birth_date"] = day.isoformat()
                except ValueError:
                    pass


#: per rule family: a qualifying modality, the early-phase boundary P (months) and the horizon H
#: (months, None for lifelong), and the lower bounds of its intervals.
FAMILIES: dict[str, tuple[tuple[str, ...], int | None, int | None, tuple[int, ...]]] = {
    "nccn/wdg3/": (("CT", "MRI"), 24, 120, (3, 6)),
    "nccn/appendix/optional": (("CT", "MRI"), None, 120, (24,)),
    "nccn/rectum/short_course": (("MRI", "EUS"), None, 15, (6,)),
    "nccn/stomach/type1": (("endoscopy",), None, 120, (12,)),
    "nccn/stomach/type2": (("endoscopy",), None, 12, (12,)),
    "nccn/": (("CT", "MRI"), None, 120, (3, 6, 12)),
    "consensus2018/": (("CT", "MRI"), 36, 120, (6, 12)),
    "esmo2020/": (("CT", "MRI"), 60, None, (3, 6, 12)),
}


def retarget_scan(rng: random.Random, record: dict[str, Any], as_of: date, default: str) -> date:
    """Put the last qualifying scan exactly on (or a day or two around) a phase boundary A + P, or
    where the next window opens on the horizon A + H; returns an as-of date after that scan."""
    rule_id = oracle(record, as_of, default)["rule_id"]
    if rule_id is None or "not_indicated" in rule_id or rule_id == "consensus2018/all/low":
        return as_of
    family = next(FAMILIES[prefix] for prefix in FAMILIES if rule_id.startswith(prefix))
    modalities, boundary, horizon, minimums = family
    resected = date.fromisoformat(record["resection_date"])
    targets = [add_months(resected, boundary)] if boundary else []
    if horizon:
        targets += [add_months(resected, horizon - minimum) for minimum in minimums if horizon > minimum]
    if not targets:
        return as_of
    scan_day = rng.choice(targets) + timedelta(days=rng.choice((-2, -1, 0, 0, 0, 1, 2, 3)))
    if scan_day <= resected:
        return as_of
    kept = [s for s in record.get("imaging") or [] if s["date"] < scan_day.isoformat()]
    record["imaging"] = [*kept, {"date": scan_day.isoformat(), "modality": rng.choice(modalities)}]
    return scan_day + timedelta(days=rng.choice((0, 1, 30, 150, 300, 700)))


def retarget(rng: random.Random, record: dict[str, Any], as_of: date, default: str) -> date:
    """Move the as-of date onto an edge of the spec's window (lead, grace, 90 days overdue) and
    the birth date onto a 50th birthday at the window's opening; returns the new as-of date."""
    first = oracle(record, as_of, default)
    if first["window_open"] is None:
        return as_of
    opens = date.fromisoformat(first["window_open"])
    closes = date.fromisoformat(first["window_close"])
    if rng.random() < 0.5:
        edge = rng.choice((opens, opens, closes))
        delta = {opens: (-31, -30, -29, -1, 0, 1), closes: (29, 30, 31, 119, 120, 121)}[edge]
        as_of = edge + timedelta(days=rng.choice(delta))
    if rng.random() < 0.5:
        birthday = add_months(opens, -600) + timedelta(days=rng.choice((-1, 0, 0, 1)))
        if opens.month in (2, 3) and calendar.isleap(opens.year - 50) and rng.random() < 0.5:
            birthday = date(opens.year - 50, 2, 29)
        record["birth_date"] = birthday.isoformat()
    return as_of


OPTIONAL = ("name", "differentiation", "grade", "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined",
            "margin", "hereditary_syndrome", "imaging", "status", "status_date", "guideline")  # fmt: skip


def generate(rng: random.Random, index: int) -> tuple[object, date, str]:
    as_of = date.fromisoformat(rng.choice(AS_OF_DATES))
    default = rng.choice(GUIDELINES)
    if rng.random() < 0.002:
        return rng.choice((None, [], "record", 7)), as_of, default
    record = valid_record(rng, as_of, index)
    if rng.random() < 0.1:  # optional fields left out rather than null
        for field in rng.sample(OPTIONAL, rng.randint(1, 4)):
            record.pop(field, None)
    if rng.random() < 0.05:  # valid oddities: gastric_type null elsewhere, an unknown extra field, long ids
        extra = rng.choice(("gastric_type", "comment", "patient_id"))
        record[extra] = {"gastric_type": None, "comment": "free text", "patient_id": rng.choice(("x" * 64, "é" * 64))}[
            extra
        ]
    if rng.random() < 0.2:
        as_of = retarget_scan(rng, record, as_of, default)
    if rng.random() < 0.35:
        as_of = retarget(rng, record, as_of, default)
    if rng.random() < 0.15:
        malform(rng, record)
    return record, as_of, default


# ---------------------------------------------------------------- the comparison

BOOKS = {name: load_rulebook(default=name) for name in GUIDELINES}


def netflow_view(raw: object, as_of: date, default: str) -> dict[str, Any]:
    result = evaluate(raw, as_of, BOOKS[default]).to_dict()
    result["error_fields"] = [error["field"] for error in result.pop("errors")]
    result.pop("explanation", None)
    return result


def differences(expected: dict[str, Any], got: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    keys = list(expected) + [k for k in got if k not in expected]
    return {k: (expected.get(k, "<absent>"), got.get(k, "<absent>")) for k in keys if expected.get(k) != got.get(k)}


def undefined_identifier(field: str, value: Any) -> bool:
    """A patient_id or care_team string whose validity the spec does not decide: blank, with
    surrounding spaces, or (care_team, a "string key" of no stated length) longer than 64."""
    if not isinstance(value, str) or (field == "patient_id" and not 1 <= len(value) <= 64):
        return False
    return value != value.strip() or not value or (field == "care_team" and len(value) > 64)


def spec_leaves_open(case: tuple[object, date, str], want: dict[str, Any], got: dict[str, Any]) -> bool:
    """True when the two evaluations differ only where the spec does not decide.

    - The order of the errors: section 1 asks for "one per problem, each naming the field"
      and gives no order (section 7's "each list keeps the order..." is about the codes).
    - A record that is not a JSON object: section 1 speaks of fields only; any error list
      will do, as long as the record is invalid.
    - patient_id ("string, 1-64 chars") and care_team ("string key") that are blank, carry
      surrounding spaces or (care_team) exceed 64 characters: whether that is "malformed" is
      not said; the record may be valid or invalid with an error naming that field.
    """
    raw, as_of, default = case
    want = {**want, "error_fields": sorted(want["error_fields"])}
    got = {**got, "error_fields": sorted(got["error_fields"])}
    if want == got:
        return True
    if not isinstance(raw, dict):
        return {**want, "error_fields": []} == {**got, "error_fields": []} and bool(got["error_fields"])
    unsure = [field for field in ("patient_id", "care_team") if undefined_identifier(field, raw.get(field))]
    if unsure:
        other = oracle({**raw, **dict.fromkeys(unsure, 12)}, as_of, default)  # 12: malformed for both
        other = {**other, "patient_id": raw.get("patient_id"), "error_fields": sorted(other["error_fields"])}
        return other == got
    return False


def kind_of(diff: dict[str, tuple[Any, Any]]) -> str:
    """A mismatch's kind: the error names only one side gives when the errors differ (the other
    fields then follow: one side is invalid), else the fields that differ."""
    if "error_fields" in diff:
        want, got = diff["error_fields"]
        only_want = sorted({re.sub(r"\[\d+\]", "[i]", f) for f in want if f not in got})
        only_got = sorted({re.sub(r"\[\d+\]", "[i]", f) for f in got if f not in want})
        return f"error_fields (only in oracle: {only_want}, only in netflow: {only_got})"
    return ", ".join(diff)


def disputed_values(raw: object, diff: dict[str, tuple[Any, Any]]) -> str:
    """The record's values of the fields that only one side names as errors."""
    if "error_fields" not in diff or not isinstance(raw, dict):
        return ""
    want, got = diff["error_fields"]
    shown = []
    for field in dict.fromkeys(f for f in [*want, *got] if (f in want) != (f in got)):
        match = re.fullmatch(r"imaging\[(\d+)\].*", field)
        if match and isinstance(raw.get("imaging"), list) and int(match.group(1)) < len(raw["imaging"]):
            shown.append(f"{field.split('.')[0]}={raw['imaging'][int(match.group(1))]!r}")
        else:
            shown.append(f"{field}={raw.get(field, '<absent>')!r}")
    return "  disputed: " + ", ".join(dict.fromkeys(shown))


def describe(case: tuple[object, date, str], diff: dict[str, tuple[Any, Any]]) -> str:
    raw, as_of, default = case
    lines = [f"  as_of={as_of.isoformat()} default_guideline={default}", f"  record={json.dumps(raw, default=str)}"]
    if disputed_values(raw, diff):
        lines.append(disputed_values(raw, diff))
    lines += [f"    {field}: spec oracle={want!r} netflow={got!r}" for field, (want, got) in diff.items()]
    return "\n".join(lines)


def test_netflow_agrees_with_the_spec_oracle_on_random_boundary_records() -> None:
    rng = random.Random(SEED)
    kinds: dict[str, list[str]] = defaultdict(list)
    mismatches = 0
    for index in range(RECORDS):
        case = generate(rng, index)
        want = oracle(*case)
        got = netflow_view(*case)
        if want == got or spec_leaves_open(case, want, got):
            continue
        mismatches += 1
        diff = differences(want, got)
        examples = kinds[kind_of(diff)]
        examples.append(describe(case, diff) if len(examples) < 2 else "")
    if mismatches:
        report = [f"{mismatches} of {RECORDS} records differ (seed {SEED}), {len(kinds)} kinds:"]
        for kind, examples in sorted(kinds.items(), key=lambda item: -len(item[1])):
            report.append(f"- {len(examples)} records differ in {kind}, e.g.")
            report += [example for example in examples if example]
        pytest.fail("\n".join(report), pytrace=False)


def test_the_generator_reaches_every_status_rule_and_error_kind() -> None:
    """The random records are worth comparing only if they cover the spec's outcomes."""
    rng = random.Random(SEED)
    statuses, rules, errors, issues = set(), set(), set(), set()
    for index in range(RECORDS):
        result = oracle(*generate(rng, index))
        statuses.add(result["status"])
        rules.add(result["rule_id"])
        errors.update(field.split("[")[0] for field in result["error_fields"])
        issues.update(result["data_issues"])
    assert statuses == {"invalid", "inactive", "needs_review", "not_indicated", "completed", "not_due", "due_soon",
                        "due", "overdue"}  # fmt: skip
    tiers = ("low", "standard", "high")
    every_rule = {
        "nccn/wdg3/high", "nccn/appendix/not_indicated", "nccn/appendix/optional", "nccn/rectum/not_indicated",
        "nccn/rectum/short_course", "nccn/stomach/type1", "nccn/stomach/type2", "esmo2020/appendix/not_indicated",
        "esmo2020/rectum/not_indicated", "esmo2020/wdg3/high", "consensus2018/all/low",
        "consensus2018/all/standard", "consensus2018/all/high",
        *(f"nccn/{group}/{tier}" for group in ("thoracic", "pancreas", "extrapancreatic") for tier in tiers),
        *(f"esmo2020/gep/{tier}" for tier in tiers),
    }  # fmt: skip
    assert every_rule <= rules, every_rule - rules
    assert errors == set(MALFORMED) - {"imaging_entry"} | {"imaging"}
    assert issues == {"ki67_missing", "grade_missing", "nodes_missing", "nodes_not_assessed", "size_missing",
                      "margin_missing", "gastric_type_missing", "imaging_ignored_modality"}  # fmt: skip


CASES = vignettes()


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_spec_oracle_reproduces_each_vignette(case: dict[str, Any]) -> None:
    assert oracle(case["record"], date.fromisoformat(case["as_of"]), case["default_guideline"]) == case["expect"]
