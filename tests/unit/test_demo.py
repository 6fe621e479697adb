"""The synthetic cohort: reproducible, realistic, valid except where it means not to be."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path
from random import Random

import pytest
import yaml

from netflow.cli import main
from netflow.demo import (
    DEFAULT_AS_OF,
    DEFECTS,
    DemoPatient,
    build_cohort,
    generate_patients,
    make_care_teams,
    team_count,
    teams_yaml,
    write_cohort,
    write_records,
)
from netflow.domain.dates import add_months, age_on
from netflow.domain.record import PRIMARY_SITES, RECORD_FIELDS, parse_record

# The engine and the guideline loader are imported inside the two tests that use them, so that
# the generator's own tests run while those are being changed.

GUIDELINES = ("nccn", "consensus2018", "esmo2020")
SIZE = 4000
Record = dict[str, object]


def cohort_text(
    seed: int, size: int, as_of: date = DEFAULT_AS_OF, rate: float = 0.02, block_size: int = 10_000,
) -> str:
    out = io.StringIO()
    write_records(build_cohort(seed, size, as_of, rate, block_size).patients(), out, batch=64)
    return out.getvalue()


@pytest.fixture(scope="module")
def patients() -> list[DemoPatient]:
    return list(build_cohort(seed=11, size=SIZE).patients())


@pytest.fixture(scope="module")
def valid(patients: list[DemoPatient]) -> list[dict[str, object]]:
    return [p.record for p in patients if p.defect is None]


def test_the_same_seed_gives_byte_identical_output() -> None:
    assert cohort_text(5, 500) == cohort_text(5, 500)


def test_a_different_seed_gives_a_different_cohort() -> None:
    assert cohort_text(5, 200) != cohort_text(6, 200)


def test_the_as_of_date_changes_the_cohort() -> None:
    assert cohort_text(5, 200) != cohort_text(5, 200, as_of=date(2024, 6, 30))


def test_worker_processes_write_the_same_bytes_as_one_process() -> None:
    cohort = build_cohort(8, 230, block_size=50)
    one, two = io.StringIO(), io.StringIO()
    assert write_cohort(cohort, one, jobs=1) == write_cohort(cohort, two, jobs=2)
    assert one.getvalue() == two.getvalue() == cohort_text(8, 230, block_size=50)


def test_a_block_is_the_same_whichever_order_blocks_are_made_in() -> None:
    cohort = build_cohort(8, 230, block_size=50)
    last = [p.record for p in cohort.block(4)]
    assert len(last) == 30
    assert [p.record for p in cohort.patients()][200:] == last


def test_the_output_is_one_json_object_per_line_with_every_field_in_the_spec_order() -> None:
    lines = cohort_text(3, 50).splitlines()
    assert len(lines) == 50
    assert all(list(json.loads(line)) == list(RECORD_FIELDS) for line in lines)


def test_every_record_passes_validation_except_the_intended_malformed_ones(
    patients: list[DemoPatient],
) -> None:
    for patient in patients:
        record, errors = parse_record(patient.record, GUIDELINES)
        if patient.defect is None:
            assert record is not None, (patient.record["patient_id"], errors)
        else:
            assert record is None and errors, (patient.defect, patient.record)


def test_the_share_of_malformed_records_matches_the_rate(patients: list[DemoPatient]) -> None:
    malformed = sum(p.defect is not None for p in patients)
    assert 0.01 * SIZE <= malformed <= 0.03 * SIZE  # 2 %, about 4.5 standard deviations each side
    assert len({p.defect for p in patients if p.defect}) >= 8


@pytest.mark.parametrize("seed", [1, 2])
def test_thousands_of_records_without_defects_are_all_valid_under_every_guideline(seed: int) -> None:
    for patient in build_cohort(seed, 3000, malformed_rate=0.0).patients():
        record, errors = parse_record(patient.record, GUIDELINES)
        assert record is not None and not errors, (patient.record, errors)


@pytest.mark.parametrize("rate", [0.0, 1.0], ids=["none", "all"])
def test_a_rate_of_zero_or_one_makes_no_or_every_record_malformed(rate: float) -> None:
    cohort = list(build_cohort(2, 300, malformed_rate=rate).patients())
    assert sum(p.defect is not None for p in cohort) == int(rate * 300)


@pytest.mark.parametrize("name", [name for name, _, _ in DEFECTS])
def test_each_kind_of_defect_is_caught_by_validation(name: str) -> None:
    damage = next(make for defect, make, _ in DEFECTS if defect == name)
    rng = Random(name)
    for patient in build_cohort(4, 100, malformed_rate=0.0).patients():
        damage(rng, patient.record, DEFAULT_AS_OF)
        record, errors = parse_record(patient.record, GUIDELINES)
        assert record is None and errors, patient.record


def test_primary_sites_come_in_realistic_proportions(valid: list[dict[str, object]]) -> None:
    share = {site: n / len(valid) for site, n in Counter(r["primary_site"] for r in valid).items()}
    assert set(share) == set(PRIMARY_SITES)
    ranked = sorted(share, key=share.__getitem__, reverse=True)
    assert set(ranked[:2]) == {"small_intestine", "pancreas"}
    assert 0.20 <= share["small_intestine"] <= 0.34 and 0.18 <= share["pancreas"] <= 0.32
    assert share["rectum"] > share["stomach"] and share["appendix"] > share["duodenum"]
    assert share["other"] < 0.06


def node_positive_share(records: list[dict[str, object]], sites: set[str]) -> float:
    """Among the records of `sites` whose nodes were examined (not a local excision's 0 of 0)."""
    known = [
        r for r in records
        if r["primary_site"] in sites and r["nodes_positive"] is not None and r["nodes_examined"] != 0
    ]
    return sum(int(str(r["nodes_positive"])) > 0 for r in known) / len(known)


def test_most_small_intestine_tumours_have_positive_nodes_and_fewer_elsewhere(
    valid: list[dict[str, object]],
) -> None:
    small_intestine = node_positive_share(valid, {"small_intestine"})
    assert 0.55 <= small_intestine <= 0.75
    assert node_positive_share(valid, {"pancreas"}) < small_intestine - 0.2
    # v2: nodes are examined only after a formal resection, mostly of the larger appendiceal and rectal tumours
    assert node_positive_share(valid, {"appendix", "rectum"}) < min(0.35, small_intestine - 0.2)
    assert any(r["nodes_positive"] is None for r in valid)


def test_ki67_agrees_with_the_stated_grade_most_of_the_time(valid: list[dict[str, object]]) -> None:
    both = [r for r in valid if r["grade"] is not None and r["ki67_percent"] is not None]
    implied = [
        (r["grade"], 1 if float(str(r["ki67_percent"])) < 3 else 2 if float(str(r["ki67_percent"])) <= 20 else 3)
        for r in both
    ]
    assert sum(stated == grade for stated, grade in implied) / len(implied) >= 0.9
    grades = Counter(r["grade"] for r in valid)
    assert grades[1] + grades[2] > 0.75 * len(valid) and grades[3] > 0 and grades[None] > 0
    assert 0 < sum(r["differentiation"] == "poor" for r in valid) < 0.1 * len(valid)


def after_resection(record: Record) -> list[str]:
    """The modalities of the record's imaging after its resection date."""
    resected = str(record["resection_date"])
    return [
        str(scan["modality"])
        for scan in record["imaging"]  # type: ignore[attr-defined]
        if str(scan["date"]) > resected
    ]


def share_of(records: list[Record], wanted: Callable[[Record], object]) -> float:
    """The share of `records` for which `wanted` is truthy."""
    return sum(bool(wanted(r)) for r in records) / len(records)


def of_sites(records: list[Record], *sites: str) -> list[Record]:
    return [r for r in records if r["primary_site"] in sites]


def test_small_appendiceal_and_rectal_tumours_are_mostly_locally_excised_without_nodes(
    valid: list[Record],
) -> None:
    appendix_rectum = of_sites(valid, "appendix", "rectum")
    local = [r for r in appendix_rectum if r["resection_type"] == "local_excision"]
    formal = [r for r in appendix_rectum if r["resection_type"] == "formal_resection"]
    assert 0.65 <= len(local) / len(appendix_rectum) <= 0.95 and 0.05 <= len(formal) / len(appendix_rectum) <= 0.3
    assert all(r["nodes_positive"] is None or r["nodes_examined"] == 0 for r in local)
    assert share_of(formal, lambda r: r["nodes_examined"]) > 0.8
    under_10 = [r for r in local if r["tumor_size_mm"] is not None and float(str(r["tumor_size_mm"])) < 10]
    assert len(under_10) > 0.5 * len(local)
    assert any(r["primary_site"] == "appendix" and r["grade"] == 1 and r["margin"] == "R0" for r in under_10)


def test_other_sites_are_formally_resected_with_nodes_examined(valid: list[Record]) -> None:
    others = [r for r in valid if r["primary_site"] not in ("appendix", "rectum")
              and r.get("gastric_type") not in (1, 2)]
    assert {r["resection_type"] for r in others} == {"formal_resection", None}
    assert share_of(others, lambda r: r["resection_type"] is None) < 0.06  # the operation not coded
    assert share_of(others, lambda r: r["nodes_examined"]) > 0.85


def test_some_lung_and_thymus_carcinoids_are_followed_with_ct(valid: list[Record]) -> None:
    thoracic = of_sites(valid, "lung", "thymus")
    assert 0.03 <= len(thoracic) / len(valid) <= 0.12
    assert 0 < len(of_sites(thoracic, "thymus")) < len(of_sites(thoracic, "lung"))
    assert share_of(thoracic, lambda r: "CT" in after_resection(r)) > 0.5


def test_gastric_tumours_carry_a_type_mostly_1_and_type_1_and_2_are_followed_by_gastroscopy(
    valid: list[Record],
) -> None:
    assert all(r["gastric_type"] is None for r in valid if r["primary_site"] != "stomach")
    stomach = of_sites(valid, "stomach")
    types = Counter(r["gastric_type"] for r in stomach)
    assert types[1] > 0.55 * len(stomach) and types[1] > types[3] > types[2] > 0 and 0 < types[None] < types[3]
    endoscopic = [r for r in stomach if r["gastric_type"] in (1, 2)]
    studies = Counter(modality for r in endoscopic for modality in after_resection(r))
    assert studies["endoscopy"] > studies["CT"] + studies["MRI"]
    assert share_of(endoscopic, lambda r: "endoscopy" in after_resection(r)) > 0.4
    assert not any("endoscopy" in after_resection(r) for r in of_sites(valid, "pancreas", "small_intestine"))


def test_rectal_tumours_of_10_to_20_mm_have_eus_or_rectal_mri_after_their_excision(valid: list[Record]) -> None:
    middle = [r for r in of_sites(valid, "rectum") if r["tumor_size_mm"] and 10 <= float(str(r["tumor_size_mm"])) <= 20]
    assert share_of(middle, lambda r: {"EUS", "MRI"} & set(after_resection(r))) > 0.5
    assert share_of(middle, lambda r: "endoscopy" in after_resection(r)) > 0.5


def test_lymphovascular_invasion_is_mostly_not_reported_sometimes_absent_and_rarely_present(
    valid: list[Record],
) -> None:
    lvi = Counter(r["lymphovascular_invasion"] for r in valid)
    assert set(lvi) == {None, False, True}
    assert lvi[None] > 0.55 * len(valid) and lvi[False] > lvi[True]
    assert 0.01 * len(valid) < lvi[True] < 0.12 * len(valid)


def test_well_differentiated_grade_3_is_a_few_per_cent(valid: list[Record]) -> None:
    wdg3 = share_of(
        valid, lambda r: r["differentiation"] == "well" and r["ki67_percent"] is not None
        and float(str(r["ki67_percent"])) > 20,
    )
    assert 0.015 <= wdg3 <= 0.08


def test_about_one_patient_in_ten_is_followed_under_esmo2020(valid: list[Record]) -> None:
    guidelines = Counter(r["guideline"] for r in valid)
    assert 0.07 * len(valid) <= guidelines["esmo2020"] <= 0.13 * len(valid)
    assert guidelines["consensus2018"] > 0 and guidelines["nccn"] > 0


def test_the_malformed_records_include_defects_of_the_v2_fields() -> None:
    defects = {p.defect for p in build_cohort(5, 400, malformed_rate=1.0).patients()}
    assert {"gastric_type_off_the_stomach", "bad_gastric_type", "lvi_not_boolean", "unknown_resection_type"} <= defects


def test_no_date_is_after_the_as_of_date_and_resections_span_twelve_years(
    valid: list[dict[str, object]],
) -> None:
    as_of = DEFAULT_AS_OF.isoformat()
    resections = sorted(str(r["resection_date"]) for r in valid)
    assert add_months(DEFAULT_AS_OF, -144).isoformat() <= resections[0] and resections[-1] <= as_of
    assert resections[len(resections) // 2] < add_months(DEFAULT_AS_OF, -48).isoformat()
    for record in valid:
        assert all(str(scan["date"]) <= as_of for scan in record["imaging"])  # type: ignore[attr-defined]
        assert record["status_date"] is None or str(record["status_date"]) <= as_of


def test_no_imaging_is_after_an_earlier_as_of_date() -> None:
    as_of = date(2020, 1, 15)
    for patient in build_cohort(9, 500, as_of, malformed_rate=0.0).patients():
        assert all(scan["date"] <= "2020-01-15" for scan in patient.record["imaging"])  # type: ignore[attr-defined]


def test_patients_are_adults_from_about_30_to_85_at_resection(valid: list[dict[str, object]]) -> None:
    ages = [
        age_on(date.fromisoformat(str(r["birth_date"])), date.fromisoformat(str(r["resection_date"])))
        for r in valid
    ]
    assert min(ages) >= 24 and max(ages) <= 86
    assert 50 <= sorted(ages)[len(ages) // 2] <= 66


def test_patient_ids_are_unique_mrns_with_seven_digits() -> None:
    ids = [p.record["patient_id"] for p in build_cohort(1, 30000, malformed_rate=0.0).patients()]
    assert all(re.fullmatch(r"MRN\d{7}", str(i)) for i in ids)
    assert len(set(ids)) == len(ids)


def test_the_cohort_exercises_every_status_and_some_syndromes_overrides_and_outcomes(
    patients: list[DemoPatient],
) -> None:
    from netflow.domain.engine import evaluate
    from netflow.guidelines import load_rulebook

    book = load_rulebook()
    evaluations = [evaluate(p.record, DEFAULT_AS_OF, book) for p in patients]
    statuses = Counter(e.status for e in evaluations)
    for status in ("invalid", "inactive", "needs_review", "not_indicated", "completed",
                   "not_due", "due_soon", "due", "overdue"):
        assert statuses[status] > 0, statuses
    rules = Counter(e.rule_id for e in evaluations)
    for rule in ("nccn/wdg3/high", "nccn/appendix/not_indicated", "nccn/appendix/optional",
                 "nccn/rectum/not_indicated", "nccn/rectum/short_course", "nccn/stomach/type1",
                 "nccn/thoracic/low", "nccn/thoracic/standard", "nccn/thoracic/high",
                 "esmo2020/gep/standard", "esmo2020/gep/high"):
        assert rules[rule] > 0, (rule, rules)
    records = [p.record for p in patients]
    assert {"MEN1"} <= {r["hereditary_syndrome"] for r in records}
    assert {"recurrence", "deceased", "opted_out", "transferred", "active"} <= {r["status"] for r in records}
    assert 0 < sum(r["guideline"] == "consensus2018" for r in records) < 0.1 * len(records)
    modalities = Counter(s["modality"] for r in records for s in r["imaging"])  # type: ignore[attr-defined]
    assert modalities["CT"] > modalities["MRI"] > modalities["SSTR_PET"] > 0 and modalities["US"] > 0
    assert modalities["endoscopy"] > 0 and modalities["EUS"] > 0


@pytest.mark.parametrize(("size", "teams"), [(10, 4), (1000, 5), (50_000, 6), (100_000, 7), (1_000_000, 8)])
def test_larger_cohorts_have_more_care_teams_from_4_to_8(size: int, teams: int) -> None:
    assert team_count(size) == teams


def test_the_teams_yaml_parses_and_every_patient_belongs_to_one_of_its_teams(
    patients: list[DemoPatient],
) -> None:
    from netflow.guidelines.teams import parse_teams

    cohort = build_cohort(seed=11, size=SIZE)
    teams = parse_teams(yaml.safe_load(teams_yaml(cohort.teams, "a header")), GUIDELINES)
    keys = {team.key for team in teams}
    assert "gi-onc-east" in keys and 4 <= len(keys) <= 8
    assert {p.record["care_team"] for p in patients if p.defect is None} == keys
    for team in teams:
        assert 1 <= len(team.navigators) <= 2 and 1 <= len(team.attendings) <= 3 and len(team.leads) == 1
        assert all(a.endswith("@hospital.example") for a in team.navigators + team.attendings + team.leads)


def test_at_most_one_team_sets_the_consensus_guideline() -> None:
    for seed in range(20):
        teams = make_care_teams(Random(seed), 8)
        assert sum(team.guideline == "consensus2018" for team in teams) <= 1
        assert len({team.key for team in teams}) == 8


def test_generating_from_a_given_rng_state_is_reproducible() -> None:
    teams = make_care_teams(Random(0), 4)
    first = [p.record for p in generate_patients(Random(7), DEFAULT_AS_OF, teams, 100)]
    again = [p.record for p in generate_patients(Random(7), DEFAULT_AS_OF, teams, 100)]
    assert first == again


def test_the_cli_writes_the_patients_and_the_teams_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, teams = tmp_path / "patients.jsonl", tmp_path / "teams.yaml"
    code = main(["demo-data", "--patients", "300", "--seed", "4", "--out", str(out), "--teams-out", str(teams)])
    assert code == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300 and len({json.loads(line)["patient_id"] for line in lines}) == 300
    assert set(yaml.safe_load(teams.read_text(encoding="utf-8"))) >= {"gi-onc-east"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["patients.jsonl", "teams.yaml"]
    assert capsys.readouterr().err == ""  # no progress bar when standard error is not a terminal


def test_the_cli_writes_to_standard_output_with_a_dash(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--patients", "20", "--seed", "4", "--out", "-", "--as-of", "2025-01-31"]) == 0
    assert capsys.readouterr().out == cohort_text(4, 20, date(2025, 1, 31))


@pytest.mark.parametrize(
    "argv",
    [
        ["--patients", "0"],
        ["--patients", "many"],
        ["--malformed-rate", "2"],
        ["--as-of", "01/12/2026"],
    ],
    ids=["zero-patients", "not-a-number", "rate-above-one", "bad-date"],
)
def test_the_cli_rejects_bad_options(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["demo-data", "--out", "-", *argv])
    assert exit_info.value.code == 2 and "demo-data" in capsys.readouterr().err


def test_the_cli_says_when_it_cannot_write(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["demo-data", "--patients", "5", "--out", str(tmp_path / "missing" / "p.jsonl")])
    assert code == 2 and "cannot write" in capsys.readouterr().err


def test_most_gastric_type_1_and_2_tumours_are_removed_endoscopically(valid: list[Record]) -> None:
    typed = [r for r in valid if r["primary_site"] == "stomach" and r.get("gastric_type") in (1, 2)]
    assert share_of(typed, lambda r: r["resection_type"] == "local_excision") > 0.6
