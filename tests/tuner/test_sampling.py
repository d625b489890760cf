"""A tuning job as the data set needs it: search, random and neighbour samples, suspects measured
again."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pytest

from lorien.dialects import Measurer, OutputCheck, OutputChecker, Proposer, TuneOptions, TuneOutcome, Tuner
from lorien.errors import InvalidInput
from lorien.machine import host_machine
from lorien.records import Latency, Measured, MeasureFailure, ScheduleRecord, Target, Workload
from lorien.testing.factories import CPU_A, record, workload
from lorien.tuner.sampling import (
    MAX_CHECKED_FLOPS,
    OUTLIER_SPREAD,
    measure_random_samples,
    remeasure,
    run_tuning,
    suspects,
)
from lorien.tuning_log import Measurement, TuningLog, relative_scores


@dataclass
class Candidates:
    schedules: list[str]
    origins: list[str]


@dataclass
class ScriptedDialect(Tuner, Measurer, Proposer):
    """Searches to fixed latencies, samples ``r0..rN``, and measures each schedule again at the
    latency ``again`` gives it (None: fails). Records every measure call."""

    search: dict[str, tuple[float, ...]]
    again: dict[str, float | None] = field(default_factory=dict)
    sample_runs: tuple[float, ...] = (3e-3, 3e-3)
    measured: list[list[str]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    name: ClassVar[str] = "fake"

    def parse_target(self, text: str) -> Target:
        return CPU_A

    def build_id(self) -> str:
        return "b1"

    def schedule_features(self, w: Workload, target: Target, schedules: Sequence[str]) -> Any:
        return np.zeros((len(schedules), 1)), np.ones(len(schedules), dtype=bool)

    def tune(self, w: Workload, target: Target, options: TuneOptions,
             on_trial: Callable[[int, int], None] | None = None) -> TuneOutcome:
        measurements = tuple(Measurement(s, Latency(runs)) for s, runs in self.search.items())
        log = TuningLog(w, target, "b1", options.trials, 0.0, 1.0, measurements, search="cold")
        best = min(measurements, key=lambda m: m.latency.min if m.latency else 1.0)
        rec = dataclasses.replace(record(schedule=best.schedule), latency=best.latency)
        return TuneOutcome(records=(rec,), log=log, seconds=1.0)

    def candidates(self, w: Workload, target: Target,  # type: ignore[override]
                   seeds: Sequence[str], scorer: object, options: object) -> Candidates:
        """Samples ``r0..``; each seed not named ``bad...`` adapts as ``a:<seed>``, the first
        ``seeds_kept``."""
        count, kept = options.samples, options.seeds_kept  # type: ignore[attr-defined]
        adapted = [f"a:{seed}" for seed in seeds if not seed.startswith("bad")][:kept]
        return Candidates(adapted + [f"r{i}" for i in range(count)],
                          ["neighbour"] * len(adapted) + ["space"] * count)

    def measure(self, w: Workload, target: Target, schedules: Sequence[str],
                options: TuneOptions) -> list[Measured]:
        self.measured.append(list(schedules))
        out: list[Measured] = []
        for s in schedules:
            if s.startswith("r") and s not in self.seen:  # a sample's first measurement
                out.append(Latency(self.sample_runs))
            else:
                value = self.again.get(s, 1e-3)
                out.append(MeasureFailure("run failed") if value is None else Latency((value, value)))
            self.seen.add(s)
        return out


def test_a_random_sample_that_fails_is_logged_with_its_reason() -> None:
    """Measuring gives failures as values: the data set's logs say why a sample has no time."""

    class FailingSamples(ScriptedDialect):
        def measure(self, w: Workload, target: Target, schedules: Sequence[str],
                    options: TuneOptions) -> list[Measured]:
            return [MeasureFailure("build failed: no intrinsic") if s == "r1" else Latency((1e-3,))
                    for s in schedules]

    failing = FailingSamples(search={})
    log = measure_random_samples(failing, failing, workload(), CPU_A, 3, TuneOptions())
    assert [(m.schedule, m.error) for m in log.measurements] == [
        ("r0", None), ("r1", "build failed: no intrinsic"), ("r2", None)]
    assert all(m.origin == "random" for m in log.measurements)


