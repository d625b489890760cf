"""The embedded job queue: a ``jobs`` table in the schedule store's own SQLite file.

A conditional write is one ``UPDATE ... WHERE job_id=? AND version=?`` (or an ``INSERT`` that
fails on an existing id) in its own transaction; SQLite serialises writers across processes, so
the version check is the compare-and-set. WAL mode lets readers (``lorien jobs``, claim scans) run
beside writers. The ``priority`` column holds the job's urgency (:attr:`~lorien.jobs.JobSpec.urgency`:
its priority, measuring jobs ahead), clamped to SQLite's 64-bit integers; the exact order is
applied to what a scan reads.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from lorien.errors import StoreError
from lorien.jobs import Job, JobState, claim_order
from lorien.queue.base import ClaimFilter, JobQueue, Versioned
from lorien.sqlite_file import SQLiteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    dialect TEXT NOT NULL,
    build TEXT NOT NULL,
    target TEXT NOT NULL,
    job TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs (state, priority DESC, created_at, job_id);
"""


class SQLiteJobQueue(JobQueue):
    """:class:`JobQueue` on a SQLite file (the same file as :class:`~lorien.store.SQLiteScheduleStore`).

    Args:
        path: the database file; its folder is created when missing.
        busy_timeout_s: how long a writer waits for another process's transaction.

    Raises:
        StoreError: the file cannot be opened or is not a SQLite database.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 60.0,
                 clock: Callable[[], float] | None = None) -> None:
        super().__init__(**({"clock": clock} if clock else {}))
        self.path = Path(path).expanduser()
        self._file = SQLiteFile(self.path, "job queue", busy_timeout_s)
        self.uri = self._file.uri
        self._file.create_schema(_SCHEMA)

    def _execute(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
        return self._file.execute(sql, params)

    def _read(self, job_id: str) -> Versioned | None:
        row = self._execute("SELECT job, version FROM jobs WHERE job_id=?", (job_id,)).fetchone()
        return (Job.from_dict(json.loads(row[0])), int(row[1])) if row else None

    def _write(self, job: Job, expected_version: int | None) -> bool:
        data = json.dumps(job.to_dict(), sort_keys=True)
        spec = job.spec
        if expected_version is None:
            try:
                self._execute("INSERT INTO jobs VALUES (?, 1, ?, ?, ?, ?, ?, ?, ?)",
                              (job.job_id, job.state, _urgency(job), job.created_at, spec.dialect,
                               spec.build, spec.target.canonical, data))
            except StoreError as exc:
                if isinstance(exc.__cause__, sqlite3.IntegrityError):
                    return False
                raise
            return True
        cursor = self._execute(
            "UPDATE jobs SET version=version+1, state=?, priority=?, created_at=?, job=? "
            "WHERE job_id=? AND version=?",
            (job.state, _urgency(job), job.created_at, data, job.job_id, expected_version))
        return cursor.rowcount == 1

    def _scan(self, states: Iterable[JobState], claim: ClaimFilter | None = None,
              limit: int | None = None) -> Iterator[Versioned]:
        where, params = [], []
        if claim is not None and claim.target is not None:
            where.append("target=?")
            params.append(claim.target)
        if claim is not None and claim.builds is not None:
            pairs = sorted(claim.builds)
            where.append("(" + " OR ".join("(dialect=? AND build=?)" for _ in pairs) + ")")
            params.extend(value for pair in pairs for value in pair)
        if claim is not None and claim.tiers is not None:
            tiers = sorted(claim.tiers)
            marks = ", ".join("?" for _ in tiers)
            where.append(f"COALESCE(json_extract(job, '$.spec.tier'), 'tune') IN ({marks})")
            params.extend(tiers)
        rows: list[tuple[str, int]] = []
        # One read per state, so that a long waiting list never hides an expired running job.
        for state in dict.fromkeys(states):
            sql = (f"SELECT job, version FROM jobs WHERE {' AND '.join(['state=?', *where])} "
                   "ORDER BY priority DESC, created_at, job_id" + (" LIMIT ?" if limit is not None else ""))
            rows.extend(self._execute(sql, (state, *params, *(() if limit is None else (limit,)))).fetchall())
        jobs = [(Job.from_dict(json.loads(data)), int(version)) for data, version in rows]
        jobs.sort(key=lambda found: claim_order(found[0]))
        return iter(jobs)

    def close(self) -> None:
        self._file.close()


def _urgency(job: Job) -> int:
    """The job's urgency within SQLite's integers."""
    return max(-_INT64_MAX, min(_INT64_MAX, job.spec.urgency))


_INT64_MAX = 2**63 - 1
