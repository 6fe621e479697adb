"""An installation's own rule set file, as the guideline and review-sheet tests load it."""

from __future__ import annotations

LOCAL_RULESET = """
id: local
title: Local GEP protocol
short_name: Local protocol
version: "2026-1"
sources:
  mdt: "Minutes of the NET multidisciplinary team, 2026-03"
covers: [pancreas, small_intestine, appendix, rectum, colon, stomach, duodenum]
rules:
  - id: local/all/low
    when: {tiers: [low]}
    not_indicated: true
    source: mdt
  - id: local/all/high
    when: {tiers: [high]}
    first: [2, 4]
    then: [4, 4]
    source: mdt
    section: "item 4"
  - id: local/all/standard
    when: {tiers: [standard]}
    first: [6, 6]
    early: {months: [6, 6], while_last_scan_before_month: 24}
    then: [9, 9]
    source: mdt
    project_choice: "Our MDT chose 9 months."
"""