def test_suspects_are_the_fastest_and_the_disturbed() -> None:
    spread = OUTLIER_SPREAD + 0.1
    log = TuningLog(workload(), CPU_A, "b1", 4, 0.0, 1.0, (
        Measurement("slow", Latency((9e-3, 9e-3))),
        Measurement("fast", Latency((1e-3, 1e-3))),
        Measurement("disturbed", Latency((5e-3, 5e-3 * spread))),
        Measurement("failed", None, "timeout"),
        Measurement("second", Latency((2e-3, 2e-3))),
    ))
    assert suspects(log, 2) == [1, 2, 4]
    assert suspects(log, 0) == [2]


def test_remeasured_runs_join_the_old_ones_and_a_failed_retry_changes_nothing() -> None:
    dialect = ScriptedDialect(search={}, again={"a": 1.5e-3, "b": None})
    log = TuningLog(workload(), CPU_A, "b1", 2, 0.0, 1.0, (
        Measurement("a", Latency((2e-3, 4e-3))), Measurement("b", Latency((3e-3,)))))
    again = remeasure(dialect, log, [0, 1], TuneOptions())
    assert again.measurements[0].latency == Latency((2e-3, 4e-3, 1.5e-3, 1.5e-3))
    assert again.measurements[1] == log.measurements[1]
    # the label is the minimum of every run: the disturbed first measurement no longer counts
    assert relative_scores(again.measurements) == pytest.approx([1.0, 0.5])


def test_a_job_searches_remeasures_and_samples_recording_this_machine() -> None:
    dialect = ScriptedDialect(search={"s0": (1e-3, 1e-3), "s1": (2e-3, 2e-3), "s2": (4e-3, 9e-3)},
                              again={"s0": 0.9e-3, "s2": 4e-3}, sample_runs=(3e-3, 6e-3))
    progress: list[tuple[int, int]] = []
    outcome = run_tuning(dialect, workload(), CPU_A,
                         TuneOptions(trials=3, random_samples=2, remeasure=1),
                         lambda done, total: progress.append((done, total)))
    # the search's fastest (s0) and its disturbed s2 again; then both samples, both disturbed
    assert dialect.measured == [["s0", "s2"], ["r0", "r1"], ["r0", "r1"]]
    assert outcome.log.measurements[0].latency == Latency((1e-3, 1e-3, 0.9e-3, 0.9e-3))
    assert outcome.records[0].latency == outcome.log.measurements[0].latency  # relabelled too
    assert outcome.samples is not None
    assert [m.origin for m in outcome.samples.measurements] == ["random", "random"]
    assert outcome.samples.measurements[0].latency == Latency((3e-3, 6e-3, 1e-3, 1e-3))
    assert outcome.log.machine == outcome.samples.machine == host_machine()
    assert progress[-1] == (5, 5)


def test_samples_alone_make_no_record() -> None:
    dialect = ScriptedDialect(search={})
    outcome = run_tuning(dialect, workload(), CPU_A,
                         TuneOptions(trials=0, random_samples=3))
    assert outcome.records == () and outcome.samples is None
    assert [m.schedule for m in outcome.log.measurements] == ["r0", "r1", "r2"]
    assert dialect.measured == [["r0", "r1", "r2"]]  # nothing measured again without --remeasure


@pytest.mark.parametrize("trials, samples, again, adapted", [
    (0, 0, 0, 0), (-1, 4, 0, 0), (4, -1, 0, 0), (4, 0, -2, 0), (4, 0, 0, -1), (-1, 0, 0, 2)])
def test_a_budget_that_measures_nothing_is_refused(trials: int, samples: int, again: int,
                                                   adapted: int) -> None:
    with pytest.raises(InvalidInput):
        TuneOptions(trials=trials, random_samples=samples, remeasure=again, neighbour_samples=adapted)


