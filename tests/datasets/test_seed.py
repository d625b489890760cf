"""Seeding a store from tuning logs: which records a fresh service starts with."""

from __future__ import annotations

from pathlib import Path

import pytest

from lorien.datasets.seed import seed_from_logs
from lorien.records import Latency, Workload
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


def test_seeding_commits_only_what_the_store_keeps_and_stores_the_same(tmp_path: Path) -> None:
    """Each group's ``keep`` fastest distinct schedules are committed, the rest never reach the
    store; what is stored is what committing every measurement stores (ties in the store's order,
    a schedule measured twice at its faster measurement)."""
    from lorien.records import ScheduleRecord, best_per_group

    seconds = [5e-3, 1e-3, 4e-3, 1e-3, 2e-3, 3e-3, 2e-3]
    logs = [TuningLog(workload(key), CPU_A, "b1", 8, 0.0, 1.0, tuple(
        Measurement(f"s{i % 5}", Latency((s,))) for i, s in enumerate(seconds))) for key in ("aa", "bb")]
    seeded = SQLiteScheduleStore(tmp_path / "a.db", keep=3)
    everything = SQLiteScheduleStore(tmp_path / "b.db", keep=3)
    assert seed_from_logs(seeded, logs) == (2, 6)
    everything.commit([ScheduleRecord(dialect=log.workload.dialect, workload_key=log.workload.key,
                                      target=log.target, build=log.build, schedule=m.schedule,
                                      latency=m.latency, created_at=log.finished_at)  # type: ignore[arg-type]
                       for log in logs for m in log.measurements])
    assert sorted(seeded.records(), key=lambda r: r.record_id) == sorted(
        everything.records(), key=lambda r: r.record_id)
    assert [r.schedule for r in seeded.top_k("aa", CPU_A, 3)] == ["s1", "s3", "s4"]
    records = list(everything.records())
    assert best_per_group(records * 2, 1) == [min(group, key=lambda r: (r.latency.mean, r.record_id))
                                              for group in ([r for r in records if r.workload_key == k]
                                                            for k in ("aa", "bb"))]


@pytest.fixture(scope="module")
def shipped_logs() -> list[TuningLog]:
    """The shipped data set's logs, read once for this module's checks of them."""
    from lorien.datasets.seed import tuning_logs_dir
    from lorien.logstore import LocalLogStore, read_logs

    return read_logs(LocalLogStore(tuning_logs_dir()))[0]


def test_every_shipped_schedule_from_another_structure_computes_what_its_kernel_does(
        shipped_logs: list[TuningLog]) -> None:
    """An adapted neighbour whose sampling instructions match none of its kernel's design spaces
    was replayed onto the kernel as the other kernel's trace (a 1x1 convolution's on a 3x3 one).
    Before such replays dropped their own layout rewrite, 30 of the 39 the data set held computed
    wrong outputs, and their 31 measurements were taken out; each one left is checked on its
    kernel, the unscheduled kernel as the reference. Search and random samples come from the
    kernel's own design space."""
    from lorien.dialects.tvm.candidates import design_space_kinds, sampling_kinds
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch

    logs = shipped_logs
    drawn: dict[tuple[str, str], set[tuple[str, ...]]] = {}  # signatures a search or sample shows
    for log in logs:
        group = (log.workload.key, log.target.canonical)
        drawn.setdefault(group, set()).update(
            sampling_kinds(m.schedule) for m in log.succeeded if m.origin != "neighbour")
    spaces: dict[tuple[str, str], set[tuple[str, ...]]] = {}
    foreign = []
    for log in logs:
        group = (log.workload.key, log.target.canonical)
        for measured in log.succeeded:
            kinds = sampling_kinds(measured.schedule)
            if measured.origin != "neighbour" or kinds in drawn[group]:
                continue
            if group not in spaces:  # only where the logs do not tell
                spaces[group] = design_space_kinds(log.workload, log.target)
            if kinds not in spaces[group]:
                foreign.append((log.workload, measured.schedule))
    assert foreign  # the data set holds such replays: the check below is not empty
    problems = [f"{workload.name}: {problem}" for workload, schedule in foreign
                if (problem := kernel_output_mismatch(workload, schedule)) is not None]
    assert problems == []


def test_every_shipped_split_kernel_s_fastest_search_pick_computes_what_its_kernel_does(
        shipped_logs: list[TuningLog]) -> None:
    """TVM 0.27's design space for MixNet's fused kernels that concatenate, normalise and split
    again (``fused_concatenate_..._split``) gave code that computes wrong outputs, every sample
    and MetaSchedule's own search picks alike: its layout rewrite folded the normalisation's
    parameters onto one half of the split (:mod:`lorien.dialects.tvm.layout_rewrite`). Those 7
    kernels' logs were taken out and searched again with the guarded rewrite. Every kernel that
    splits its result, or concatenates, has its fastest search pick checked against the kernel
    unscheduled."""
    from lorien.datasets.campaign import search_logs
    from lorien.dialects.tvm.kernel_check import kernel_output_mismatch

    fastest: dict[str, tuple[float, Workload, str]] = {}
    for log in search_logs(shipped_logs):
        if "split" not in log.workload.name and "concatenate" not in log.workload.name:
            continue
        for measured in log.succeeded:
            seconds = measured.latency.mean  # type: ignore[union-attr]
            if log.workload.key not in fastest or seconds < fastest[log.workload.key][0]:
                fastest[log.workload.key] = (seconds, log.workload, measured.schedule)
    assert len(fastest) >= 44
    problems = [f"{workload.name}: {problem}" for _, workload, schedule in fastest.values()
                if (problem := kernel_output_mismatch(workload, schedule)) is not None]
    assert problems == []
