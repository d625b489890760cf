"""Small builders of records and workloads for tests of the core (no compiler involved)."""

from __future__ import annotations

from lorien.records import Latency, RecordSource, ScheduleRecord, Target, Workload

CPU_A = Target(canonical='{"keys":["cpu"],"kind":"llvm","mcpu":"a","num-cores":2}', loose_key="llvm_cpu")
CPU_B = Target(canonical='{"keys":["cpu"],"kind":"llvm","mcpu":"b","num-cores":2}', loose_key="llvm_cpu")
GPU = Target(canonical='{"keys":["cuda","gpu"],"kind":"cuda"}', loose_key="cuda_gpu")


def workload(key: str = "00000000000000aa", dialect: str = "fake") -> Workload:
    return Workload(dialect=dialect, key=key, name=f"op[{key}]", flops=1e6, payload=f"payload-{key}")


def record(
    key: str = "00000000000000aa",
    seconds: float = 1e-3,
    schedule: str | None = None,
    target: Target = CPU_A,
    build: str = "fake-1",
    source: RecordSource = "tuned",
    dialect: str = "fake",
) -> ScheduleRecord:
    return ScheduleRecord(
        dialect=dialect,
        workload_key=key,
        target=target,
        build=build,
        schedule=schedule if schedule is not None else f"sched-{seconds!r}",
        latency=Latency((seconds, seconds * 1.01, seconds * 0.99)),
        source=source,
        created_at=1_700_000_000.0,
    )
