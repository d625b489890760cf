"""The embedded schedule store: one SQLite file in WAL mode, safe for several processes.

Every commit runs in one ``BEGIN IMMEDIATE`` transaction (the writer lock is taken up front), so two
processes committing to the same workload are serialised and the best-N trim sees the other's rows.
Readers never block writers (WAL). Each thread gets its own connection.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from lorien.errors import InvalidInput, StoreError
from lorien.records import Latency, RecordSource, ScheduleRecord, Target, Workload, WorkloadSummary
from lorien.sqlite_file import SQLiteFile
from lorien.store.base import CommitResult, GroupSummary, ScheduleStore, TargetMatch, check_top_k

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS workloads (
    dialect TEXT NOT NULL,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    flops REAL NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (dialect, key)
);
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    dialect TEXT NOT NULL,
    workload_key TEXT NOT NULL,
    target TEXT NOT NULL,
    loose_target TEXT NOT NULL,
    build TEXT NOT NULL,
    source TEXT NOT NULL,
    latency_mean REAL NOT NULL,
    latency_runs TEXT NOT NULL,
    schedule TEXT NOT NULL,
    created_at REAL NOT NULL,
    log_ref TEXT
);
CREATE INDEX IF NOT EXISTS records_by_group
    ON records (workload_key, target, build, source, latency_mean);
CREATE INDEX IF NOT EXISTS records_by_loose_target
    ON records (workload_key, loose_target, latency_mean);
"""

_RECORD_COLUMNS = (
    "record_id, dialect, workload_key, target, loose_target, build, source, latency_mean, "
    "latency_runs, schedule, created_at, log_ref"
)
_SOURCE_ORDER = "CASE source WHEN 'tuned' THEN 0 WHEN 'measured' THEN 1 ELSE 2 END"


