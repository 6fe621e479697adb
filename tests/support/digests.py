"""A fixed care-team digest for the digest and rendering tests (and the golden files).

Plain functions, not fixtures: `sample_digest()` gives the same Digest every time. Each sample
patient has an opaque reference (`ref_of`), as the patients table gives them.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date
from typing import Any

from netflow.domain.digest import Digest, DigestItem, WorklistTotals, build_digest, select_items
from netflow.domain.rules import RuleSet

AS_OF = date(2026, 12, 1)
RUN_ID = "2026-12-01T06:00:00+00:00"
WORKLIST_URL = "https://netflow.example.org/netflow/"
TOTALS = WorklistTotals(escalated=2, overdue=3, due=4, due_soon=6, high_risk=9, needs_review=1,
                        not_indicated=1, under_surveillance=142)


def ruleset(id: str, short_name: str, version: str, sources: dict[str, str]) -> RuleSet:
    return RuleSet(id=id, title=short_name, short_name=short_name, version=version, sources=sources,
                   covers=frozenset(), rules=())


NCCN = ruleset("nccn", "NCCN", "2022 (summarised by Zhang & Kunz, J Oncol Pract 2022); netflow rules v1", {
    "zhang-kunz-2022": "Zhang JY, Kunz PL. Making Sense of a Complex Disease: A Practical Approach to "
                       "Managing Neuroendocrine Tumors. J Oncol Pract 2022;18(4):258-264.",
    "nccn-net": "NCCN Clinical Practice Guidelines in Oncology: Neuroendocrine and Adrenal Tumors.",
})
CONSENSUS = ruleset("consensus2018", "the CommNETS/NANETS consensus",
                    "2018 (Singh et al., JAMA Oncol 2018); netflow rules v1", {
    "singh-2018": "Singh S, Moody L, Chan DL, et al. Follow-up Recommendations for Completely Resected "
                  "Gastroenteropancreatic Neuroendocrine Tumors. JAMA Oncol 2018;4(11):1597-1604.",
    "zhang-kunz-2022": "Zhang JY, Kunz PL. Making Sense of a Complex Disease: A Practical Approach to "
                       "Managing Neuroendocrine Tumors. J Oncol Pract 2022;18(4):258-264.",
})


def evaluation(**fields: Any) -> dict[str, Any]:
    """An evaluation object (surveillance-rules.md section 7) with quiet defaults."""
    base: dict[str, Any] = {
        "patient_id": None, "as_of": AS_OF.isoformat(), "guideline": "nccn", "rule_id": None,
        "status": "not_due", "risk_tier": "standard", "risk_reasons": [], "last_scan": None,
        "window_open": None, "window_close": None, "interval_months": None, "days_overdue": 0,
        "escalation_level": 0, "recommended_modality": None, "data_issues": [], "errors": [],
        "explanation": "",
    }
    return base | fields


def ref_of(mrn: str) -> str:
    """A made-up opaque reference for `mrn` (the real ones are random: netflow.adapters.patients.new_ref)."""
    return base64.urlsafe_b64encode(hashlib.sha256(mrn.encode()).digest()[:12]).decode()


def item(kind: str, mrn: str, name: str | None = None, *, ref: bool = True, **fields: Any) -> DigestItem:
    return DigestItem(kind=kind, patient_id=mrn, name=name, evaluation=evaluation(patient_id=mrn, **fields),
                      ref=ref_of(mrn) if ref else None)


def sample_items() -> list[DigestItem]:
    """Ten new events, deliberately out of order: one overdue more than a year, a booked scan not on
    record, a high-risk flag of a patient listed as escalated (a mark on that row) and one of a
    patient with no other row (a row of its own)."""
    return [
        item("booking_lapsed", "MRN-1010", "Grace Hopper", status="due", rule_id="nccn/pancreas/standard",
             last_scan="2025-11-10", window_open="2026-11-10", window_close="2026-11-10",
             recommended_modality="CT_or_MRI", booked_for="2026-11-16", booked_by="jdoe", follow_up_id=7,
             explanation="Booked scan not on record: jdoe booked a scan for 2026-11-16, and no qualifying "
                         "scan is on record 30 days after that date. Pancreatic "
                         "NET, standard risk: NCCN asks for imaging every 12 months; last CT 2025-11-10, so "
                         "the next scan is due now (on 2026-11-10)."),
        item("high_risk", "MRN-1001", "Ana María O'Brien-Smith", status="overdue",
             rule_id="nccn/pancreas/high", risk_tier="high", risk_reasons=["nodes_positive", "ki67_gt_5"],
             last_scan="2025-05-20", window_open="2025-11-20", window_close="2025-11-20",
             days_overdue=346, escalation_level=2, recommended_modality="CT_or_MRI",
             explanation="Pancreatic NET, high risk (2 positive nodes, Ki-67 12%): NCCN asks for imaging "
                         "every 6 months; last CT 2025-05-20, so the next scan was due on 2025-11-20; now "
                         "346 days overdue, past the 30-day grace period."),
        item("not_indicated", "MRN-1009", "Ludwig van Beethoven", status="not_indicated",
             rule_id="nccn/extrapancreatic/low", risk_tier="low",
             explanation="Appendiceal NET, low risk (grade 1, node negative, 12 mm, R0): NCCN plans no "
                         "routine surveillance imaging after resection; a clinician should confirm."),
        item("overdue", "MRN-1003", "<b>O'Brien & Sons</b>", status="overdue", guideline="consensus2018",
             rule_id="consensus2018/all/standard", last_scan="2025-09-20", window_open="2026-09-20",
             window_close="2026-09-20", days_overdue=42, escalation_level=1,
             recommended_modality="CT_or_MRI",
             explanation="Rectal NET, standard risk: the CommNETS/NANETS consensus asks for imaging every "
                         "12 months; last CT 2025-09-20, so the next scan was due on 2026-09-20; now "
                         "42 days overdue, past the 30-day grace period."),
        item("escalated", "MRN-1002", "Jean-Luc Picard", status="overdue",
             rule_id="nccn/extrapancreatic/standard", last_scan="2023-06-10", window_open="2024-06-10",
             window_close="2025-06-10", days_overdue=509, escalation_level=2,
             recommended_modality="CT_or_MRI",
             explanation="Small-intestine NET, standard risk: NCCN asks for imaging every 12-24 months; "
                         "last MRI 2023-06-10, so the next scan was due between 2024-06-10 and "
                         "2025-06-10; now 509 days overdue, past the 30-day grace period."),
        item("due_soon", "MRN-1005", "李小龍", status="due_soon", rule_id="nccn/pancreas/standard",
             last_scan="2026-06-15", window_open="2026-12-15", window_close="2027-06-15",
             recommended_modality="CT_or_MRI",
             explanation="Pancreatic NET, standard risk: NCCN asks for imaging every 6-12 months; last CT "
                         "2026-06-15, so the next scan is due between 2026-12-15 and 2027-06-15; the "
                         "window opens in 14 days."),
        item("escalated", "MRN-1001", "Ana María O'Brien-Smith", status="overdue",
             rule_id="nccn/pancreas/high", risk_tier="high", risk_reasons=["nodes_positive", "ki67_gt_5"],
             last_scan="2025-05-20", window_open="2025-11-20", window_close="2025-11-20",
             days_overdue=346, escalation_level=2, recommended_modality="CT_or_MRI",
             explanation="Pancreatic NET, high risk (2 positive nodes, Ki-67 12%): NCCN asks for imaging "
                         "every 6 months; last CT 2025-05-20, so the next scan was due on 2025-11-20; now "
                         "346 days overdue, past the 30-day grace period."),
        item("needs_review", "MRN-1008", "Mehmet <script>alert(1)</script> Öz", status="needs_review",
             explanation="Pancreatic NET needs clinician review - hereditary syndrome: this is outside "
                         "the NCCN surveillance rules, so a clinician should set the follow-up plan."),
        item("due", "MRN-1004", "Søren Kierkegaard", status="due", rule_id="nccn/extrapancreatic/high",
             risk_tier="high", risk_reasons=["nodes_positive"], last_scan="2025-11-05",
             window_open="2026-11-05", window_close="2026-11-05", recommended_modality="MRI",
             explanation="Duodenal NET, high risk (1 positive node): NCCN asks for imaging every 12 "
                         "months; last MRI 2025-11-05, so the next scan is due now (on 2026-11-05)."),
        item("high_risk", "MRN-1007", "Zoë Saldaña", status="not_due", rule_id="nccn/extrapancreatic/high",
             risk_tier="high", risk_reasons=["grade_3", "margin_r1"], last_scan="2026-04-02",
             window_open="2027-04-02", window_close="2027-04-02", recommended_modality="MRI",
             explanation="Gastric NET, high risk (grade 3, R1 margin): NCCN asks for imaging every 12 "
                         "months; last MRI 2026-04-02, so the next scan is due on 2027-04-02."),
    ]


def sample_digest(phi_level: str = "minimal", items: list[DigestItem] | None = None) -> Digest:
    return build_digest(
        team_key="gi-onc-east", team_name="GI Oncology East", as_of=AS_OF, run_id=RUN_ID,
        selection=select_items(sample_items() if items is None else items), totals=TOTALS,
        rulesets=[NCCN, CONSENSUS],
        worklist_url=WORKLIST_URL, phi_level=phi_level, cc_attendings=True, cc_lead=True,
    )
