"""Seeding a store from tuning logs: which records a fresh service starts with."""

from __future__ import annotations

from pathlib import Path

from lorien.datasets.seed import seed_from_logs
from lorien.records import Latency
from lorien.store.sqlite import SQLiteScheduleStore
from lorien.testing.factories import CPU_A, workload
from lorien.tuning_log import Measurement, TuningLog


def test_searched_schedules_are_tuned_and_adapted_neighbours_measured(tmp_path: Path) -> None:
    """A kernel whose logs hold adapted neighbours only was never searched: its best is a
    ``measured`` record (a service still queues its tuning), not a ``tuned`` one."""
    searched = TuningLog(workload("aa"), CPU_A, "b1", 2, 0.0, 1.0, (
        Measurement("s0", Latency((2e-3,))), Measurement("r0", Latency((3e-3,)), origin="random")))
    adapted_here = TuningLog(workload("aa"), CPU_A, "b1", 8, 0.0, 1.0, (
        Measurement("a0", Latency((1e-3,)), origin="neighbour"),))
    adapted_only = TuningLog(workload("bb"), CPU_A, "b1", 8, 0.0, 1.0, (
        Measurement("a1", Latency((1e-3,)), origin="neighbour"), Measurement("a2", None, "run error",
                                                                             origin="neighbour")))
    store = SQLiteScheduleStore(tmp_path / "s.db")
    assert seed_from_logs(store, [searched, adapted_here, adapted_only]) == (2, 4)
    by_source = {(r.workload_key, r.schedule): r.source for r in store.records()}
    assert by_source == {("aa", "s0"): "tuned", ("aa", "r0"): "tuned", ("aa", "a0"): "measured",
                         ("bb", "a1"): "measured"}
    assert store.top_k("aa", CPU_A, 1)[0].schedule == "s0"  # tuned first, as every look-up ranks
    assert store.top_k("bb", CPU_A, 1, source="tuned") == []
