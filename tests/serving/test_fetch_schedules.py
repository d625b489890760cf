"""What a client takes from a service's answers: only records of the workloads it asked about,
and only schedules that apply to their kernels (checked where a crash cannot hurt the client)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lorien.dialects import get_dialect
from lorien.records import Latency, ScheduleRecord, Target, Workload
from lorien.serving.client import fetch_schedules
from tests.payload_corpus import hostile_schedules, shipped_workload_and_schedule


class AnsweringService:
    """Stands in for ServiceClient: answers a batch with the given records, one per workload."""

    def __init__(self, records: list[ScheduleRecord]) -> None:
        self.records = records

    def schedules(self, target: Target, workloads: list[Workload],
                  predict: bool = True) -> list[dict[str, Any]]:
        return [{"key": r.workload_key, "status": r.source, "record": r.to_dict()} for r in self.records]


def test_a_hostile_or_unasked_record_is_refused_and_the_rest_kept() -> None:
    dialect = get_dialect("tvm")
    workload, schedule = shipped_workload_and_schedule()
    target = dialect.parse_target("host")
    good = ScheduleRecord(dialect="tvm", workload_key=workload.key, target=target, build=dialect.build_id(),
                          schedule=schedule, latency=Latency((1e-3,)))
    crashing = replace(good, schedule=hostile_schedules(schedule)["null-attribute"], latency=Latency((1e-4,)))
    unasked = replace(good, workload_key="00000000000000ff")
    service = AnsweringService([crashing, unasked, good])
    with fetch_schedules(service, target, [workload]) as fetched:  # type: ignore[arg-type]
        assert len(fetched.refused) == 2
        assert "crashed the compiler" in fetched.refused[0] and "not asked about" in fetched.refused[1]
        assert fetched.store.top_k(workload.key, target, 5) == [good]
