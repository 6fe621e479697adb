"""The clinical domain: records, risk, rule sets and the engine. Imports no framework."""

from netflow.domain.dates import add_months, age_on
from netflow.domain.engine import evaluate, evaluate_record, last_qualifying_scan
from netflow.domain.evaluation import STATUSES, Evaluation
from netflow.domain.record import FieldError, PatientRecord, Scan, parse_record
from netflow.domain.risk import RiskAssessment, assess_risk, effective_grade
from netflow.domain.rules import RuleBook, RuleSet

__all__ = [
    "STATUSES", "Evaluation", "FieldError", "PatientRecord", "RiskAssessment", "RuleBook",
    "RuleSet", "Scan", "add_months", "age_on", "assess_risk", "effective_grade", "evaluate",
    "evaluate_record", "last_qualifying_scan", "parse_record",
]
