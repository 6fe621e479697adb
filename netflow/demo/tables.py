"""The numbers behind the synthetic cohort, in one place a clinician can review.

These are demo approximations shaped on published series of resected gastroenteropancreatic
NETs (site mix, WHO grade mix, nodal involvement by site, typical sizes); they are not
epidemiology and no result should be quoted from them. Weights need not sum to 1.
"""

from __future__ import annotations

__all__ = [
    "FOLLOW_UP_PROFILES",
    "GRADE_MIX",
    "MARGIN_WEIGHTS",
    "MISSING_RATE",
    "NODES_EXAMINED",
    "NODES_MISSING_RATE",
    "NODE_POSITIVE_RATE",
    "SITES",
    "SITE_WEIGHTS",
    "SIZE_MEDIAN_MM",
    "SYNDROMES",
]

# Primary site: small intestine and pancreas most common, then rectum, appendix, stomach,
# colon, duodenum, a little 'other' (spec enum order differs; this is frequency order).
SITES = ("small_intestine", "pancreas", "rectum", "appendix", "stomach", "colon", "duodenum", "other")
SITE_WEIGHTS = (27, 25, 14, 12, 8, 6, 5, 3)

# (G1, G2, well-differentiated G3, poorly differentiated NEC) per site.
GRADE_MIX: dict[str, tuple[float, float, float, float]] = {
    "small_intestine": (70, 27, 2, 1),
    "pancreas": (45, 42, 8, 5),
    "rectum": (80, 15, 2, 3),
    "appendix": (85, 13, 1, 1),
    "stomach": (65, 22, 5, 8),
    "colon": (35, 25, 10, 30),
    "duodenum": (65, 28, 4, 3),
    "other": (50, 30, 10, 10),
}

# Pathological size: log-normal, (median mm, sigma); appendix and rectum small, colon large.
SIZE_MEDIAN_MM: dict[str, tuple[float, float]] = {
    "small_intestine": (17, 0.45),
    "pancreas": (22, 0.6),
    "rectum": (7, 0.55),
    "appendix": (9, 0.55),
    "stomach": (10, 0.6),
    "colon": (35, 0.5),
    "duodenum": (10, 0.5),
    "other": (25, 0.6),
}

# Share of patients with >= 1 positive node, among those whose nodes were examined.
NODE_POSITIVE_RATE: dict[str, float] = {
    "small_intestine": 0.66,
    "pancreas": 0.30,
    "rectum": 0.08,
    "appendix": 0.12,
    "stomach": 0.15,
    "colon": 0.45,
    "duodenum": 0.35,
    "other": 0.30,
}

# Lymph nodes retrieved by the resection (min, max).
NODES_EXAMINED: dict[str, tuple[int, int]] = {
    "small_intestine": (6, 30),
    "pancreas": (3, 25),
    "rectum": (2, 18),
    "appendix": (1, 8),
    "stomach": (2, 20),
    "colon": (10, 30),
    "duodenum": (2, 15),
    "other": (2, 15),
}

# Nodal status not documented (endoscopic resection, enucleation, simple appendectomy).
NODES_MISSING_RATE: dict[str, float] = {
    "small_intestine": 0.04,
    "pancreas": 0.10,
    "rectum": 0.30,
    "appendix": 0.20,
    "stomach": 0.12,
    "colon": 0.04,
    "duodenum": 0.10,
    "other": 0.08,
}

# Hereditary syndromes by site, as (syndrome, share of patients).
SYNDROMES: dict[str, tuple[tuple[str, float], ...]] = {
    "pancreas": (("MEN1", 0.04), ("VHL", 0.015), ("TSC", 0.003), ("NF1", 0.002)),
    "duodenum": (("NF1", 0.03), ("MEN1", 0.03)),
    "stomach": (("MEN1", 0.02),),
}

# Resection margin: R0, R1, R2, not documented.
MARGIN_WEIGHTS = (85.5, 9.0, 1.5, 4.0)

# Fields left blank in the source system.
MISSING_RATE = {"grade": 0.06, "ki67_percent": 0.10, "tumor_size_mm": 0.05}

# How patients keep to their surveillance: adherent (scans near each due date), drifting
# (later and later), lost to follow-up (scans stop), never imaged after surgery, erratic.
FOLLOW_UP_PROFILES = (("adherent", 50), ("drifting", 22), ("lost", 15), ("never", 5), ("erratic", 8))
