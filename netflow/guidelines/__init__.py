"""Guideline rule sets: one YAML file per rule set, each rule citing its source."""

from netflow.guidelines.loader import BUILTIN_DIR, RuleSetError, builtin_files, load_rulebook, load_ruleset

__all__ = ["BUILTIN_DIR", "RuleSetError", "builtin_files", "load_rulebook", "load_ruleset"]
