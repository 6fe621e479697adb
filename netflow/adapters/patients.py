"""The patient database, one named method per question. SQL for patients lives here and nowhere else.

>>> store = PatientStore(make_engine(url))                  # doctest: +SKIP
>>> with store.transaction() as tx:                          # doctest: +SKIP
...     tx.upsert_patients(records, utcnow())
>>> for record in store.stream_records(team="gi-onc-east"):  # doctest: +SKIP
...     ...

Writes go through a `PatientWriter`, one per transaction. Reads of the whole cohort stream:
two ordered queries (patients, imaging) merged in Python, constant memory.
"""

from __future__ import annotations

import hashlib
import json
import operator
import secrets
import zlib
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Engine,
    Select,
    String,
    and_,
    bindparam,
    delete,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from netflow.adapters import streaming
from netflow.adapters.bulk import insert_many
from netflow.adapters.db import IdRange, by_code_point, dialect_insert, scrubbed_errors, within
from netflow.adapters.tables import (
    BUCKETS,
    care_teams,
    imaging_studies,
    patients,
    quarantine,
    team_access,
    team_members,
    utcnow,
)
from netflow.batching import IN_LIST, batched
from netflow.domain.record import FieldError, PatientRecord, Scan
from netflow.domain.teams import ROLES, CareTeam

__all__ = ["PATIENT_FIELDS", "IdRange", "PatientStore", "PatientWriter", "QuarantineEntry", "QuarantineRow",
           "bucket_of", "new_ref", "patient_values", "record_hash"]

# The patient columns that hold the record (everything but imaging), in record order.
PATIENT_FIELDS = (
    "patient_id", "name", "birth_date", "care_team", "primary_site", "differentiation", "grade",
    "ki67_percent", "tumor_size_mm", "nodes_positive", "nodes_examined", "margin",
    "resection_type", "lymphovascular_invasion", "gastric_type",
    "hereditary_syndrome", "resection_date", "status", "status_date", "guideline",
)
# The fields of rules v2 (migration 0002); a record without any of them hashes as it did before.
V2_FIELDS = ("resection_type", "lymphovascular_invasion", "gastric_type")
V1_FIELDS = tuple(f for f in PATIENT_FIELDS if f not in V2_FIELDS)
# The columns of a patients row as upsert_patients writes it, and of an imaging row.
PATIENT_ROW = (*PATIENT_FIELDS, "bucket", "record_hash", "created_at", "updated_at", "ref")
IMAGING_ROW = ("patient_id", "date", "modality", "created_at", "source", "source_key")
ScanKey = tuple[str, date, str]


def bucket_of(patient_id: str) -> int:
    """The patient's shard bucket: crc32 of the UTF-8 id, modulo 1024 (shard k of n: bucket % n == k)."""
    return zlib.crc32(patient_id.encode("utf-8")) % BUCKETS


_record_values = operator.attrgetter(*PATIENT_FIELDS)
_v1_values = operator.attrgetter(*V1_FIELDS)
_v2_values = operator.attrgetter(*V2_FIELDS)


def _among(conn: Connection, column: ColumnElement[str], ids: Collection[str]) -> ColumnElement[bool]:
    """`column` is one of `ids`, however many, as ONE parameter: an array on PostgreSQL (`IN (SELECT
    unnest(...))`), a JSON list on SQLite (`IN (SELECT value FROM json_each(...))`). Both use the column's
    index; neither is an `IN` list of one parameter per id (whose compiling costs more than the lookup)."""
    listed = sorted(ids)
    if conn.dialect.name == "postgresql":
        # IN (SELECT unnest(array)), not = ANY(array): a semi-join the planner runs on the index even before
        # a growing table has statistics; = ANY of a parameter compared every row with every id (a
        # sequential scan per chunk, 330 s for the 575k imaging rows of a 100k CSV import).
        return column.in_(select(func.unnest(bindparam(None, listed, type_=ARRAY(String)))))
    return column.in_(select(literal_column("value")).select_from(func.json_each(json.dumps(listed))))


def patient_values(record: PatientRecord) -> tuple[Any, ...]:
    """The record's values in PATIENT_FIELDS order (what `upsert_patients` stores)."""
    return tuple(_record_values(record))


