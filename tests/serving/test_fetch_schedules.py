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

    def schedules(self, target: Target, workloads: list[Workload], predict: bool = True,
                  budget_s: float | None = None, weights: list[int] | None = None) -> list[dict[str, Any]]:
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


class KeyedAnswers(AnsweringService):
    """Answers with the given records, each for the asked workload of the paired key."""

    def __init__(self, answers: list[tuple[str, ScheduleRecord]]) -> None:
        super().__init__([record for _, record in answers])
        self.answers = answers

    def schedules(self, target: Target, workloads: list[Workload], predict: bool = True,
                  budget_s: float | None = None, weights: list[int] | None = None) -> list[dict[str, Any]]:
        return [{"key": key, "status": r.source, "record": r.to_dict()} for key, r in self.answers]


def test_a_prepacked_kernel_takes_its_plain_twins_record_and_nothing_else() -> None:
    from lorien.dialects import Lowering
    from tests.tvm_models import sampled_schedules, small_conv, small_mlp

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    mlp = dialect.load_model(small_mlp())
    [prepacked] = dialect.extract(mlp, target, Lowering(prepack=True))
    [plain] = dialect.extract(mlp, target, Lowering(prepack=False))
    [conv] = dialect.extract(dialect.load_model(small_conv()), target, Lowering(prepack=False))
    twin = ScheduleRecord(dialect="tvm", workload_key=plain.workload.key, target=target,
                          build=dialect.build_id(), latency=Latency((1e-4,)),
                          schedule=sampled_schedules(plain.workload, target, count=1)[0])
    others = replace(twin, workload_key=conv.workload.key,
                     schedule=sampled_schedules(conv.workload, target, count=1)[0])
    service = KeyedAnswers([(prepacked.workload.key, twin), (prepacked.workload.key, others)])
    asked = [prepacked.workload, conv.workload]
    with fetch_schedules(service, target, asked) as fetched:  # type: ignore[arg-type]
        assert len(fetched.refused) == 1 and "neither that workload nor an equivalent" in fetched.refused[0]
        compiled = dialect.compile(mlp, target, fetched.store, Lowering(prepack=True))
    assert compiled.kernels_scheduled == 1