class SQLiteScheduleStore(ScheduleStore):
    """:class:`ScheduleStore` on a SQLite file. See the module docstring for the locking scheme.

    Args:
        path: the database file; its folder is created when missing.
        keep: records kept per (workload, target, build, source) group.
        busy_timeout_s: how long a writer waits for another process's transaction.

    Raises:
        StoreError: the file cannot be opened or is not a Lorien database.
    """

    def __init__(self, path: str | Path, *, keep: int = 5, busy_timeout_s: float = 60.0) -> None:
        if keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {keep}")
        self.path = Path(path).expanduser()
        self.keep = keep
        self._file = SQLiteFile(self.path, "store", busy_timeout_s)
        self.uri = self._file.uri
        self._transaction = self._file.transaction
        self._file.create_schema(_SCHEMA, self._check_version)

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._file.execute(sql, params).fetchall()

    def _check_version(self, conn: sqlite3.Connection) -> None:
        row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {row[0]}, newer than this Lorien "
                             f"({SCHEMA_VERSION}); upgrade Lorien")

    # -- workloads -------------------------------------------------------------------------------
    def put_workloads(self, workloads: Iterable[Workload]) -> int:
        rows = [(w.dialect, w.key, w.name, w.flops, w.payload, time.time()) for w in workloads]
        if not rows:
            return 0
        try:
            with self._transaction() as conn:
                before = conn.total_changes
                conn.executemany(
                    "INSERT OR IGNORE INTO workloads VALUES (?, ?, ?, ?, ?, ?)", rows
                )
                return conn.total_changes - before
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def get_workload(self, dialect: str, key: str) -> Workload | None:
        rows = self._query(
            "SELECT dialect, key, name, flops, payload FROM workloads WHERE dialect=? AND key=?",
            (dialect, key),
        )
        return Workload(*rows[0]) if rows else None

    def list_workloads(self, dialect: str | None = None) -> list[Workload]:
        sql = "SELECT dialect, key, name, flops, payload FROM workloads"
        params: tuple[Any, ...] = ()
        if dialect is not None:
            sql += " WHERE dialect=?"
            params = (dialect,)
        return [Workload(*row) for row in self._query(sql + " ORDER BY key, dialect", params)]

    def workload_summaries(self, dialect: str, since: float | None = None) -> list[WorkloadSummary]:
        rows = self._query("SELECT dialect, key, name, flops, created_at FROM workloads WHERE dialect=? "
                           "AND created_at >= ? ORDER BY key",
                           (dialect, -math.inf if since is None else since))
        return [WorkloadSummary(*row) for row in rows]

    # -- records ---------------------------------------------------------------------------------
    def commit(self, records: Sequence[ScheduleRecord]) -> CommitResult:
        if not records:
            return CommitResult(kept=0, dropped=0)
        ids = [rec.record_id for rec in records]
        groups = {(r.workload_key, r.target.canonical, r.build, r.source) for r in records}
        try:
            with self._transaction() as conn:
                conn.executemany(
                    f"INSERT INTO records ({_RECORD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?) "
                    "ON CONFLICT(record_id) DO UPDATE SET latency_mean=excluded.latency_mean, "
                    "latency_runs=excluded.latency_runs, created_at=excluded.created_at, "
                    "log_ref=excluded.log_ref WHERE excluded.latency_mean < records.latency_mean",
                    [_record_row(rec) for rec in records],
                )
                for group in groups:
                    conn.execute(
                        "DELETE FROM records WHERE record_id IN (SELECT record_id FROM records "
                        "WHERE workload_key=? AND target=? AND build=? AND source=? "
                        "ORDER BY latency_mean, record_id LIMIT -1 OFFSET ?)",
                        (*group, self.keep),
                    )
                kept_ids = _kept_ids(conn, ids, records)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: commit failed: {exc}") from exc
        kept = sum(1 for rec in records if rec.record_id in kept_ids)
        return CommitResult(kept=kept, dropped=len(records) - kept)

    def top_k(
        self,
        workload_key: str,
        target: Target,
        k: int = 1,
        *,
        match: TargetMatch = "exact",
        build: str | None = None,
        source: RecordSource | None = None,
    ) -> list[ScheduleRecord]:
        check_top_k(k, match)
        where = ["workload_key=?"]
        params: list[Any] = [workload_key]
        if match == "exact":
            where.append("target=?")
            params.append(target.canonical)
        else:
            where.append("loose_target=?")
            params.append(target.loose_key)
        if build is not None:
            where.append("build=?")
            params.append(build)
        if source is not None:
            where.append("source=?")
            params.append(source)
        rows = self._query(
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE {' AND '.join(where)} "
            f"ORDER BY {_SOURCE_ORDER}, latency_mean, record_id LIMIT ?",
            (*params, k),
        )
        return [_row_record(row) for row in rows]

    def lookup(self, workload_keys: Sequence[str], target: Target, build: str) -> ScheduleRecord | None:
        keys = list(dict.fromkeys(workload_keys))
        if not keys:
            return None
        rows = self._query(  # the look-up rule (lookup_rank) as an ORDER BY: one statement
            f"SELECT {_RECORD_COLUMNS} FROM records WHERE loose_target = ? AND workload_key IN "
            f"({','.join('?' * len(keys))}) ORDER BY CASE source WHEN 'tuned' THEN 0 WHEN 'measured' "
            "THEN 1 ELSE 4 END + CASE WHEN target = ? THEN 0 ELSE 2 - (source = 'predicted') END, "
            "build != ?, latency_mean, record_id LIMIT 1", (target.loose_key, *keys, target.canonical, build))
        return _row_record(rows[0]) if rows else None

    def records(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> Iterator[ScheduleRecord]:
        where, params = _filters(dialect, workload_key, target, build)
        rows = self._query(
            f"SELECT {_RECORD_COLUMNS} FROM records{where} "
            "ORDER BY workload_key, target, build, source, latency_mean, record_id",
            params,
        )
        return (_row_record(row) for row in rows)

    def count(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        where, params = _filters(dialect, workload_key, target, build)
        return int(self._query(f"SELECT COUNT(*) FROM records{where}", params)[0][0])

    def delete(
        self,
        workload_key: str,
        *,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        where, params = _filters(None, workload_key, target, build)
        try:
            with self._transaction() as conn:
                return conn.execute(f"DELETE FROM records{where}", params).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def delete_records(self, records: Sequence[ScheduleRecord]) -> int:
        ids = sorted({rec.record_id for rec in records})
        try:
            with self._transaction() as conn:
                return sum(conn.execute(
                    f"DELETE FROM records WHERE record_id IN ({','.join('?' * len(chunk))})", chunk).rowcount
                    for chunk in (ids[start:start + 500] for start in range(0, len(ids), 500)))
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def groups(self) -> Iterator[GroupSummary]:
        rows = self._query(
            "SELECT dialect, workload_key, target, loose_target, build, source, COUNT(*), "
            "MIN(latency_mean) FROM records GROUP BY dialect, workload_key, target, loose_target, "
            "build, source ORDER BY workload_key, target, build, source")
        return (GroupSummary(dialect, key, Target(target, loose), build, source, int(n), float(best))
                for dialect, key, target, loose, build, source, n, best in rows)

    def prune(self, keep: int) -> int:
        if keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {keep}")
        try:
            with self._transaction() as conn:
                return conn.execute(
                    "DELETE FROM records WHERE record_id IN (SELECT record_id FROM (SELECT record_id, "
                    "ROW_NUMBER() OVER (PARTITION BY workload_key, target, build, source "
                    "ORDER BY latency_mean, record_id) AS rank FROM records) WHERE rank > ?)",
                    (keep,)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store {self.path}: {exc}") from exc

    def close(self) -> None:
        self._file.close()


def _filters(
    dialect: str | None, workload_key: str | None, target: Target | None, build: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("dialect", dialect),
        ("workload_key", workload_key),
        ("target", target.canonical if target is not None else None),
        ("build", build),
    ):
        if value is not None:
            clauses.append(f"{column}=?")
            params.append(value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def _kept_ids(
    conn: sqlite3.Connection, ids: list[str], records: Sequence[ScheduleRecord]
) -> set[str]:
    """Ids of ``records`` stored with this very measurement (not a faster earlier duplicate)."""
    kept: set[str] = set()
    by_id = {rec.record_id: rec for rec in records}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for record_id, mean in conn.execute(
            f"SELECT record_id, latency_mean FROM records WHERE record_id IN ({marks})", chunk
        ):
            if mean == by_id[record_id].latency.mean:
                kept.add(record_id)
    return kept


def _record_row(rec: ScheduleRecord) -> tuple[Any, ...]:
    return (
        rec.record_id, rec.dialect, rec.workload_key, rec.target.canonical, rec.target.loose_key,
        rec.build, rec.source, rec.latency.mean, json.dumps(list(rec.latency.runs)), rec.schedule,
        rec.created_at, rec.log_ref,
    )


def _row_record(row: tuple[Any, ...]) -> ScheduleRecord:
    (_, dialect, workload_key, target, loose_target, build, source, _, runs, schedule, created_at,
     log_ref) = row
    return ScheduleRecord(
        dialect=dialect,
        workload_key=workload_key,
        target=Target(canonical=target, loose_key=loose_target),
        build=build,
        schedule=schedule,
        latency=Latency(runs=tuple(json.loads(runs))),
        source=source,
        created_at=created_at,
        log_ref=log_ref,
    )