def new_ref() -> str:
    """A new patient reference for URLs and emails: 96 random bits, URL-safe (16 characters), never the MRN."""
    return secrets.token_urlsafe(12)


def _iso(value: object) -> str:
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot hash a {type(value).__name__}")


def record_hash(record: PatientRecord) -> str:
    """sha256 of the record's patient fields (not imaging): equal hashes mean an unchanged record.

    A record whose v2 fields (resection_type, lymphovascular_invasion, gastric_type) are all None
    hashes its v1 fields only, exactly as before migration 0002: an unchanged v1 file imported
    again after the upgrade counts its rows as unchanged, not updated. Setting any v2 field
    changes the hash.
    """
    v2 = _v2_values(record)
    values = _v1_values(record) if v2 == (None,) * len(V2_FIELDS) else _record_values(record)
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":"), default=_iso)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class QuarantineEntry:
    """A row that failed validation, kept with its errors. `raw` is JSON text."""

    source: str
    line_no: int
    record_key: str | None
    raw: str
    errors: tuple[FieldError, ...]
    raw_hash: str
    resolved: bool = False


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    """A row that failed validation and awaits a fix; the raw content stays in the database."""

    id: int
    source: str
    line_no: int
    record_key: str | None
    errors: tuple[FieldError, ...]
    created_at: datetime | None


def _quarantine_row(row: Any) -> QuarantineRow:
    created = row.created_at
    return QuarantineRow(row.id, row.source, row.line_no, row.record_key,
                         tuple(FieldError(str(err.get("field", "")), str(err.get("message", "")))
                               for err in json.loads(row.errors)),
                         created.replace(tzinfo=UTC) if created is not None and created.tzinfo is None else created)


