"""The errors netflow raises on purpose: one tree, each message one line saying what to do next.

    NetflowError                        something the operator can fix; never a bug
    ├── ConfigurationError              a setting, rule set file or teams file is wrong
    │   ├── config.ConfigError          an environment variable (the message names it)
    │   ├── guidelines.RuleSetError     a rule set file (names the file, the rule and the fix)
    │   ├── teams.TeamsError            a teams file (lists every problem with the team and field)
    │   └── CohortError                 the stored teams do not fit the rule book
    ├── InputError                      a file or value given to a command cannot be used as a whole
    │   └── imports.SourceError         an import file (its kind, header or encoding)
    ├── DeliveryError                   the mail server refused a message: counts as an attempt
    │   └── mail.smtp.ServerUnavailable no SMTP session (down, DNS, TLS, login, dropped): counts nothing
    └── DatabaseError                   the patient database failed mid-run (what was committed is kept)
        ├── DatabaseUnavailable         it cannot be opened at all: check the URL and the server
        ├── NotMigrated                 the schema is missing or older: run 'netflow db upgrade'
        │   └── SchemaTooNew            a newer netflow upgraded it: run that netflow, or restore a backup
        └── adapters.locks.LockLost     the session holding a run's lock ended: the run stopped

The `netflow` command prints one line for each of these and exits 2 for configuration and input
errors and for a database that cannot be opened or is not at this netflow's schema revision
(nothing was done), 1 for a database lost mid-run. Bad *records* are not errors: they are
quarantined or evaluated as `invalid`, with one FieldError per problem. Anything outside this tree
is a bug and surfaces with its traceback.

The messages name settings, files, fields, team keys and run ids, never patient data, so the
command line, task logs and alert emails may show them as they are. ConfigurationError and
InputError are also ValueErrors (a bad value was given), so code that validates values can catch
them as such.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

__all__ = ["CohortError", "ConfigurationError", "DatabaseError", "DatabaseUnavailable", "DeliveryError", "InputError",
           "NetflowError", "NotMigrated", "SchemaTooNew", "capped"]


def capped(items: Sequence[str], limit: int, show: Callable[[str], str] = str) -> str:
    """Items for a one-line message: the first `limit` (each through `show`), then "and N more".

    >>> capped(["a", "b", "c"], 2)
    'a, b and 1 more'
    """
    head = ", ".join(show(item) for item in items[:limit])
    return head if len(items) <= limit else f"{head} and {len(items) - limit} more"


class NetflowError(Exception):
    """Base of every error netflow raises on purpose (see the module docstring for the tree)."""


class ConfigurationError(NetflowError, ValueError):
    """The installation's configuration is wrong: a setting, a rule set file or a teams file."""


class InputError(NetflowError, ValueError):
    """A file or value given to a command cannot be used as a whole (nothing was done with it)."""


class CohortError(ConfigurationError):
    """The stored configuration does not fit the rule book (e.g. a team names an unknown guideline)."""


class DeliveryError(NetflowError):
    """The server did not accept a message. `temporary`: worth retrying later (4xx, connection lost);
    otherwise permanent (5xx, bad certificate, bad login). `text` says what happened, without secrets."""

    def __init__(self, temporary: bool, text: str, code: int | None = None) -> None:
        super().__init__(text)
        self.temporary = temporary
        self.text = text
        self.code = code

    def __repr__(self) -> str:
        return f"DeliveryError(temporary={self.temporary!r}, text={self.text!r})"


class DatabaseError(NetflowError):
    """A database error whose message holds no row data (PostgreSQL's DETAIL line quotes the values).

    `kind` is the driver's exception class (IntegrityError, OperationalError...), `sqlstate` the
    PostgreSQL error code where there is one.
    """

    def __init__(self, kind: str, message: str, sqlstate: str | None = None) -> None:
        self.kind = kind
        self.sqlstate = sqlstate
        self.reason = message
        super().__init__(f"{kind}: {message}" + (f" (SQLSTATE {sqlstate})" if sqlstate else ""))


class _Whole(DatabaseError):
    """A database error whose message is the whole line (no driver class in front)."""

    def __init__(self, message: str) -> None:
        super().__init__(type(self).__name__, message)
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


class DatabaseUnavailable(_Whole):
    """The database cannot be opened (wrong URL, server down): nothing was done."""


class NotMigrated(_Whole):
    """The database is not at the schema revision this netflow expects: it has no netflow tables, or an
    older revision. `netflow db upgrade` fixes it; nothing was done."""


class SchemaTooNew(NotMigrated):
    """The database is at a revision this netflow does not know: a newer netflow upgraded it. Downgrades
    are not supported: run the newer netflow, or restore the backup taken before that upgrade.

    A NotMigrated (the schema is not this netflow's, nothing was done, exit 2) that `netflow db upgrade`
    cannot fix, so it refuses it too."""
