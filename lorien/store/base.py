"""The schedule store interface: the best schedules of every workload, per target and compiler build.

A backend implements :class:`ScheduleStore`; :mod:`lorien.testing.store_conformance` is the suite every
backend must pass. The semantics are those of :func:`lorien.records.best_per_group`:

* records are grouped by (workload key, target, build, source); a group keeps its ``keep`` fastest
  distinct schedules (by mean latency, ties broken by record id); slower ones are dropped on commit;
* the same schedule committed twice (same :attr:`~lorien.records.ScheduleRecord.record_id`) is stored
  once, with the faster of the two measurements;
* ``predicted`` records live in their own groups, so they never evict a ``tuned`` one, and queries
  return ``tuned`` records before ``predicted`` ones.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from lorien.errors import InvalidInput
from lorien.records import RecordSource, ScheduleRecord, Target, Workload, WorkloadSummary

TargetMatch = Literal["exact", "loose"]
#: ``k`` that means every record (no group holds more).
_EVERY_RECORD = 1 << 30


def check_top_k(k: int, match: str) -> None:
    """Raise :class:`InvalidInput` for a :meth:`ScheduleStore.top_k` request no backend answers."""
    if k < 1:
        raise InvalidInput(f"k must be at least 1, got {k}")
    if match not in ("exact", "loose"):
        raise InvalidInput(f"match must be 'exact' or 'loose', got {match!r}")


def lookup_rank(record: ScheduleRecord, target: Target, build: str) -> tuple[int, bool, float, str]:
    """Where ``record`` stands in the look-up rule (:mod:`lorien.lookup`) for ``target`` and
    ``build``, lowest first: the rule's step (tuned here 0, measured here 1, tuned on another
    target of the kind 2, measured there 3, predicted here 4, predicted there 5), then this build
    before another, then the fastest, then the lowest record id."""
    exact = record.target.canonical == target.canonical
    elsewhere = 0 if exact else (1 if record.source == "predicted" else 2)
    step = {"tuned": 0, "measured": 1}.get(record.source, 4) + elsewhere
    return step, record.build != build, record.latency.mean, record.record_id


@dataclass(frozen=True)
class CommitResult:
    """What a commit did: how many of the given records are now stored, and how many were dropped
    (slower than the group's best-N, or a slower duplicate of a stored schedule)."""

    kept: int
    dropped: int


@dataclass(frozen=True)
class GroupSummary:
    """One (workload, target, build, source) group: how many records it holds and its best."""

    dialect: str
    workload_key: str
    target: Target
    build: str
    source: RecordSource
    records: int
    best_seconds: float


class ScheduleStore(abc.ABC):
    """Best-N schedule records and the workloads they belong to.

    Thread and process safety: every method may be called from several threads of one process and
    from several processes (or machines, for networked backends) at once. A commit is atomic per
    group: concurrent commits to the same workload never lose a better record and never keep more
    than ``keep`` records per group.

    Ownership: a store owns its connections; call :meth:`close` (or use it as a context manager)
    when done. Returned records are immutable values owned by the caller.

    Errors: backend failures raise :class:`lorien.errors.StoreError`; malformed arguments raise
    :class:`lorien.errors.InvalidInput`. A failed commit leaves what was stored before unchanged.
    """

    #: URI this store was opened from (``sqlite:///...``, ``dynamodb://...``).
    uri: str
    #: How many records each (workload, target, build, source) group keeps.
    keep: int

    # -- workloads -------------------------------------------------------------------------------
    @abc.abstractmethod
    def put_workloads(self, workloads: Iterable[Workload]) -> int:
        """Store workloads not stored yet (keyed by dialect and key); existing ones are unchanged.

        Returns:
            How many were new.
        """

    @abc.abstractmethod
    def get_workload(self, dialect: str, key: str) -> Workload | None:
        """The stored workload with this dialect and key, or None."""

    @abc.abstractmethod
    def list_workloads(self, dialect: str | None = None) -> list[Workload]:
        """Every stored workload (of one dialect when given), ordered by key."""

    def workload_summaries(self, dialect: str, since: float | None = None) -> list[WorkloadSummary]:
        """The workloads of ``dialect`` without their payloads, ordered by key; with ``since``,
        those stored at or after it (seconds since the epoch, as :attr:`WorkloadSummary.stored_at`).
        Workloads are never deleted, so a reader can keep what it read and ask for what is new.

        This default reads every workload whole and says nothing of when they were stored, so
        ``since`` returns them all: more than asked, never fewer. Backends that record when
        answer without payloads and only with what is new.
        """
        return [WorkloadSummary(w.dialect, w.key, w.name, w.flops) for w in self.list_workloads(dialect)]

    # -- records ---------------------------------------------------------------------------------
    @abc.abstractmethod
    def commit(self, records: Sequence[ScheduleRecord]) -> CommitResult:
        """Add records, keeping only the best ``keep`` of every group they touch.

        Raises:
            StoreError: the backend failed; nothing of this call was stored.
        """

    @abc.abstractmethod
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
        """The ``k`` best records of a workload for a target.

        Args:
            workload_key: the workload's key.
            target: the target asked for.
            k: how many records at most.
            match: ``exact`` compares the canonical target; ``loose`` any target with the same
                :attr:`~lorien.records.Target.loose_key` (e.g. any ``llvm_cpu``).
            build: only records of this compiler build; None for any build.
            source: only records of this source (``tuned``, ``measured``, ``predicted``); None
                for all.

        Returns:
            ``tuned`` records first, then ``measured``, then ``predicted``; each by mean latency,
            fastest first (an estimate is never ranked against a measurement).
        """

    def lookup(self, workload_keys: Sequence[str], target: Target, build: str) -> ScheduleRecord | None:
        """The record the look-up rule picks (:func:`lookup_rank`, lowest) among the records of
        these workloads for a target of ``target``'s kind (its
        :attr:`~lorien.records.Target.loose_key`), or None: what
        :func:`lorien.lookup.find_schedule` answers, in one call.

        Backends answer it with one statement (SQLite, the rule as its ``ORDER BY``) or one query
        per workload (DynamoDB: one partition each, ranked in memory); this default asks
        :meth:`top_k` once per workload.
        """
        found = [record for key in dict.fromkeys(workload_keys)
                 for record in self.top_k(key, target, _EVERY_RECORD, match="loose")]
        return min(found, key=lambda r: lookup_rank(r, target, build), default=None)

    @abc.abstractmethod
    def records(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> Iterator[ScheduleRecord]:
        """Every stored record matching the given filters (exact target), in a stable order."""

    @abc.abstractmethod
    def count(
        self,
        *,
        dialect: str | None = None,
        workload_key: str | None = None,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        """How many records match the filters."""

    @abc.abstractmethod
    def delete(
        self,
        workload_key: str,
        *,
        target: Target | None = None,
        build: str | None = None,
    ) -> int:
        """Delete a workload's records (for one target and/or build when given).

        Returns:
            How many records were deleted.
        """

    @abc.abstractmethod
    def delete_records(self, records: Sequence[ScheduleRecord]) -> int:
        """Delete these records (found by :attr:`ScheduleRecord.record_id` in their groups); the
        other records of their groups stay. Records not stored are ignored.

        Returns:
            How many records were deleted.
        """

    @abc.abstractmethod
    def groups(self) -> Iterator[GroupSummary]:
        """A summary of every stored group, ordered by workload key, target, build and source;
        reads no schedule (cheap even for large stores)."""

    @abc.abstractmethod
    def prune(self, keep: int) -> int:
        """Trim every group to its ``keep`` best records (later commits keep the store's own
        :attr:`keep` again).

        Returns:
            How many records were deleted.

        Raises:
            InvalidInput: ``keep`` below 1.
        """

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections. The store must not be used afterwards."""

    # -- conveniences built on the abstract methods ----------------------------------------------
    def best(
        self,
        workload_key: str,
        target: Target,
        *,
        match: TargetMatch = "exact",
        build: str | None = None,
    ) -> ScheduleRecord | None:
        """The single best record, as :meth:`top_k` with ``k=1``; None when there is none."""
        found = self.top_k(workload_key, target, 1, match=match, build=build)
        return found[0] if found else None

    def __enter__(self) -> ScheduleStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
