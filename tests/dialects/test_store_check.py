"""``check_store``'s loop with a checker that needs no compiler: what is counted, what is deleted."""

from __future__ import annotations

from collections.abc import Sequence

from lorien.dialects import OutputCheck, OutputChecker
from lorien.dialects.store_check import check_store
from lorien.records import ScheduleRecord, Target, Workload
from lorien.store.memory import MemoryScheduleStore
from lorien.testing.factories import CPU_A, record, workload


class ByScheduleName(OutputChecker):
    """Reads the verdict from the schedule's name: ``wrong...``, ``right...``, else skipped."""

    name = "fake"

    def __init__(self) -> None:
        self.asked: list[tuple[str, int, bool]] = []

    def parse_target(self, text: str) -> Target:
        return CPU_A

    def build_id(self) -> str:
        return "fake-1"

    def check_outputs(self, workload: Workload, records: Sequence[ScheduleRecord],
                      every: bool = False) -> list[OutputCheck]:
        self.asked.append((workload.key, len(records), every))
        return [OutputCheck("wrong", "off") if r.schedule.startswith("wrong")
                else OutputCheck("right") if r.schedule.startswith("right")
                else OutputCheck("skipped", "own design space") for r in records]


def test_wrong_records_are_counted_and_deleted_and_nothing_else_is() -> None:
    store = MemoryScheduleStore()
    store.put_workloads([workload("00000000000000aa"), workload("00000000000000bb"),
                         workload("00000000000000cc")])  # cc holds no record: not asked
    records = [record("00000000000000aa", 1e-3, "wrong-1"), record("00000000000000aa", 2e-3, "right-1"),
               record("00000000000000aa", 3e-3, "own-1"), record("00000000000000bb", 1e-3, "wrong-2"),
               record("00000000000000bb", 2e-3, "own-2"),
               record("00000000000000dd", 1e-3, "wrong-3", dialect="other")]  # another dialect's
    store.commit(records)
    checker = ByScheduleName()
    seen: list[tuple[int, int]] = []

    report = check_store(store, checker, progress=lambda done, total: seen.append((done, total)))
    assert (report.workloads, report.records, report.right, report.deleted) == (2, 5, 1, 0)
    assert [(w.record.schedule, w.why) for w in report.wrong] == [("wrong-1", "off"), ("wrong-2", "off")]
    assert report.skipped == {"own design space": 2}
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert store.count() == 6

    report = check_store(store, checker, every=True, delete=True)
    assert report.deleted == 2 and checker.asked[-1][2] is True
    assert sorted(r.schedule for r in store.records()) == ["own-1", "own-2", "right-1", "wrong-3"]
    assert check_store(store, checker).wrong == []
