"""The budgeted delivery's loop, with a fake compiler on a fake clock and a real SQLite store:
how the budget is spread and honoured, what is measured, what ends in the store.

The real TVM dialect's delivery is tested in ``test_predictor.py``."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lorien.dialects import CandidateOptions, Candidates, TuneOptions
from lorien.errors import InvalidInput
from lorien.lookup import find_schedule
from lorien.predictor import BudgetedPredictor, BudgetOptions, PredictOptions, Ranked
from lorien.predictor.budget import ranked_batch
from lorien.records import Latency, Measured, Target, Workload, WorkloadUse
from lorien.store.sqlite import SQLiteScheduleStore
from lorien.testing.factories import CPU_A, CPU_B, record, workload

ROUND_S = 1.0  # what measuring one candidate takes on the fake clock


@dataclass
class Clock:
    """A fake monotonic clock that, like a real one, has moved a little at every reading."""

    now: float = 0.0
    tick: float = 1e-6

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


@dataclass
class FakeDialect:
    """Measures on the fake clock. Ranked candidates ``KEY:i`` run ``base x (1 + i/10)``; every
    mutant of a schedule runs 0.9x its parent; ``no_mutants`` lists kernels without any. Other
    schedules (tuned elsewhere) run 0.95x the ranking's best."""

    clock: Clock
    base: dict[str, float]
    no_mutants: set[str] = field(default_factory=set)
    measured: list[tuple[str, list[str]]] = field(default_factory=list)
    name: str = "fake"
    #: the features of each seed's three mutants, in order (all alike when None)
    mutant_features: list[list[float]] | None = None
    #: schedules that do not compile within the build check's time; every check made
    slow_to_build: set[str] = field(default_factory=set)
    checked: list[tuple[str, list[str]]] = field(default_factory=list)

    def build_id(self) -> str:
        return "fake-1"

    def equivalent_keys(self, workload: Workload) -> tuple[str, ...]:
        return ()

    def latency(self, schedule: str, key: str) -> float:
        if ":" not in schedule:
            return 0.95 * self.base[key]
        key, rest = schedule.split(":", 1)
        rank, *mutations = rest.split("+")
        return self.base[key] * (1 + int(rank) / 10) * 0.9 ** len(mutations)

    def measure(self, workload: Workload, target: Target, schedules: Sequence[str],
                options: TuneOptions) -> list[Measured]:
        self.clock.now += ROUND_S * len(schedules)
        self.measured.append((workload.key, list(schedules)))
        return [Latency((self.latency(s, workload.key),)) for s in schedules]

    def check_builds(self, target: Target, batches: Sequence[tuple[Workload, Sequence[str]]],
                     timeout_s: float) -> list[list[str | None]]:
        self.checked.extend((workload.key, list(schedules)) for workload, schedules in batches)
        return [["build timed out" if s in self.slow_to_build else None for s in schedules]
                for _, schedules in batches]

    def candidates(self, workload: Workload, target: Target, seeds: Sequence[str], scorer: Any,
                   options: CandidateOptions) -> Candidates:
        assert options.samples == 0 and options.mutants > 0
        mutants = [] if workload.key in self.no_mutants else [
            f"{seed}+{options.seed}.{i}" for seed in seeds for i in range(3)]
        schedules = [*seeds, *mutants]
        features = np.zeros((len(schedules), 2))
        if self.mutant_features is not None and mutants:
            features[len(seeds):] = np.tile(self.mutant_features, (len(seeds), 1))
        return Candidates(schedules, features, ["neighbour"] * len(seeds) + ["mutant"] * len(mutants))


@dataclass
class FakeScorer:
    def for_workload(self, workload: Workload) -> Any:
        return lambda features: -np.arange(len(features), dtype=float)  # the first is best


@dataclass
class FakePredictor:
    """What :class:`BudgetedPredictor` asks of a predictor: ``count`` ranked candidates a kernel,
    estimated at ``estimates[key]``."""

    store: SQLiteScheduleStore
    dialect: FakeDialect
    estimates: dict[str, float]
    count: int = 8
    scorer: FakeScorer = field(default_factory=FakeScorer)
    options: PredictOptions = field(default_factory=PredictOptions)

    def measurer(self) -> FakeDialect:
        return self.dialect

    def rank(self, workload: Workload, target: Target) -> Ranked:
        schedules = [f"{workload.key}:{i}" for i in range(self.count)]
        return Ranked(schedules, -np.arange(self.count, dtype=float), ["space"] * self.count, [],
                      self.estimates[workload.key])


