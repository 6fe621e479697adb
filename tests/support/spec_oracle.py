"""An independent reference model of the surveillance engine.

Written only from /work/shared/spec/surveillance-rules.md (version 2), without reading
netflow's engine or rule files, so that a differential test can compare the two. It returns
the spec's evaluation object (section 7) without the explanation, and with ``errors``
reduced to the list of field names (``error_fields``): the shape of the vignettes'
``expect`` objects.

Choices the spec leaves open are marked "[oracle]" below.
"""

from __future__ import annotations

import calendar
import math
import re
from datetime import date, timedelta
from typing import Any

# ---------------------------------------------------------------- section 1: the record

PRIMARY_SITES = (
    "pancreas",
    "small_intestine",
    "appendix",
    "rectum",
    "colon",
    "stomach",
    "duodenum",
    "lung",
    "thymus",
    "other",
)
THORACIC_SITES = ("lung", "thymus")
DIFFERENTIATIONS = ("well", "poor")
GRADES = (1, 2, 3)
MARGINS = ("R0", "R1", "R2")
RESECTION_TYPES = ("local_excision", "formal_resection")
GASTRIC_TYPES = (1, 2, 3)
SYNDROMES = ("MEN1", "VHL", "NF1", "TSC")
MODALITIES = ("CT", "MRI", "SSTR_PET", "FDG_PET", "US", "EUS", "endoscopy", "other")
STATUSES = ("active", "recurrence", "deceased", "opted_out", "transferred")
INACTIVE_STATUSES = ("recurrence", "deceased", "opted_out", "transferred")
GUIDELINES = ("nccn", "consensus2018", "esmo2020")

# The order of the fields in the table of section 1; errors are listed in this order
# [oracle: the spec does not say in which order errors come; vignette P27 lists
# ki67_percent before nodes_positive, which is the table's order].
FIELD_ORDER = (
    "patient_id",
    "name",
    "birth_date",
    "care_team",
    "primary_site",
    "differentiation",
    "grade",
    "ki67_percent",
    "tumor_size_mm",
    "nodes_positive",
    "nodes_examined",
    "margin",
    "resection_type",
    "lymphovascular_invasion",
    "gastric_type",
    "hereditary_syndrome",
    "resection_date",
    "imaging",
    "status",
    "status_date",
    "guideline",
)

DATE_FORM = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(value: Any) -> date | None:
    """A date string of exactly the form YYYY-MM-DD naming a real calendar day, else None."""
    if not isinstance(value, str) or not DATE_FORM.fullmatch(value):
        return None
    try:
        return date(int(value[0:4]), int(value[5:7]), int(value[8:10]))
    except ValueError:
        return None