def test_without_re_measurements_a_search_is_left_as_it_ran() -> None:
    dialect = ScriptedDialect(search={"s0": (1e-3, 1e-3), "disturbed": (2e-3, 9e-3)})
    outcome = run_tuning(dialect, workload(), CPU_A, TuneOptions(trials=2))
    assert dialect.measured == [] and outcome.samples is None
    assert outcome.log.measurements[1].latency == Latency((2e-3, 9e-3))


def test_neighbour_samples_are_the_adapted_seeds_measured_and_logged_apart() -> None:
    dialect = ScriptedDialect(search={"s0": (1e-3, 1e-3)},
                              again={"a:n1": 2e-3, "a:n2": 5e-3, "a:n3": 1e-3})
    outcome = run_tuning(dialect, workload(), CPU_A,
                         TuneOptions(trials=1, random_samples=1, neighbour_samples=2),
                         neighbours=["bad0", "n1", "n2", "n3"])
    assert outcome.neighbours is not None and outcome.samples is not None
    assert [(m.schedule, m.origin) for m in outcome.neighbours.measurements] == [
        ("a:n1", "neighbour"), ("a:n2", "neighbour")]  # the two that fit best, as an instant answer
    assert outcome.neighbours.trials == 2 and outcome.neighbours.machine == host_machine()
    assert outcome.side_logs == [outcome.samples, outcome.neighbours]
    assert outcome.records[0].schedule == "s0"  # another kernel's schedule is never a tuned record here


def test_neighbour_samples_alone_are_the_log_even_when_none_adapts() -> None:
    dialect = ScriptedDialect(search={})
    only = TuneOptions(trials=0, neighbour_samples=3)
    alone = run_tuning(dialect, workload(), CPU_A, only, neighbours=["n1"])
    assert alone.records == () and alone.neighbours is None and alone.samples is None
    assert [m.origin for m in alone.log.measurements] == ["neighbour"] and alone.log.trials == 3
    # none adapts: an empty log that says the kernel was tried (it names no search start)
    tried = run_tuning(dialect, workload(), CPU_A, only, neighbours=["bad"])
    assert tried.log.measurements == () and tried.log.search is None and tried.log.trials == 3
    dialect = ScriptedDialect(search={"s0": (1e-3, 1e-3)})
    searched = run_tuning(dialect, workload(), CPU_A, TuneOptions(trials=1, neighbour_samples=3))
    assert searched.neighbours is not None and searched.neighbours.measurements == ()
    assert searched.log.search == "cold"


@dataclass
class CheckingDialect(ScriptedDialect, OutputChecker):
    """A scripted dialect that also checks outputs: the schedules in ``wrong`` compute the wrong
    thing."""

    wrong: set[str] = field(default_factory=set)
    checked: list[list[str]] = field(default_factory=list)

    def check_outputs(self, w: Workload, records: Sequence[ScheduleRecord],
                      every: bool = False) -> list[OutputCheck]:
        self.checked.append([r.schedule for r in records])
        return [OutputCheck("wrong", "output 0 differs") if r.schedule in self.wrong else OutputCheck("right")
                for r in records]


def test_a_searched_record_that_computes_wrong_is_dropped_and_failed_in_the_log() -> None:
    dialect = CheckingDialect(search={"s0": (1e-3, 1e-3), "s1": (2e-3, 2e-3)}, wrong={"s0"})
    outcome = run_tuning(dialect, workload(), CPU_A, TuneOptions(trials=2))
    assert dialect.checked == [["s0"]]  # the search's record, checked
    assert outcome.records == ()
    [s0, s1] = outcome.log.measurements
    assert (s0.latency, s0.error) == (None, "wrong output: output 0 differs")
    assert s1.latency == Latency((2e-3, 2e-3))
    right = CheckingDialect(search={"s0": (1e-3, 1e-3)})
    assert run_tuning(right, workload(), CPU_A, TuneOptions(trials=1)).records[0].schedule == "s0"
    huge = dataclasses.replace(workload(), flops=MAX_CHECKED_FLOPS * 2)  # its reference would take minutes
    unchecked = CheckingDialect(search={"s0": (1e-3, 1e-3)}, wrong={"s0"})
    assert run_tuning(unchecked, huge, CPU_A, TuneOptions(trials=1)).records[0].schedule == "s0"
    assert unchecked.checked == []