HEAVY, MIDDLE, LIGHT = (workload(f"00000000000000{k}") for k in ("a1", "a2", "a3"))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteScheduleStore]:
    with SQLiteScheduleStore(tmp_path / "s.db") as opened:
        yield opened


def delivery(store: SQLiteScheduleStore, options: BudgetOptions | None = None, count: int = 8,
             no_mutants: frozenset[str] = frozenset()) -> tuple[BudgetedPredictor, FakeDialect, Clock]:
    clock = Clock()
    dialect = FakeDialect(clock, {HEAVY.key: 3e-3, MIDDLE.key: 2e-3, LIGHT.key: 1e-3}, set(no_mutants))
    # costs (weight x estimate): HEAVY 6, MIDDLE 3, LIGHT 1
    predictor = FakePredictor(store, dialect, {HEAVY.key: 3e-3, MIDDLE.key: 1.5e-3, LIGHT.key: 1e-3},
                              count)
    budgeted = BudgetedPredictor(predictor, options or BudgetOptions(seed=1), clock=clock)  # type: ignore[arg-type]
    return budgeted, dialect, clock


USES = [WorkloadUse(LIGHT, 1), WorkloadUse(HEAVY, 1), WorkloadUse(MIDDLE, 2), WorkloadUse(HEAVY, 1)]


def test_the_budget_is_spread_by_cost_heaviest_first_and_honoured(store: SQLiteScheduleStore) -> None:
    budgeted, dialect, clock = delivery(store)
    report = budgeted.deliver(USES, CPU_A, 100.0)
    assert [k.workload.key for k in report.kernels] == [HEAVY.key, MIDDLE.key, LIGHT.key]
    assert [k.weight for k in report.kernels] == [2, 2, 1]  # repeated uses merged
    heavy, middle, light = report.kernels
    assert heavy.share_s == pytest.approx(60.0)  # 6 of the costs' 10
    assert heavy.share_s > middle.share_s > light.share_s > 0
    assert next(key for key, batch in dialect.measured if batch) == HEAVY.key  # measured first
    assert heavy.measured > middle.measured > light.measured > 0
    for kernel in report.kernels:
        assert kernel.spent_s <= kernel.share_s
    assert report.seconds == pytest.approx(clock.now) and report.seconds <= 100.0


def test_rounds_start_only_when_they_fit_so_a_small_budget_overruns_by_one_round_at_most(
        store: SQLiteScheduleStore) -> None:
    options = BudgetOptions(batch=4, first_round_s=1.0, seed=1)  # the first round is misestimated
    budgeted, dialect, _clock = delivery(store, options)
    report = budgeted.deliver(USES, CPU_A, 6.0)
    assert report.seconds <= 6.0 + 4 * ROUND_S
    assert sum(len(batch) for _, batch in dialect.measured) == 4  # then rounds were known to take 4 s


def test_a_budget_too_small_for_every_kernel_goes_to_the_heaviest(store: SQLiteScheduleStore) -> None:
    """Its part of 3 s (1.8 s) is less than a round (2 s): the heaviest kernel still gets the round,
    rather than passing the time on to lighter kernels."""
    budgeted, dialect, _ = delivery(store, BudgetOptions(batch=2, first_round_s=2.0, seed=1))
    report = budgeted.deliver(USES, CPU_A, 3.0)
    assert [key for key, batch in dialect.measured if batch] == [HEAVY.key]
    assert report.kernels[0].record.source == "measured" and report.seconds <= 3.0


def test_no_budget_gives_the_instant_answers_and_measures_nothing(store: SQLiteScheduleStore) -> None:
    budgeted, dialect, _ = delivery(store)
    report = budgeted.deliver(USES, CPU_A, 0.0)
    assert not dialect.measured
    assert {k.record.source for k in report.kernels} == {"predicted"}
    for kernel in report.kernels:  # stored, the cost model's first choice
        found = find_schedule(store, kernel.workload.key, CPU_A, "fake-1")
        assert found is not None and found.record.schedule == f"{kernel.workload.key}:0"