def is_json_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_json_number(value: Any) -> bool:
    """A JSON number: never a boolean, never NaN or an infinity (JSON has no such numbers)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_known(value: Any, allowed: tuple[Any, ...]) -> bool:
    """Enum membership where a value of the wrong type is unknown ("1" is not 1, True is not 1)."""
    return any(type(value) is type(choice) and value == choice for choice in allowed)


def validate(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Every problem of the record as (field, message), in the order of the section 1 table
    (a cross-field problem sits with the field it names)."""
    problems: list[tuple[str, str]] = []

    def get(field: str) -> Any:
        return raw.get(field)

    # patient_id: required string of 1-64 characters
    pid = get("patient_id")
    if pid is None:
        problems.append(("patient_id", "missing"))
    elif not isinstance(pid, str) or not 1 <= len(pid) <= 64:
        problems.append(("patient_id", "malformed"))

    # name: optional string
    if get("name") is not None and not isinstance(get("name"), str):
        problems.append(("name", "malformed"))

    birth = None
    if get("birth_date") is None:
        problems.append(("birth_date", "missing"))
    else:
        birth = parse_date(get("birth_date"))
        if birth is None:
            problems.append(("birth_date", "malformed"))

    # care_team: required string key [oracle: any string, the empty one included]
    if get("care_team") is None:
        problems.append(("care_team", "missing"))
    elif not isinstance(get("care_team"), str):
        problems.append(("care_team", "malformed"))

    if get("primary_site") is None:
        problems.append(("primary_site", "missing"))
    elif not is_known(get("primary_site"), PRIMARY_SITES):
        problems.append(("primary_site", "unknown"))

    if get("differentiation") is not None and not is_known(get("differentiation"), DIFFERENTIATIONS):
        problems.append(("differentiation", "unknown"))

    if get("grade") is not None and not is_known(get("grade"), GRADES):
        problems.append(("grade", "unknown"))

    ki67 = get("ki67_percent")
    if ki67 is not None and (not is_json_number(ki67) or not 0 <= ki67 <= 100):
        problems.append(("ki67_percent", "malformed or outside 0-100"))

    size = get("tumor_size_mm")
    if size is not None and (not is_json_number(size) or not size > 0):
        problems.append(("tumor_size_mm", "malformed or not > 0"))

    for field in ("nodes_positive", "nodes_examined"):
        value = get(field)
        if value is not None and (not is_json_integer(value) or value < 0):
            problems.append((field, "malformed or negative"))
    pos, exa = get("nodes_positive"), get("nodes_examined")
    if is_json_integer(pos) and is_json_integer(exa) and 0 <= exa < pos:
        problems.append(("nodes_positive", "more positive nodes than examined"))

    if get("margin") is not None and not is_known(get("margin"), MARGINS):
        problems.append(("margin", "unknown"))

    if get("resection_type") is not None and not is_known(get("resection_type"), RESECTION_TYPES):
        problems.append(("resection_type", "unknown"))

    lvi = get("lymphovascular_invasion")
    if lvi is not None and not isinstance(lvi, bool):
        problems.append(("lymphovascular_invasion", "not true or false"))

    gtype = get("gastric_type")
    if gtype is not None:
        if not is_known(gtype, GASTRIC_TYPES):
            problems.append(("gastric_type", "unknown"))
        # [oracle] "one per problem": a malformed gastric_type on another site is two problems
        if get("primary_site") != "stomach":
            problems.append(("gastric_type", "given for a tumour that is not in the stomach"))

    if get("hereditary_syndrome") is not None and not is_known(get("hereditary_syndrome"), SYNDROMES):
        problems.append(("hereditary_syndrome", "unknown"))

    resected = None
    if get("resection_date") is None:
        problems.append(("resection_date", "missing"))
    else:
        resected = parse_date(get("resection_date"))
        if resected is None:
            problems.append(("resection_date", "malformed"))
    if birth is not None and resected is not None and birth > resected:
        problems.append(("birth_date", "after resection_date"))

    imaging = get("imaging")
    if imaging is not None:
        if not isinstance(imaging, list):
            problems.append(("imaging", "not a list"))
        else:
            for i, entry in enumerate(imaging):
                # [oracle] an entry that is not an object has neither a date nor a modality
                entry = entry if isinstance(entry, dict) else {}
                if parse_date(entry.get("date")) is None:
                    problems.append((f"imaging[{i}].date", "malformed date"))
                if not is_known(entry.get("modality"), MODALITIES):
                    problems.append((f"imaging[{i}].modality", "unknown modality"))

    if get("status") is not None and not is_known(get("status"), STATUSES):
        problems.append(("status", "unknown"))

    if get("status_date") is not None and parse_date(get("status_date")) is None:
        problems.append(("status_date", "malformed"))

    if get("guideline") is not None and not is_known(get("guideline"), GUIDELINES):
        problems.append(("guideline", "unknown"))

    return sorted(problems, key=lambda problem: error_rank(problem[0]))


def error_rank(field: str) -> tuple[int, int, int]:
    """Position of a field in the section 1 table; imaging entries by index, date before modality."""
    match = re.fullmatch(r"imaging\[([0-9]+)\]\.(date|modality)", field)
    if match:
        return FIELD_ORDER.index("imaging"), int(match.group(1)), int(match.group(2) == "modality")
    return FIELD_ORDER.index(field), 0, 0


# ---------------------------------------------------------------- section 2: dates


