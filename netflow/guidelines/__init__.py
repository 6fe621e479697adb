"""The YAML files an installation configures: guideline rule sets and care teams.

Rule sets: one YAML file per rule set, each rule citing its source (`loader`, re-exported here).
Care teams: the teams file, parsed and checked by `netflow.guidelines.teams` (import it from there).
"""

from netflow.guidelines.loader import BUILTIN_DIR, RuleSetError, builtin_files, load_rulebook, load_ruleset

__all__ = ["BUILTIN_DIR", "RuleSetError", "builtin_files", "load_rulebook", "load_ruleset"]