def test_an_instant_answer_that_does_not_compile_in_time_is_passed_over_and_never_measured(
        store: SQLiteScheduleStore) -> None:
    budgeted, dialect, _ = delivery(store)
    dialect.slow_to_build = {f"{HEAVY.key}:0"}
    report = budgeted.deliver(USES, CPU_A, 0.0)
    # each kernel's first as it is ranked (in the model's order), then the next of the one that failed
    assert dialect.checked == [(w.key, [f"{w.key}:{place}"]) for w, place in
                               ((LIGHT, 0), (HEAVY, 0), (MIDDLE, 0), (HEAVY, 1))]
    heavy = report.kernels[0]
    assert heavy.workload == HEAVY and heavy.record.schedule == f"{HEAVY.key}:1"
    found = find_schedule(store, HEAVY.key, CPU_A, "fake-1")
    assert found is not None and found.record.schedule == f"{HEAVY.key}:1"  # the one stored
    assert store.top_k(HEAVY.key, CPU_A, 5, source="predicted") == [heavy.record]
    budgeted, dialect, _ = delivery(store)
    dialect.slow_to_build = {f"{HEAVY.key}:0"}
    report = budgeted.deliver(USES, CPU_A, 100.0)
    measured = [s for key, batch in dialect.measured if key == HEAVY.key for s in batch]
    assert measured[0] == f"{HEAVY.key}:1" and f"{HEAVY.key}:0" not in measured  # left off the list


def test_measured_answers_replace_predicted_ones_and_the_local_search_improves_on_them(
        store: SQLiteScheduleStore) -> None:
    budgeted, dialect, _ = delivery(store)
    report = budgeted.deliver(USES, CPU_A, 100.0)
    heavy = report.kernels[0]
    assert heavy.record.source == "measured" and heavy.local_rounds > 0
    assert heavy.origin == "mutant" and "+" in heavy.record.schedule
    assert heavy.first_measured_s == pytest.approx(3e-3)  # the ranking's best
    assert heavy.record.latency.mean < 0.9 * 3e-3  # mutants of mutants
    found = find_schedule(store, HEAVY.key, CPU_A, "fake-1")
    assert found is not None and found.record == heavy.record
    assert store.top_k(HEAVY.key, CPU_A, 1, source="predicted")[0].schedule == f"{HEAVY.key}:0"
    measured = [s for key, batch in dialect.measured if key == HEAVY.key for s in batch]
    assert len(measured) == len(set(measured))  # nothing measured twice


@pytest.mark.parametrize("spread", [True, False])
def test_a_local_round_measures_unlike_mutants_rather_than_near_copies(store: SQLiteScheduleStore,
                                                                      spread: bool) -> None:
    """Each parent's first two mutants are near copies (the scorer ranks the first best): a round
    of two spreads over the first and the third, unless told not to."""
    options = BudgetOptions(batch=2, ranked_rounds=1, parents=1, seed=1, spread_mutants=spread)
    budgeted, dialect, _ = delivery(store, options)
    dialect.mutant_features = [[0.0, 0.0], [0.0, 0.001], [5.0, 5.0]]
    budgeted.deliver([WorkloadUse(HEAVY, 1)], CPU_A, 100.0)
    local = [batch for key, batch in dialect.measured if key == HEAVY.key and batch and "+" in batch[0]]
    assert local, "no local round"
    first_round = [schedule.rsplit(".", 1)[1] for schedule in local[0]]
    assert first_round == (["0", "2"] if spread else ["0", "1"])


def test_an_estimate_never_outranks_a_measurement(store: SQLiteScheduleStore) -> None:
    budgeted, dialect, _ = delivery(store)
    dialect.base[LIGHT.key] = 1.0  # measured far slower than its estimate (1 ms)
    budgeted.deliver([WorkloadUse(LIGHT, 1)], CPU_A, 10.0)
    found = find_schedule(store, LIGHT.key, CPU_A, "fake-1")
    assert found is not None and found.record.source == "measured" and found.record.latency.mean >= 1.0


