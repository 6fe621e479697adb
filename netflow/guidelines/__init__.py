"""The YAML files an installation configures: guideline rule sets and care teams.

Rule sets: one YAML file per rule set, each rule citing its source (`loader`, re-exported here).
Care teams: the teams file, parsed and checked by `netflow.guidelines.teams` (import it from there).
`load_book` is the one rule book loader of an installation (the CLI, the DAG tasks, `netflow evaluate`).
"""

from netflow.config import ConfigError, Settings
from netflow.domain.rules import RuleBook
from netflow.guidelines.loader import BUILTIN_DIR, RuleSetError, builtin_files, load_rulebook, load_ruleset

__all__ = ["BUILTIN_DIR", "RuleSetError", "builtin_files", "load_book", "load_rulebook", "load_ruleset"]


def load_book(settings: Settings, guideline: str | None = None) -> RuleBook:
    """The installation's rule book: the built-in rule sets plus NETFLOW_RULESETS, defaulting to
    `guideline` if given (e.g. `netflow evaluate --guideline`), else NETFLOW_GUIDELINE."""
    book = load_rulebook(settings.ruleset_files)
    default = guideline or settings.default_guideline
    if default not in book.ids:
        raise ConfigError(f"unknown guideline {default!r}; known: {', '.join(book.ids)}")
    return book.with_default(default)
