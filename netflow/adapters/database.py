"""The patient database as the rest of netflow sees it: three stores, transactions, locks. No SQL here.

    db = Database.open("sqlite:///var/netflow.db")
    db.check_ready()                                   # at this netflow's schema revision, else what to do
    db.schema().revision                               # where the schema stands (netflow db upgrade)
    db.patients.care_teams()                           # the patient tables: adapters/patients.py
    db.ledger.recent_runs()                            # events and runs: adapters/ledger.py
    db.outbox.pending_messages()                       # the outbox: adapters/outbox.py
    db.state.stale(as_of, context)                     # where each patient stands: adapters/state.py
    db.follow_ups.follow_ups_for(patient_id)           # follow-up actions, audit trail: adapters/followups.py
    db.fhir_exports.since(group_id)                    # FHIR exports per Group: adapters/fhir_exports.py
    db.fhir_patients.patients_of(fhir_ids)             # FHIR Patient id -> MRN: adapters/fhir_exports.py
    with db.transaction(lock="build") as tx:           # several writes, one transaction, one writer each
        outbox_id = tx.outbox.create_outbox_message(...)
        tx.ledger.attach_digest_events(outbox_id, ...)  # one set-based UPDATE (adapters/ledger.py)
        tx.patients.mark_quarantine_reported(ids)
    with db.exclusive("send") as lock:                 # one sender at a time, over many transactions
        lock.check()

Each table has one owner: `patients.py` owns patients, imaging_studies, quarantine, care_teams,
team_members and team_access; `fhir_exports.py` owns fhir_exports and fhir_patients; `ledger.py` owns
events and runs; `outbox.py` owns outbox; `followups.py` owns follow_ups and audit_log; `state.py` owns
patient_state and state_checks. A transaction that spans several owners hands out each owner's writer on
the same connection. Services never see an engine, a connection or a row.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection, Engine

from netflow.adapters.db import SchemaState, make_engine, safe_url, schema_problem, schema_state, scrubbed_errors
from netflow.adapters.fhir_exports import FhirExportStore, FhirPatientMap
from netflow.adapters.followups import FollowUpStore, FollowUpWriter
from netflow.adapters.ledger import Ledger, LedgerWriter
from netflow.adapters.locks import HeldLock, exclusive, exclusive_transaction
from netflow.adapters.outbox import Outbox, OutboxWriter
from netflow.adapters.patients import PatientStore, PatientWriter
from netflow.adapters.state import PatientStateStore
from netflow.errors import DatabaseError, DatabaseUnavailable

__all__ = ["Database", "UnitOfWork"]


@dataclass(frozen=True)
class UnitOfWork:
    """One transaction: each table owner's writer on the same connection."""

    patients: PatientWriter
    ledger: LedgerWriter
    outbox: OutboxWriter
    follow_ups: FollowUpWriter
    _conn: Connection

    def rollback(self) -> None:
        """Undo everything this transaction wrote (a dry run builds, then rolls back)."""
        self._conn.rollback()


class Database:
    """The patient database behind one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.patients = PatientStore(engine)
        self.ledger = Ledger(engine)
        self.outbox = Outbox(engine)
        self.state = PatientStateStore(engine)
        self.follow_ups = FollowUpStore(engine)
        self.fhir_exports = FhirExportStore(engine)  # the FHIR Bulk Data exports: adapters/fhir_exports.py
        self.fhir_patients = FhirPatientMap(engine)  # FHIR Patient id -> MRN: adapters/fhir_exports.py

    @classmethod
    def open(cls, url: str) -> Database:
        """An engine for `url` (SQLite file or PostgreSQL); nothing is connected yet."""
        return cls(make_engine(url))

    @property
    def url(self) -> str:
        """The database URL with the password hidden, as messages may show it."""
        return safe_url(self.engine.url)

    def schema(self) -> SchemaState:
        """Where the schema stands against this netflow's migrations; DatabaseUnavailable if the database
        cannot be opened."""
        try:
            with scrubbed_errors():
                return schema_state(self.engine)
        except DatabaseError as exc:
            raise DatabaseUnavailable(f"cannot open the database at {self.url}: {exc.kind}; check "
                                      "NETFLOW_DATABASE_URL and that the server is running") from None

    def check_ready(self) -> None:
        """Reachable and at the schema revision this netflow expects (head), else one line saying what to do:
        DatabaseUnavailable; NotMigrated (no netflow tables, or an older revision: run 'netflow db upgrade');
        SchemaTooNew (a newer netflow upgraded it)."""
        problem = schema_problem(self.schema(), self.url)
        if problem is not None:
            raise problem

    @contextmanager
    def transaction(self, lock: str | None = None) -> Iterator[UnitOfWork]:
        """One transaction, committed when the block ends (rolled back if it raises). With `lock`, it holds
        that named lock (see adapters/locks.py), and on SQLite it takes the write lock up front."""
        with scrubbed_errors():
            if lock is not None:
                with exclusive_transaction(self.engine, lock) as conn:
                    yield UnitOfWork(PatientWriter(conn), LedgerWriter(conn), OutboxWriter(conn),
                                     FollowUpWriter(conn), conn)
                return
            with self.engine.begin() as conn:
                yield UnitOfWork(PatientWriter(conn), LedgerWriter(conn), OutboxWriter(conn),
                                 FollowUpWriter(conn), conn)

    @contextmanager
    def exclusive(self, name: str) -> Iterator[HeldLock]:
        """Hold the lock `name` over many transactions; `check()` it before each step that must be alone."""
        with scrubbed_errors(), exclusive(self.engine, name) as lock:
            yield lock

    def dispose(self) -> None:
        self.engine.dispose()