def test_kernels_tuned_or_measured_on_this_target_cost_nothing(store: SQLiteScheduleStore) -> None:
    store.put_workloads([HEAVY, MIDDLE])
    store.commit([record(HEAVY.key, 5e-3, target=CPU_A, source="tuned"),
                  record(MIDDLE.key, 5e-3, target=CPU_B, source="tuned")])  # another CPU's: not settled
    budgeted, dialect, _ = delivery(store)
    report = budgeted.deliver(USES, CPU_A, 41.0)  # the light kernel's round fits in what is left
    kernels = {k.workload.key: k for k in report.kernels}
    assert kernels[HEAVY.key].settled == "tuned" and kernels[HEAVY.key].cost_s == 0
    assert kernels[HEAVY.key].share_s == 0 and kernels[HEAVY.key].record.source == "tuned"
    assert HEAVY.key not in {key for key, batch in dialect.measured if batch}
    middle = kernels[MIDDLE.key]  # its cost is what the other CPU measured: 2 x 5 ms against 1 x 1 ms
    assert middle.settled is None and middle.estimate_s == pytest.approx(5e-3)
    assert middle.share_s == pytest.approx(41 * 10 / 11)
    first = next(batch for key, batch in dialect.measured if key == MIDDLE.key)
    # the instant answer first (what a measured answer must beat), then the other CPU's schedule
    assert first[:2] == [f"{MIDDLE.key}:0", "sched-0.005"]
    again = budgeted.deliver(USES, CPU_A, 41.0)  # now measured: nothing left to spend on
    assert all(k.settled for k in again.kernels) and again.seconds < 1


def test_a_share_a_kernel_cannot_use_goes_to_the_kernels_after_it(store: SQLiteScheduleStore) -> None:
    budgeted, _, _ = delivery(store, count=4, no_mutants=frozenset({HEAVY.key}))
    report = budgeted.deliver(USES, CPU_A, 100.0)
    heavy, middle, light = report.kernels
    assert heavy.measured == 4 and heavy.spent_s == pytest.approx(4.0, abs=1e-3)  # out of candidates
    assert middle.share_s == pytest.approx(96.0 * 3 / 4, abs=1e-3)  # the rest, spread over the rest
    assert light.share_s > 10.0


@pytest.mark.parametrize("budget", [-1.0, float("nan"), float("inf")])
def test_a_budget_that_is_not_a_number_of_seconds_is_refused(store: SQLiteScheduleStore,
                                                              budget: float) -> None:
    budgeted, dialect, _ = delivery(store)
    with pytest.raises(InvalidInput, match="budget"):
        budgeted.deliver(USES, CPU_A, budget)
    assert not dialect.measured and store.top_k(HEAVY.key, CPU_A, 1, source="predicted") == []


@pytest.mark.parametrize("field_name", ["batch", "parents"])
def test_budget_options_are_checked(field_name: str) -> None:
    with pytest.raises(InvalidInput, match=field_name):
        BudgetOptions(**{field_name: 0})


def test_ranked_rounds_share_places_between_neighbours_and_model_picks_as_each_proves_itself() -> None:
    schedules = ["first", "elsewhere", "n1", "n2", "n3", "n4", "s1", "s2", "s3", "s4"]
    origins = ["neighbour", "elsewhere"] + ["neighbour"] * 4 + ["space"] * 4
    scores = np.array([np.inf, np.inf, 8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
    ranked = Ranked(schedules, scores, origins, [], 1e-3)
    # what a caller put first comes first; then the two sources alternate
    assert ranked_batch(ranked, {}, 4) == ["first", "elsewhere", "n1", "s1"]
    tried: dict[str, Latency | None] = {s: Latency((1.0,)) for s in ("first", "elsewhere")}
    assert ranked_batch(ranked, tried, 4) == ["s1", "n1", "s2", "n2"]  # the model's picks not measured yet
    # once both have measurements, the faster source gets every place but one
    samples_won = {**tried, "n1": Latency((2.0,)), "s1": Latency((0.5,)), "s2": None}
    assert ranked_batch(ranked, samples_won, 4) == ["s3", "s4", "n2", "n3"]
    neighbours_won = {**tried, "n1": Latency((0.5,)), "s1": Latency((2.0,))}
    assert ranked_batch(ranked, neighbours_won, 4) == ["n2", "n3", "n4", "s2"]
    # a source that runs out leaves its places to the other
    spent = {**neighbours_won, "n2": None, "n3": None, "n4": None}
    assert ranked_batch(ranked, spent, 4) == ["s2", "s3", "s4"]
