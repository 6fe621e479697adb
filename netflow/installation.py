"""An installation: its settings, its patient database and its rule book, put together once.

    with Installation.from_settings(Settings.from_env()) as inst:     # the CLI: from the environment
        result = daily.remind(inst, date(2026, 12, 1), "manual-1")
    inst = netflow_airflow.installation()                             # a DAG task: Airflow connections

Every use case in `netflow.services` takes an Installation and plain values. Building one reads
the rule set files (RuleSetError names the file and the fix) and checks the default guideline;
it connects to nothing: the database is opened on first use, the mailer is built when a use case
sends (its settings are checked then; the daily run's `check` checks them up front).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType

from netflow.adapters.database import Database
from netflow.adapters.mail import MailerFactory, mailer_factory
from netflow.config import Settings
from netflow.domain.rules import RuleBook
from netflow.guidelines import load_book

__all__ = ["Installation", "load_book"]


@dataclass(frozen=True)
class Installation:
    """What every use case needs: settings, the patient database, the rule book, and how to send mail."""

    settings: Settings
    db: Database
    book: RuleBook
    _mailer: MailerFactory | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, *, guideline: str | None = None,
                      mailer: MailerFactory | None = None) -> Installation:
        """Build the installation (`mailer`: a stand-in for SMTP, e.g. a FakeMailer in tests)."""
        return cls(settings, Database.open(settings.database_url), load_book(settings, guideline), mailer)

    def mailer(self) -> MailerFactory:
        """The mailer factory: the one given, else SMTP from the settings (ConfigError if they are wrong)."""
        return self._mailer if self._mailer is not None else mailer_factory(self.settings)

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Installation:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