class PatientWriter:
    """The writes of one transaction (one import chunk, one teams file)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record_hashes(self, patient_ids: Collection[str]) -> dict[str, str]:
        """record_hash of each of these patients already in the database."""
        if not patient_ids:
            return {}
        pid = patients.c.patient_id
        query = select(pid, patients.c.record_hash).where(_among(self._conn, pid, patient_ids))
        return {pid: digest for pid, digest in self._conn.execute(query)}

    def scan_keys(self, patient_ids: Collection[str]) -> set[ScanKey]:
        """(patient_id, date, modality) of the imaging already stored for these patients."""
        if not patient_ids:
            return set()
        t = imaging_studies.c
        query = select(t.patient_id, t.date, t.modality).where(_among(self._conn, t.patient_id, patient_ids))
        return {(pid, when, modality) for pid, when, modality in self._conn.execute(query)}

    def upsert_patients(self, records: Iterable[tuple[Sequence[Any], str]], now: datetime) -> None:
        """Insert new patients, overwrite the fields of known ones (by patient_id).

        Each record is its values in PATIENT_FIELDS order (`patient_values`) with its `record_hash`, which
        the caller computed to tell what changed. A new patient gets its reference (`ref`, new_ref());
        a known one keeps the one it has.
        """
        rows = [(*values, bucket_of(values[0]), digest, now, now, new_ref()) for values, digest in records]
        changing = ", ".join(f"{name} = excluded.{name}" for name in (*PATIENT_FIELDS[1:], "record_hash", "updated_at"))
        insert_many(self._conn, patients, PATIENT_ROW, rows, f"ON CONFLICT (patient_id) DO UPDATE SET {changing}")

    def add_imaging(self, scans: Iterable[tuple[str, Scan]], now: datetime) -> None:
        """Store imaging studies; one already stored is left as it is."""
        self.add_imaging_rows(((pid, s.date, s.modality, s.source, s.source_key) for pid, s in scans), now)

    def add_imaging_rows(self, scans: Iterable[tuple[str, date, str, str | None, str | None]], now: datetime) -> None:
        """`add_imaging` of plain (patient_id, date, modality, source, source_key) tuples (the import's)."""
        rows = [(pid, when, modality, now, source, key) for pid, when, modality, source, key in scans]
        insert_many(self._conn, imaging_studies, IMAGING_ROW, rows, "ON CONFLICT DO NOTHING")

    def remove_imaging_from(self, patient_id: str, source: str, source_key: str) -> int:
        """Remove the patient's imaging entries that this source stored under this key (a navigator's
        "done elsewhere" scan whose action is withdrawn); an entry from any other source stays. Returns how many."""
        i = imaging_studies.c
        done = self._conn.execute(delete(imaging_studies).where(
            i.patient_id == patient_id, i.source == source, i.source_key == source_key))
        return int(done.rowcount or 0)

    def quarantine(self, entries: Iterable[QuarantineEntry], now: datetime) -> None:
        """Keep rows that failed validation; the same raw content is kept once."""
        rows = [{
            "source": e.source, "line_no": e.line_no, "record_key": e.record_key, "raw": e.raw,
            "errors": json.dumps([err.to_dict() for err in e.errors], ensure_ascii=False),
            "raw_hash": e.raw_hash, "created_at": now, "resolved_at": now if e.resolved else None,
            "reported_at": None,
        } for e in entries]
        if rows:
            stmt = dialect_insert(self._conn, quarantine).on_conflict_do_nothing(index_elements=["raw_hash"])
            self._conn.execute(stmt, rows)

    def resolve_quarantine(self, record_keys: Collection[str], now: datetime) -> int:
        """A valid record arrived for these patients: their open quarantine rows leave quarantine."""
        if not record_keys:
            return 0
        stmt = (update(quarantine)
                .where(_among(self._conn, quarantine.c.record_key, record_keys), quarantine.c.resolved_at.is_(None))
                .values(resolved_at=now))
        return self._conn.execute(stmt).rowcount

    def replace_teams(self, teams: Iterable[CareTeam], now: datetime) -> None:
        """Create or update each team, and replace its members with the listed ones."""
        for team in teams:
            stmt = dialect_insert(self._conn, care_teams)
            stmt = stmt.on_conflict_do_update(
                index_elements=["key"],
                set_={"name": stmt.excluded.name, "guideline": stmt.excluded.guideline,
                      "updated_at": stmt.excluded.updated_at, "fhir_ids": stmt.excluded.fhir_ids})
            self._conn.execute(stmt, {"key": team.key, "name": team.name, "guideline": team.guideline,
                                      "updated_at": now, "fhir_ids": json.dumps(team.fhir) if team.fhir else None})
            self._conn.execute(delete(team_members).where(team_members.c.team_key == team.key))
            members = [{"team_key": team.key, "role": role, "email": email} for role, email in team.members()]
            if members:
                self._conn.execute(team_members.insert(), members)
            self._conn.execute(delete(team_access).where(team_access.c.team_key == team.key))
            if team.users:
                self._conn.execute(team_access.insert(), [{"team_key": team.key, "username": u} for u in team.users])

    # Questions asked inside a transaction (the digest build reads and writes in one snapshot)

    def care_teams(self) -> dict[str, CareTeam]:
        """Every configured care team with its members, by key."""
        teams = self._conn.execute(select(care_teams).order_by(care_teams.c.key)).all()
        members = self._conn.execute(select(team_members).order_by(team_members.c.id)).all()
        by_team: dict[str, dict[str, list[str]]] = {t.key: {f: [] for f in ROLES} for t in teams}
        field_of = {role: field for field, role in ROLES.items()}
        for m in members:
            by_team[m.team_key][field_of[m.role]].append(m.email)
        users: dict[str, list[str]] = {t.key: [] for t in teams}
        for key, username in self._conn.execute(select(team_access.c.team_key, team_access.c.username)
                                                .order_by(team_access.c.id)):
            users[key].append(username)
        return {t.key: CareTeam(key=t.key, name=t.name, guideline=t.guideline, users=tuple(users[t.key]),
                                fhir=tuple(json.loads(t.fhir_ids)) if t.fhir_ids else (),
                                **{f: tuple(v) for f, v in by_team[t.key].items()}) for t in teams}

    def names(self, patient_ids: Collection[str]) -> dict[str, str | None]:
        """The recorded name of each of these patients, by patient_id."""
        found: dict[str, str | None] = {}
        for ids in batched(sorted(patient_ids), IN_LIST):
            query = select(patients.c.patient_id, patients.c.name).where(patients.c.patient_id.in_(ids))
            found.update({pid: name for pid, name in self._conn.execute(query)})
        return found

    def unreported_quarantine(self) -> list[QuarantineRow]:
        """Open quarantined rows not yet in a data steward digest, oldest first."""
        q = quarantine.c
        query = (select(q.id, q.source, q.line_no, q.record_key, q.errors, q.created_at)
                 .where(q.reported_at.is_(None), q.resolved_at.is_(None)).order_by(q.id))
        return [_quarantine_row(row) for row in self._conn.execute(query)]

    def mark_quarantine_reported(self, ids: Sequence[int]) -> None:
        now = utcnow()
        for chunk in batched(ids, IN_LIST):
            self._conn.execute(update(quarantine).where(quarantine.c.id.in_(chunk)).values(reported_at=now))

    def open_quarantine_rows(self, patient_id: str | None = None) -> list[QuarantineRow]:
        """Quarantined rows awaiting a fix (of this patient's MRN, if given), oldest first."""
        q = quarantine.c
        query = (select(q.id, q.source, q.line_no, q.record_key, q.errors, q.created_at)
                 .where(q.resolved_at.is_(None)).order_by(q.id))
        if patient_id is not None:
            query = query.where(q.record_key == patient_id)
        return [_quarantine_row(row) for row in self._conn.execute(query)]

    def open_quarantine_count(self) -> int:
        query = select(func.count()).select_from(quarantine).where(quarantine.c.resolved_at.is_(None))
        return int(self._conn.execute(query).scalar_one())

    def record_guidelines(self, patient_ids: Collection[str]) -> dict[str, str | None]:
        """The guideline each of these stored records names itself (None: its team's or the default)."""
        found: dict[str, str | None] = {}
        for ids in batched(sorted(patient_ids), IN_LIST):
            query = select(patients.c.patient_id, patients.c.guideline).where(patients.c.patient_id.in_(ids))
            found.update({pid: guideline for pid, guideline in self._conn.execute(query)})
        return found

    def care_team_names(self) -> dict[str, str]:
        """Every care team by key: the configured ones with their names, and team keys that only
        patients name (no configuration yet) under their key. Sorted by name, then key."""
        names = {key: name for key, name in self._conn.execute(select(care_teams.c.key, care_teams.c.name))}
        for (key,) in self._conn.execute(select(patients.c.care_team).distinct()):
            names.setdefault(key, key)
        return dict(sorted(names.items(), key=lambda item: (item[1].casefold(), item[0])))

    def team_patient_names(self, team: str) -> dict[str, str | None]:
        """The recorded name of each patient of `team`, by patient_id."""
        query = select(patients.c.patient_id, patients.c.name).where(patients.c.care_team == team)
        return {pid: name for pid, name in self._conn.execute(query)}

    def patient_id_for_ref(self, ref: str) -> str | None:
        """The patient_id behind a reference, or None when no patient has it."""
        query = select(patients.c.patient_id).where(patients.c.ref == ref)
        return self._conn.execute(query).scalar_one_or_none()

    def refs(self, patient_ids: Collection[str]) -> dict[str, str]:
        """The reference of each of these patients that is stored, by patient_id."""
        found: dict[str, str] = {}
        for ids in batched(sorted(patient_ids), IN_LIST):
            query = select(patients.c.patient_id, patients.c.ref).where(patients.c.patient_id.in_(ids))
            found.update({pid: ref for pid, ref in self._conn.execute(query) if ref is not None})
        return found

    def find_record(self, patient_id: str) -> PatientRecord | None:
        """The stored patient with its imaging, or None when no patient has this id."""
        people = select(*(patients.c[name] for name in PATIENT_FIELDS)).where(patients.c.patient_id == patient_id)
        i = imaging_studies.c
        scans = select(i.patient_id, i.date, i.modality).where(i.patient_id == patient_id).order_by(i.date, i.id)
        return next(streaming.merged_records(self._conn, people, scans), None)

    def find_records(self, patient_ids: Collection[str]) -> dict[str, PatientRecord]:
        """The stored patients of these ids with their imaging (as `find_record` gives each), by patient_id; two
        queries however many ids (an id not stored is left out)."""
        if not patient_ids:
            return {}
        p, i = patients.c, imaging_studies.c
        people = (select(*(p[name] for name in PATIENT_FIELDS)).where(_among(self._conn, p.patient_id, patient_ids))
                  .order_by(by_code_point(self._conn, p.patient_id)))
        scans = (select(i.patient_id, i.date, i.modality).where(_among(self._conn, i.patient_id, patient_ids))
                 .order_by(by_code_point(self._conn, i.patient_id), i.date, i.id))
        return {record.patient_id: record for record in streaming.merged_records(self._conn, people, scans)}

    def search_patient_ids(self, fragment: str, teams: Collection[str], limit: int) -> list[str]:
        """The patient_ids of `teams` containing `fragment` (case-insensitive), in code-point order, at most `limit`."""
        escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = (select(patients.c.patient_id)
                 .where(func.lower(patients.c.patient_id).like(f"%{escaped.lower()}%", escape="\\"),
                        patients.c.care_team.in_(sorted(teams)))
                 .order_by(by_code_point(self._conn, patients.c.patient_id)).limit(limit))
        return list(self._conn.execute(query).scalars())


class PatientStore:
    """The patient database behind one engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[PatientWriter]:
        """One transaction: committed when the block ends, rolled back if it raises.

        Driver errors come out as `DatabaseError`, without the row data PostgreSQL quotes.
        """
        with scrubbed_errors(), self.engine.connect() as conn:
            conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield PatientWriter(conn)

    @contextmanager
    def _reading(self) -> Iterator[PatientWriter]:
        with scrubbed_errors(), self.engine.connect() as conn:
            yield PatientWriter(conn)

    def care_teams(self) -> dict[str, CareTeam]:
        """Every care team with its members, by key."""
        with self._reading() as r:
            return r.care_teams()

    def team_guidelines(self) -> dict[str, str]:
        """The guideline each care team chose, for the teams that chose one."""
        return {key: team.guideline for key, team in self.care_teams().items() if team.guideline is not None}

    def record_guidelines(self, patient_ids: Collection[str]) -> dict[str, str | None]:
        with self._reading() as r:
            return r.record_guidelines(patient_ids)

    def open_quarantine_rows(self, patient_id: str | None = None) -> list[QuarantineRow]:
        with self._reading() as r:
            return r.open_quarantine_rows(patient_id)

    def open_quarantine_count(self) -> int:
        with self._reading() as r:
            return r.open_quarantine_count()

    def care_team_names(self) -> dict[str, str]:
        with self._reading() as r:
            return r.care_team_names()

    def team_patient_names(self, team: str) -> dict[str, str | None]:
        with self._reading() as r:
            return r.team_patient_names(team)

    def find_record(self, patient_id: str) -> PatientRecord | None:
        with self._reading() as r:
            return r.find_record(patient_id)

    def find_records(self, patient_ids: Collection[str]) -> dict[str, PatientRecord]:
        with self._reading() as r:
            return r.find_records(patient_ids)

    def patient_id_for_ref(self, ref: str) -> str | None:
        with self._reading() as r:
            return r.patient_id_for_ref(ref)

    def refs(self, patient_ids: Collection[str]) -> dict[str, str]:
        with self._reading() as r:
            return r.refs(patient_ids)

    def refresh_statistics(self) -> None:
        """PostgreSQL: ANALYZE the tables an import looks up (patients, imaging, quarantine), so that a table
        grown since its last statistics is still read by its index (nothing on SQLite, whose planner needs none).

        A growing table whose statistics are stale is planned as tiny: the import's per-chunk lookups of known
        ids then scan the whole table (measured at 300k patients: 191 ms a chunk by a sequential scan against
        32 ms by the index), and a 1M import takes minutes more, as much as autovacuum's timing decides."""
        if self.engine.dialect.name != "postgresql":
            return
        with scrubbed_errors(), self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE patients, imaging_studies, quarantine")

    def stream_records(self, team: str | None = None, shard: int = 0, shards: int = 1,
                       batch: int = 1000, id_range: IdRange = (None, None)) -> Iterator[PatientRecord]:
        """Every stored patient (of `team`, of shard `shard` of `shards`, with low <= patient_id < high for
        `id_range` (low, high), None being open) as a PatientRecord, by patient_id.

        Exactly two streaming queries on one snapshot; memory does not grow with the cohort. A range
        reads only its part of both tables (the imaging index serves it): how a forked scan splits
        the cohort (`id_cuts`).
        """
        where = _cohort_filter(team, shard, shards)
        whole = team is None and shards == 1
        with scrubbed_errors(), self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                if conn.dialect.name == "postgresql":  # JIT-compiling the two reads costs ~1 s at 1M, gains nothing
                    conn.exec_driver_sql("SET LOCAL jit = off")
                yield from streaming.merged_records(conn, _patients_query(conn, where, id_range),
                                                    _imaging_query(conn, None if whole else where, id_range), batch)

    def id_cuts(self, parts: int, team: str | None = None, shard: int = 0, shards: int = 1) -> list[str]:
        """Patient ids that cut the cohort (of `team`, of shard `shard` of `shards`) into up to `parts`
        ranges of about equal size, ascending in code-point order: range k is cuts[k-1] <= id < cuts[k]
        (open at both ends). One pass over the ids; fewer cuts for a small cohort, none for one part."""
        where = _cohort_filter(team, shard, shards)
        with scrubbed_errors(), self.engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(patients).where(where)).scalar_one()
            step = -(-count // parts) if parts > 1 else 0
            if step < 1 or count <= step:
                return []
            pid = patients.c.patient_id
            number = func.row_number().over(order_by=by_code_point(conn, pid)).label("number")
            ranked = select(pid.label("patient_id"), number).where(where).subquery()
            query = (select(ranked.c.patient_id).where((ranked.c.number - 1) % step == 0, ranked.c.number > 1)
                     .order_by(ranked.c.number))
            return list(conn.execute(query).scalars())

    def search_patient_ids(self, fragment: str, teams: Collection[str], limit: int = 50) -> list[str]:
        with self._reading() as r:
            return r.search_patient_ids(fragment, teams, limit)


def _cohort_filter(team: str | None, shard: int, shards: int) -> ColumnElement[bool]:
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard must be between 0 and {shards - 1}, got {shard}")
    conditions: list[ColumnElement[bool]] = []
    if team is not None:
        conditions.append(patients.c.care_team == team)
    if shards > 1:
        conditions.append(patients.c.bucket % shards == shard)
    return and_(True, *conditions)


def _patients_query(conn: Connection, where: ColumnElement[bool], id_range: IdRange = (None, None)) -> Select[Any]:
    """The patients in PATIENT_FIELDS columns, by patient_id.

    On SQLite the order (and a range) is an expression (patient_id || ''), not the column: the table
    is then read in storage order and sorted, where walking the patient_id index would look up every
    row at random (three times slower at a million patients).
    """
    columns = [patients.c[name] for name in PATIENT_FIELDS]
    pid = patients.c.patient_id
    key = pid.collate("C") if conn.dialect.name == "postgresql" else pid.concat("")
    return select(*columns).where(where, *within(key, id_range)).order_by(key)


def _imaging_query(conn: Connection, where: ColumnElement[bool] | None,
                   id_range: IdRange = (None, None)) -> Select[Any]:
    """Imaging rows (patient_id, date, modality, id) by patient_id, date and modality: the order of the
    unique index, which alone answers the query on SQLite, a range included (the merge puts each
    patient's studies back in id order). `where` (on patients) joins the patients table; None reads
    imaging alone (studies of patients not in the database are skipped by the merge)."""
    i = imaging_studies.c
    key = by_code_point(conn, i.patient_id)
    query = select(i.patient_id, i.date, i.modality, i.id).where(*within(key, id_range))
    if where is not None:
        query = query.join_from(imaging_studies, patients, patients.c.patient_id == i.patient_id).where(where)
    return query.order_by(key, i.date, i.modality)
