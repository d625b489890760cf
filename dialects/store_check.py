"""Checking the schedules a store holds for the wrong outputs (``lorien db check``).

A schedule that computes the wrong thing must never be served. Schedules a dialect draws from a
kernel's own design space are right by construction; the ones it suspects (for TVM, a schedule
replayed from a kernel of another structure) are built and run against the kernel unscheduled
(:meth:`~lorien.dialects.roles.OutputChecker.check_outputs`), and with ``delete`` the wrong ones
are deleted, a workload at a time, so an interrupted check leaves every group consistent and a
second run finds only what is left. Nothing right is ever deleted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from lorien.dialects.roles import OutputChecker
from lorien.records import ScheduleRecord
from lorien.store.base import ScheduleStore


@dataclass(frozen=True)
class WrongRecord:
    """A stored record whose schedule computes the wrong outputs, and where."""

    record: ScheduleRecord
    workload_name: str
    why: str


@dataclass
class StoreCheck:
    """What :func:`check_store` found.

    Attributes:
        workloads: workloads of the dialect with records.
        records: their records.
        right: records built, run and found right.
        wrong: records found wrong.
        skipped: why the others were not checked, with how many.
        deleted: wrong records deleted (``delete``).
    """

    workloads: int = 0
    records: int = 0
    right: int = 0
    wrong: list[WrongRecord] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    deleted: int = 0


def check_store(store: ScheduleStore, dialect: OutputChecker, *, every: bool = False,
                delete: bool = False, progress: Callable[[int, int], None] | None = None) -> StoreCheck:
    """Check the outputs of ``dialect``'s records in ``store``: the suspect ones, or ``every``
    one; with ``delete``, delete those found wrong. ``progress(done, total)`` after each workload.

    Raises:
        StoreError: the store cannot be read or written.
    """
    report = StoreCheck()
    workloads = store.list_workloads(dialect.name)
    for done, workload in enumerate(workloads, 1):
        records = list(store.records(dialect=dialect.name, workload_key=workload.key))
        if records:
            report.workloads += 1
            report.records += len(records)
            wrong = []
            for record, check in zip(records, dialect.check_outputs(workload, records, every), strict=True):
                if check.verdict == "wrong":
                    wrong.append(WrongRecord(record, workload.name, check.detail))
                elif check.verdict == "right":
                    report.right += 1
                else:
                    report.skipped[check.detail] += 1
            report.wrong.extend(wrong)
            if delete and wrong:
                report.deleted += store.delete_records([w.record for w in wrong])
        if progress is not None:
            progress(done, len(workloads))
    return report
