"""An in-memory :class:`ScheduleStore`: the reference semantics, executed.

Every commit merges the touched groups with :func:`lorien.records.best_per_group`, the function
that defines what a store keeps, so this backend is the executable form of the contract the
others implement with SQL or conditional writes. It is also the store for answers that live as
long as one build: :func:`lorien.serving.client.fetch_schedules` keeps the service's answers in
one (no temporary file).

Thread safety: one lock guards everything; every method may be called from several threads.
Nothing is shared between processes and nothing outlives :meth:`close` (the conformance suite's
tests of reopening and of several processes do not apply to it). Records and workloads are
immutable values, handed out as they are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence

from lorien.errors import InvalidInput, StoreError
from lorien.records import RecordSource, ScheduleRecord, Target, Workload, WorkloadSummary, best_per_group
from lorien.store.base import CommitResult, GroupSummary, ScheduleStore, TargetMatch, check_top_k, lookup_rank

_SOURCE_ORDER: dict[str, int] = {"tuned": 0, "measured": 1, "predicted": 2}
_Group = tuple[str, str, str, str, RecordSource]  # dialect, workload key, canonical target, build, source


def _group_of(record: ScheduleRecord) -> _Group:
    return (record.dialect, record.workload_key, record.target.canonical, record.build, record.source)


def _rank(record: ScheduleRecord) -> tuple[float, str]:
    return record.latency.mean, record.record_id


class MemoryScheduleStore(ScheduleStore):
    """:class:`ScheduleStore` in this process's memory.

    Args:
        keep: records kept per (workload, target, build, source) group.

    Raises:
        InvalidInput: ``keep`` below 1.
    """

    def __init__(self, *, keep: int = 5) -> None:
        if keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {keep}")
        self.keep = keep
        self.uri = f"memory://{id(self):x}"
        self._lock = threading.Lock()
        self._closed = False
        self._workloads: dict[tuple[str, str], Workload] = {}
        self._stored_at: dict[tuple[str, str], float] = {}
        self._groups: dict[_Group, list[ScheduleRecord]] = {}  # each sorted fastest first

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"store {self.uri} is closed")

    # -- workloads -------------------------------------------------------------------------------
    def put_workloads(self, workloads: Iterable[Workload]) -> int:
        given = list(workloads)
        with self._lock:
            self._check_open()
            new = 0
            for workload in given:
                if (workload.dialect, workload.key) not in self._workloads:
                    self._workloads[(workload.dialect, workload.key)] = workload
                    self._stored_at[(workload.dialect, workload.key)] = time.time()
                    new += 1
            return new

    def workload_summaries(self, dialect: str, since: float | None = None) -> list[WorkloadSummary]:
        with self._lock:
            self._check_open()
            found = [WorkloadSummary(w.dialect, w.key, w.name, w.flops, self._stored_at[at])
                     for at, w in self._workloads.items()
                     if w.dialect == dialect and (since is None or self._stored_at[at] >= since)]
        return sorted(found, key=lambda w: w.key)

    def get_workload(self, dialect: str, key: str) -> Workload | None:
        with self._lock:
            self._check_open()
            return self._workloads.get((dialect, key))

    def list_workloads(self, dialect: str | None = None) -> list[Workload]:
        with self._lock:
            self._check_open()
            found = [w for w in self._workloads.values() if dialect is None or w.dialect == dialect]
        return sorted(found, key=lambda w: (w.key, w.dialect))

    # -- records ---------------------------------------------------------------------------------
    def commit(self, records: Sequence[ScheduleRecord]) -> CommitResult:
        if not records:
            return CommitResult(kept=0, dropped=0)
        touched: dict[_Group, list[ScheduleRecord]] = {}
        for record in records:
            touched.setdefault(_group_of(record), []).append(record)
        with self._lock:
            self._check_open()
            for group, added in touched.items():
                merged = best_per_group([*self._groups.get(group, ()), *added], self.keep)
                self._groups[group] = sorted(merged, key=_rank)
            stored = {(r.record_id, r.latency.mean) for group in touched for r in self._groups[group]}
        kept = sum(1 for r in records if (r.record_id, r.latency.mean) in stored)
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
        with self._lock:
            self._check_open()
            found = [
                r for (_, key, _, group_build, group_source), group in self._groups.items()
                if key == workload_key and (build is None or group_build == build)
                and (source is None or group_source == source)
                for r in group
                if (r.target.canonical == target.canonical if match == "exact"
                    else r.target.loose_key == target.loose_key)
            ]
        found.sort(key=lambda r: (_SOURCE_ORDER[r.source], *_rank(r)))
        return found[:k]

    def lookup(self, workload_keys: Sequence[str], target: Target, build: str) -> ScheduleRecord | None:
        keys = set(workload_keys)
        with self._lock:
            self._check_open()
            found = [r for (_, key, _, _, _), group in self._groups.items() if key in keys
                     for r in group if r.target.loose_key == target.loose_key]
        return min(found, key=lambda r: lookup_rank(r, target, build), default=None)

    def _matching(self, dialect: str | None, workload_key: str | None, target: Target | None,
                  build: str | None) -> list[_Group]:
        wanted = (dialect, workload_key, target.canonical if target is not None else None, build)
        return [group for group in self._groups
                if all(value is None or value == part for value, part in zip(wanted, group, strict=False))]

    def records(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> Iterator[ScheduleRecord]:
        with self._lock:
            self._check_open()
            groups = sorted(self._matching(dialect, workload_key, target, build), key=lambda g: g[1:])
            found = [r for group in groups for r in self._groups[group]]
        return iter(found)

    def count(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        with self._lock:
            self._check_open()
            return sum(len(self._groups[g]) for g in self._matching(dialect, workload_key, target, build))

    def delete(
        self,
        workload_key: str,
        *,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        with self._lock:
            self._check_open()
            groups = self._matching(None, workload_key, target, build)
            return sum(len(self._groups.pop(group)) for group in groups)

    def delete_records(self, records: Sequence[ScheduleRecord]) -> int:
        ids = {rec.record_id for rec in records}
        with self._lock:
            self._check_open()
            deleted = 0
            for group in {_group_of(rec) for rec in records} & self._groups.keys():
                left = [rec for rec in self._groups[group] if rec.record_id not in ids]
                deleted += len(self._groups[group]) - len(left)
                if left:
                    self._groups[group] = left
                else:  # as delete() leaves it
                    del self._groups[group]
            return deleted

    def groups(self) -> Iterator[GroupSummary]:
        with self._lock:
            self._check_open()
            summaries = [
                GroupSummary(dialect, key, group[0].target, build, source, len(group), group[0].latency.mean)
                for (dialect, key, _, build, source), group in sorted(self._groups.items(),
                                                                       key=lambda item: item[0][1:])
                if group
            ]
        return iter(summaries)

    def prune(self, keep: int) -> int:
        if keep < 1:
            raise InvalidInput(f"keep must be at least 1, got {keep}")
        with self._lock:
            self._check_open()
            deleted = 0
            for group, kept in self._groups.items():
                deleted += max(len(kept) - keep, 0)
                self._groups[group] = kept[:keep]
            return deleted

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._workloads.clear()
            self._stored_at.clear()
            self._groups.clear()