def add_months(d: date, n: int) -> date:
    """Calendar-month addition clamped to the month's last day."""
    index = d.month - 1 + n
    year, month = d.year + index // 12, index % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def age_on(birth: date, day: date) -> int:
    """Whole years completed on ``day`` [oracle: a 29 February birthday completes on 1 March]."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# ---------------------------------------------------------------- section 5: the rules

CT_MRI = ("CT", "MRI")
LEAD = timedelta(days=30)
GRACE = timedelta(days=30)


def schedule(
    rule_id: str,
    first: tuple[int, int],
    then: tuple[int, int],
    horizon: int | None,
    qualifying: tuple[str, ...] = CT_MRI,
    recommends: str = "cross-sectional",
    early: tuple[tuple[int, int], int] | None = None,
) -> dict[str, Any]:
    """A schedule rule; ``early`` is (interval, P) for 'early [min, max] while L < add_months(A, P)'."""
    return {
        "rule_id": rule_id,
        "indicated": True,
        "first": first,
        "early": early,
        "then": then,
        "horizon": horizon,
        "qualifying": qualifying,
        "recommends": recommends,
    }


def not_indicated(rule_id: str) -> dict[str, Any]:
    return {"rule_id": rule_id, "indicated": False, "qualifying": CT_MRI}


def nccn_rule(site: str, tier: str, grade: int | None, size: float | None, gastric: Any) -> dict[str, Any]:
    """Section 5.2, first match wins."""
    if grade == 3:
        return schedule("nccn/wdg3/high", (3, 6), (6, 12), 120, early=((3, 6), 24))
    if site == "appendix" and tier == "low" and size is not None and size < 10:
        return not_indicated("nccn/appendix/not_indicated")
    if site == "appendix" and tier in ("low", "standard") and size is not None and size <= 20:
        return schedule("nccn/appendix/optional", (24, 60), (24, 60), 120)
    if site == "rectum" and tier == "low" and size is not None and size < 10:
        return not_indicated("nccn/rectum/not_indicated")
    if site == "rectum" and tier in ("low", "standard") and size is not None and size <= 20:
        return schedule(
            "nccn/rectum/short_course", (6, 6), (6, 6), 15, ("MRI", "EUS"), "endoscopy_and_rectal_MRI_or_EUS"
        )
    if site == "stomach" and gastric == 1 and tier != "high":
        return schedule("nccn/stomach/type1", (12, 12), (12, 36), 120, ("endoscopy",), "endoscopy")
    if site == "stomach" and gastric == 2 and tier != "high":
        return schedule("nccn/stomach/type2", (12, 12), (12, 12), 12, ("endoscopy",), "endoscopy")
    if site in THORACIC_SITES:
        if tier == "high":
            return schedule("nccn/thoracic/high", (3, 3), (12, 12), 120)
        return schedule(f"nccn/thoracic/{tier}", (3, 12), (12, 24), 120)
    if site == "pancreas":
        if tier == "high":
            return schedule("nccn/pancreas/high", (3, 3), (6, 6), 120)
        return schedule(f"nccn/pancreas/{tier}", (3, 12), (6, 12), 120)
    if tier == "high":
        return schedule("nccn/extrapancreatic/high", (3, 3), (12, 12), 120)
    return schedule(f"nccn/extrapancreatic/{tier}", (3, 12), (12, 24), 120)


def consensus2018_rule(tier: str) -> dict[str, Any]:
    """Section 5.3."""
    if tier == "low":
        return not_indicated("consensus2018/all/low")
    if tier == "high":
        return schedule("consensus2018/all/high", (6, 6), (12, 12), 120, early=((6, 6), 36))
    return schedule("consensus2018/all/standard", (12, 12), (12, 24), 120, early=((12, 12), 36))


def esmo2020_rule(site: str, tier: str, grade: int | None, size: float | None) -> dict[str, Any]:
    """Section 5.4, first match wins; lifelong (no horizon)."""
    if site in ("appendix", "rectum") and tier == "low" and size is not None and size < 10:
        return not_indicated(f"esmo2020/{site}/not_indicated")
    if grade == 3:
        return schedule("esmo2020/wdg3/high", (3, 3), (6, 6), None, early=((3, 3), 60))
    if tier == "high":
        return schedule("esmo2020/gep/high", (3, 3), (12, 24), None, early=((3, 3), 60))
    return schedule(f"esmo2020/gep/{tier}", (6, 6), (12, 24), None, early=((6, 6), 60))


# ---------------------------------------------------------------- section 3: risk


def effective_grade(stated: int | None, ki67: float | None) -> int | None:
    implied = None
    if ki67 is not None:
        implied = 1 if ki67 < 3 else (2 if ki67 <= 20 else 3)
    known = [g for g in (stated, implied) if g is not None]
    return max(known) if known else None


def risk(raw: dict[str, Any]) -> tuple[str, list[str], int | None, str]:
    """(tier, reasons, effective grade, nodal status)."""
    grade, ki67 = raw.get("grade"), raw.get("ki67_percent")
    pos, exa = raw.get("nodes_positive"), raw.get("nodes_examined")
    local = raw.get("resection_type") == "local_excision"
    eff = effective_grade(grade, ki67)

    if pos is not None and pos >= 1:
        nodal = "positive"
    elif pos is None or exa == 0:
        nodal = "not_assessed"
    else:
        nodal = "negative"

    reasons = []
    if nodal == "positive":
        reasons.append("nodes_positive")
    if ki67 is not None and ki67 > 5:
        reasons.append("ki67_gt_5")
    if eff == 3:
        reasons.append("grade_3")
    if raw.get("margin") == "R1":
        reasons.append("margin_r1")
    if raw.get("lymphovascular_invasion") is True:
        reasons.append("lvi")
    if nodal == "not_assessed" and not local:
        reasons.append("nodes_unknown")
    if ki67 is None and grade != 1:
        reasons.append("ki67_unknown")

    size = raw.get("tumor_size_mm")
    if reasons:
        tier = "high"
    elif (
        eff == 1
        and (nodal == "negative" or (nodal == "not_assessed" and local))
        and size is not None
        and size < 20
        and raw.get("margin") == "R0"
        and raw.get("lymphovascular_invasion") is not True
    ):
        tier = "low"
    else:
        tier = "standard"
    return tier, reasons, eff, nodal


# ---------------------------------------------------------------- the evaluation


def empty_result(patient_id: Any, as_of: date) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "as_of": as_of.isoformat(),
        "guideline": None,
        "rule_id": None,
        "status": "invalid",
        "risk_tier": None,
        "risk_reasons": [],
        "review_reasons": [],
        "last_scan": None,
        "window_open": None,
        "window_close": None,
        "interval_months": None,
        "days_overdue": 0,
        "escalation_level": 0,
        "recommended_modality": None,
        "data_issues": [],
        "error_fields": [],
    }


def oracle(raw: object, as_of: date, default_guideline: str) -> dict[str, Any]:
    """The spec's evaluation of ``raw`` on ``as_of`` (section 7, without the explanation)."""
    if not isinstance(raw, dict):
        # [oracle] a record that is not an object: every required field is missing
        result = empty_result(None, as_of)
        result["error_fields"] = ["patient_id", "birth_date", "care_team", "primary_site", "resection_date"]
        return result

    result = empty_result(raw.get("patient_id"), as_of)
    problems = validate(raw)
    if problems:
        result["error_fields"] = [field for field, _ in problems]
        return result

    # ---- valid: the defaults of section 1 (the spec's D is as_of, A is anchor, L is last)
    anchor = parse_date(raw["resection_date"])
    birth = parse_date(raw["birth_date"])
    assert anchor is not None and birth is not None
    site = raw["primary_site"]
    differentiation = raw.get("differentiation") or "well"
    status_field = raw.get("status") or "active"
    status_date = parse_date(raw.get("status_date"))
    guideline = raw.get("guideline") or default_guideline
    size = raw.get("tumor_size_mm")
    gastric = raw.get("gastric_type")
    imaging = [(parse_date(e["date"]), e["modality"]) for e in (raw.get("imaging") or [])]
    in_range = [(d, m) for d, m in imaging if d is not None and anchor < d <= as_of]

    tier, reasons, eff, nodal = risk(raw)
    local = raw.get("resection_type") == "local_excision"

    result["guideline"] = guideline
    result["risk_tier"] = tier
    result["risk_reasons"] = reasons

    def data_issues(qualifying: tuple[str, ...]) -> list[str]:
        issues = []
        if raw.get("ki67_percent") is None:
            issues.append("ki67_missing")
        if raw.get("grade") is None:
            issues.append("grade_missing")
        if nodal == "not_assessed" and not local:
            issues.append("nodes_missing")
        if nodal == "not_assessed" and local:
            issues.append("nodes_not_assessed")
        if size is None:
            issues.append("size_missing")
        if raw.get("margin") is None:
            issues.append("margin_missing")
        if site == "stomach" and gastric is None:
            issues.append("gastric_type_missing")
        if any(m not in qualifying for _, m in in_range):
            issues.append("imaging_ignored_modality")
        return issues

    def last_scan(qualifying: tuple[str, ...]) -> date | None:
        dates = [d for d, m in in_range if m in qualifying]
        return max(dates) if dates else None

    def no_rule(status: str, review: list[str]) -> dict[str, Any]:
        last = last_scan(CT_MRI)
        result["status"] = status
        result["review_reasons"] = review
        result["last_scan"] = last.isoformat() if last else None
        result["data_issues"] = data_issues(CT_MRI)
        return result

    # ---- section 4, in order of precedence
    if (status_field in INACTIVE_STATUSES and (status_date is None or status_date <= as_of)) or anchor > as_of:
        return no_rule("inactive", [])

    review = []
    if differentiation == "poor":
        review.append("poorly_differentiated")
    if raw.get("hereditary_syndrome") is not None:
        review.append("hereditary_syndrome")
    if raw.get("margin") == "R2":
        review.append("margin_r2")
    if site == "other":
        review.append("site_other")
    if site in THORACIC_SITES and guideline in ("consensus2018", "esmo2020"):
        review.append("site_not_covered")
    if review:
        return no_rule("needs_review", review)

    if guideline == "nccn":
        rule = nccn_rule(site, tier, eff, size, gastric)
    elif guideline == "consensus2018":
        rule = consensus2018_rule(tier)
    elif guideline == "esmo2020":
        rule = esmo2020_rule(site, tier, eff, size)
    else:
        raise ValueError(f"unknown guideline {guideline!r}")

    qualifying = rule["qualifying"]
    last = last_scan(qualifying)
    result["rule_id"] = rule["rule_id"]
    result["last_scan"] = last.isoformat() if last else None
    result["data_issues"] = data_issues(qualifying)

    if not rule["indicated"]:
        result["status"] = "not_indicated"
        return result

    # ---- section 5.1: the window
    if last is None:
        start, interval = anchor, rule["first"]
    elif rule["early"] is not None and last < add_months(anchor, rule["early"][1]):
        start, interval = last, rule["early"][0]
    else:
        start, interval = last, rule["then"]
    opens = add_months(start, interval[0])
    closes = add_months(start, interval[1])
    result["window_open"] = opens.isoformat()
    result["window_close"] = closes.isoformat()
    result["interval_months"] = [interval[0], interval[1]]

    if rule["horizon"] is not None and opens > add_months(anchor, rule["horizon"]):
        result["status"] = "completed"
        return result

    if as_of < opens - LEAD:
        status = "not_due"
    elif as_of < opens:
        status = "due_soon"
    elif as_of <= closes + GRACE:
        status = "due"
    else:
        status = "overdue"
    result["status"] = status
    if status == "overdue":
        days = (as_of - (closes + GRACE)).days
        result["days_overdue"] = days
        result["escalation_level"] = 2 if days >= 90 else 1

    # ---- section 6: the modality
    if rule["recommends"] == "cross-sectional":
        young = age_on(birth, opens) < 50
        if site in THORACIC_SITES:
            modality = "chest_CT_and_MRI" if young else "chest_CT_and_CT_or_MRI"
        else:
            modality = "MRI" if young else "CT_or_MRI"
    else:
        modality = rule["recommends"]
    result["recommended_modality"] = modality
    return result
