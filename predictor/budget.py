"""Budgeted delivery: the best schedules for a whole model that a time budget buys.

Every kernel first gets the instant answer: the cost model's choice, a ``predicted`` record,
checked to compile in time as the predictor's unmeasured answers are
(:attr:`~lorien.predictor.PredictOptions.build_check`, within the measurements' build limit
:attr:`BudgetOptions.build_timeout_s`: a kernel the budget never reaches keeps it). The rest of
the budget is spread over the kernels by what each costs the model, its weight times its
estimated latency (kernels already tuned or measured on this very target cost nothing), and spent
heaviest first; a kernel whose part is smaller than a round gets a round while one fits, so a
budget too small for every kernel goes to the heaviest. Within a kernel's share, a round at a time:

1. measure the instant answer, the schedules tuned for the kernel on other targets of its kind
   (another x86 CPU), then the next best candidates, ``batch`` at a time, for ``ranked_rounds``
   rounds, shared between adapted neighbours and the cost model's other picks as each source
   proves itself (:func:`ranked_batch`; the instant answer is measured first, so the
   ``measured`` answer that replaces it never measures slower than it);
2. then search locally around the fastest measured: mutants of the ``parents`` best (one
   sampling decision changed each: a tile size, the unrolling, the parallel extent), ranked by the
   cost model, the best unmeasured ones measured, spread over unlike mutants (``spread_mutants``).

The fastest schedule measured so far is committed as a ``measured`` record as soon as it is found,
so the answer improves while the budget runs and whatever is in the store when it ends is the best
found. A share a kernel cannot use (it ran out of candidates) goes to the kernels after it. A
round starts only when the time it is expected to take (the median of the rounds so far) fits in
the kernel's share, so the whole delivery overruns the budget by at most one round's misestimate.
The measuring processes start while the instant answers are ranked. The instant answers are
always given, even when they alone take longer than the budget.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lorien.dialects import CandidateOptions, RPCEndpoint, TuneOptions
from lorien.errors import InvalidInput
from lorien.lookup import find_schedule
from lorien.predictor.predictor import (
    CANDIDATE_BUILD_TIMEOUT_S,
    CompileCheck,
    Ranked,
    ZeroShotPredictor,
    measure_options,
)
from lorien.records import Latency, ScheduleRecord, Target, Workload, WorkloadUse
from lorien.spread import spread_order


@dataclass(frozen=True)
class BudgetOptions:
    """How a kernel's share of the budget is spent.

    Attributes:
        batch: candidates measured per round.
        ranked_rounds: rounds taken from the cost model's ranking before the local search.
        parents: the best measured schedules whose mutants the local search proposes.
        mutants: mutation tries per local round (the valid, unmeasured ones are ranked).
        spread_mutants: measure each local round's ``batch`` spread over unlike mutants
            (:func:`lorien.spread.spread_order`) rather than the cost model's first ``batch``:
            mutants of one parent are near copies, whose scores share the model's errors. Two
            local rounds a kernel (``benchmarks/spread_picks.py --local-rounds 2``), in the
            rounds whose picks differed: on held-out Xception the spread four found the faster
            schedule in 8 and 5 of 49 and 43 rounds (two runs), the first four in 1 and 3; on
            MobileNetV2 in 7 of 49 against 1.
        build_timeout_s: how long compiling one candidate may take (on this machine); as
            :attr:`PredictOptions.build_timeout_s`, so that both measure with the same kept
            processes. A round waits for its slowest build. The instant answers' build check
            takes it too (in place of :attr:`PredictOptions.build_check_timeout_s`), so the
            check compiles on the measurements' builder processes: with a pool of its own, a
            cold delivery of two small kernels spent 15.5 s on its instant answers, starting
            both pools on two cores, where a warm one spends 1 s.
        run_timeout_s: how long running one candidate may take (on the target's device).
        first_round_s: the time a round is assumed to take before one has been timed.
        seed: random seed of the mutations; None for a random one.
        max_measured: candidates measured per kernel at most (None: as many as its share buys);
            a measuring job's size.
        rpc: measure on the devices of this RPC tracker instead of this machine.
    """

    batch: int = 4
    ranked_rounds: int = 2
    parents: int = 2
    mutants: int = 64
    spread_mutants: bool = True
    build_timeout_s: float = CANDIDATE_BUILD_TIMEOUT_S
    run_timeout_s: float = 30.0
    first_round_s: float = 3.0
    seed: int | None = None
    max_measured: int | None = None
    rpc: RPCEndpoint | None = None

    def __post_init__(self) -> None:
        if self.max_measured is not None and self.max_measured < 1:
            raise InvalidInput(f"max_measured must be at least 1, got {self.max_measured}")
        for name in ("batch", "parents"):
            if getattr(self, name) < 1:
                raise InvalidInput(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("ranked_rounds", "mutants"):
            if getattr(self, name) < 0:
                raise InvalidInput(f"{name} must not be negative, got {getattr(self, name)}")


@dataclass
class KernelDelivery:
    """One kernel of a budgeted delivery: what it was given and what it got.

    Attributes:
        workload: the kernel.
        weight: how many times the model runs it.
        settled: the tier it already had on this target (``tuned`` or ``measured``), in which case
            nothing was spent on it; None when it started from the instant answer.
        estimate_s: its latency as far as is known (0 when settled): tuned on another target of
            its kind, else estimated from similar workloads.
        record: the answer it ends with.
        origin: where that answer's schedule came from (``neighbour``, ``space``, ``mutant``,
            ``elsewhere``: tuned on another target of its kind, ``store``: settled).
        share_s: the seconds of the budget it was given.
        spent_s: the seconds it used.
        measured: candidates measured (failed ones included).
        timed: candidates measured that built, ran and were timed.
        local_rounds: rounds of local search among its rounds.
        first_measured_s: the fastest latency of its first round, to see what the rest gained.
    """

    workload: Workload
    weight: int
    settled: str | None
    estimate_s: float
    record: ScheduleRecord
    origin: str
    share_s: float = 0.0
    spent_s: float = 0.0
    measured: int = 0
    timed: int = 0
    local_rounds: int = 0
    first_measured_s: float | None = None
    ranked: Ranked | None = field(default=None, repr=False)

    @property
    def cost_s(self) -> float:
        """What the kernel costs a run of the model as far as is known: weight x estimate; nothing
        once it is tuned or measured."""
        return 0.0 if self.settled else self.weight * self.estimate_s


@dataclass(frozen=True)
class BudgetReport:
    """What a budgeted delivery did, kernel by kernel (heaviest first).

    Attributes:
        kernels: every distinct kernel of the model.
        budget_s: the budget asked for.
        instant_s: the time the instant answers took, all kernels together.
        seconds: the whole delivery's time.
    """

    kernels: list[KernelDelivery]
    budget_s: float
    instant_s: float
    seconds: float


class BudgetedPredictor:
    """Delivers a model's schedules within a time budget: instant answers first, then measuring
    and local search spent where the model's time goes (see the module's description).

    Thread safety: as the wrapped :class:`ZeroShotPredictor`; :meth:`deliver` keeps its state in
    the call. Measuring uses the dialect's kept measurers, which measure one batch at a time.

    Raises:
        InvalidInput: the predictor's dialect cannot measure given schedules
            (:class:`~lorien.dialects.Measurer`).
    """

    def __init__(self, predictor: ZeroShotPredictor, options: BudgetOptions | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.measurer = predictor.measurer()
        self.predictor = predictor
        self.options = options or BudgetOptions()
        self.clock = clock

    def deliver(self, uses: Sequence[WorkloadUse], target: Target, budget_s: float, *,
                commit: bool = True, should_stop: Callable[[], bool] | None = None) -> BudgetReport:
        """The best schedules ``budget_s`` seconds buy for the model whose kernels are ``uses``.

        Args:
            commit: store the workloads and every answer as it is found (the instant answer as a
                ``predicted`` record, improvements as ``measured`` ones).
            should_stop: asked before every round; True ends the delivery there (what was found
                is kept).

        Raises:
            InvalidInput: a negative or not finite budget, or a workload of another dialect.
            TuningError: the dialect proposed no usable candidate for a kernel.
        """
        if not (np.isfinite(budget_s) and budget_s >= 0):
            raise InvalidInput(f"the budget must be a finite number of seconds, not negative, got {budget_s}")
        started = self.clock()
        deadline = started + budget_s
        if uses and budget_s > 0:  # measuring nothing starts the measuring processes meanwhile
            self.measurer.measure(uses[0].workload, target, [], self._measure_options())
        kernels = self._instant_answers(uses, target, commit)
        instant_s = self.clock() - started
        pending = sorted((k for k in kernels if k.settled is None), key=lambda k: -k.cost_s)
        rounds: list[float] = []
        for position, kernel in enumerate(pending):
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            left = pending[position:]
            total_s = sum(k.cost_s for k in left)
            proportional = remaining * (kernel.cost_s / total_s if total_s > 0 else 1 / len(left))
            # at least a round while one fits: a budget too small for every kernel goes to the
            # heaviest, not to the light ones that its unusable shares would pass on to
            round_s = float(np.median(rounds)) if rounds else self.options.first_round_s
            kernel.share_s = min(remaining, max(proportional, round_s))
            self._improve(kernel, target, self.clock() + kernel.share_s, rounds, commit,
                          should_stop or (lambda: False))
        kernels.sort(key=lambda k: -k.cost_s)
        return BudgetReport(kernels=kernels, budget_s=budget_s, instant_s=instant_s,
                            seconds=self.clock() - started)

    def _instant_answers(self, uses: Sequence[WorkloadUse], target: Target,
                         commit: bool) -> list[KernelDelivery]:
        """Every kernel's answer before any measuring (:meth:`_instant`), each checked to compile
        as the predictor's unmeasured answers are (:attr:`PredictOptions.build_check`: a kernel's
        first candidate compiles while the next kernel is ranked, and one that does not compile
        in time is passed over for the next on its list, and left off the list); committed as
        ``predicted`` records when ``commit``."""
        # checked within the measurements' build limit, on their builder processes (started
        # meanwhile by :meth:`deliver`): a second set of processes would start on the same cores
        options = dataclasses.replace(self.predictor.options,
                                      build_check_timeout_s=self.options.build_timeout_s)
        kernels: list[KernelDelivery] = []
        checked: list[tuple[KernelDelivery, Ranked]] = []
        with CompileCheck(self.measurer, target, options) as check:
            for workload, weight in _merged(uses):
                kernel = self._instant(workload, weight, target)
                kernels.append(kernel)
                if kernel.ranked is not None and options.build_check > 0:
                    check.add(workload, kernel.ranked)
                    checked.append((kernel, kernel.ranked))
            places = check.places()
        dialect = self.predictor.dialect
        for (kernel, ranked), place in zip(checked, places, strict=True):
            if place:
                kernel.record = ranked.record(kernel.workload, target, dialect, place)
                kernel.origin = ranked.origins[place]
                kernel.ranked = ranked.after(place)
        given = [kernel for kernel in kernels if kernel.settled is None]
        if commit and given:
            self.predictor.store.put_workloads([kernel.workload for kernel in given])
            self.predictor.store.commit([kernel.record for kernel in given])
        return kernels

    def _instant(self, workload: Workload, weight: int, target: Target) -> KernelDelivery:
        """The kernel's answer before any measuring: what this target already has (settled), else
        the cost model's first choice (its ``ranked`` list to measure: that choice first, then
        the schedules tuned for the same workload on other targets of its kind, then the rest)."""
        predictor = self.predictor
        dialect, store = predictor.dialect, predictor.store
        found = find_schedule(store, workload.key, target, dialect.build_id(),
                              dialect.equivalent_keys(workload))
        if found is not None and found.match == "exact" and found.record.source in ("tuned", "measured"):
            return KernelDelivery(workload, weight, settled=found.record.source, estimate_s=0.0,
                                  record=found.record, origin="store")
        ranked = predictor.rank(workload, target)
        record = ranked.record(workload, target, dialect, 0)
        elsewhere = [r for r in store.top_k(workload.key, target, self.options.batch, match="loose",
                                            source="tuned") if r.target != target]
        estimate_s = min((r.latency.mean for r in elsewhere), default=ranked.estimate_s)
        # the instant answer is measured in the first round, before the other CPUs' schedules: a
        # measured answer replaces it in the store only by measuring at least as fast
        to_measure = ranked.led_by([r.schedule for r in elsewhere], "elsewhere").led_by(
            [ranked.schedules[0]], ranked.origins[0])
        return KernelDelivery(workload, weight, settled=None, estimate_s=estimate_s, record=record,
                              origin=ranked.origins[0], ranked=to_measure)

    def _measure_options(self) -> TuneOptions:
        return measure_options(self.options.build_timeout_s, self.options.run_timeout_s, self.options.rpc)

    def _improve(self, kernel: KernelDelivery, target: Target, deadline: float, rounds: list[float],
                 commit: bool, should_stop: Callable[[], bool]) -> None:
        """Spend the kernel's share, round by round, while the next round is expected to fit (and
        ``max_measured`` is not reached, and ``should_stop`` says go on)."""
        options, dialect, ranked = self.options, self.predictor.dialect, kernel.ranked
        assert ranked is not None
        began = self.clock()
        tried: dict[str, Latency | None] = {}
        origins: dict[str, str] = dict(zip(ranked.schedules, ranked.origins, strict=True))
        best: tuple[float, str] | None = None
        cap = options.max_measured
        while (self._round_fits(kernel, deadline, rounds) and (cap is None or kernel.measured < cap)
               and not should_stop()):
            round_started = self.clock()
            size = options.batch if cap is None else min(options.batch, cap - kernel.measured)
            from_ranking = kernel.measured < options.ranked_rounds * options.batch
            batch = ranked_batch(ranked, tried, size) if from_ranking else []
            if not batch:
                batch = self._local_batch(kernel, target, tried, origins, len(rounds))[:size]
                if not batch:
                    break
                kernel.local_rounds += 1
            latencies = self.measurer.measure(kernel.workload, target, batch, self._measure_options())
            kernel.measured += len(batch)
            measured = [m if isinstance(m, Latency) else None for m in latencies]  # failures: not timed
            tried.update(zip(batch, measured, strict=True))
            timed = [(latency.mean, schedule) for schedule, latency in zip(batch, measured, strict=True)
                     if latency is not None]
            kernel.timed += len(timed)
            if timed and kernel.first_measured_s is None:
                kernel.first_measured_s = min(timed)[0]
            if timed and (best is None or min(timed)[0] < best[0]):
                best = min(timed)
                kernel.origin = origins[best[1]]
                latency = tried[best[1]]
                assert latency is not None  # ``timed`` holds measured schedules only
                kernel.record = ScheduleRecord(
                    dialect=dialect.name, workload_key=kernel.workload.key, target=target,
                    build=dialect.build_id(), schedule=best[1], latency=latency, source="measured")
                if commit:
                    self.predictor.store.commit([kernel.record])
            rounds.append(self.clock() - round_started)
        kernel.spent_s = self.clock() - began

    def _round_fits(self, kernel: KernelDelivery, deadline: float, rounds: list[float]) -> bool:
        """Whether the next round is expected to end by ``deadline``; a kernel's first round also
        when its share was sized to hold one (the clock has moved since the share was given)."""
        expected = float(np.median(rounds)) if rounds else self.options.first_round_s
        return self.clock() + expected <= deadline or (kernel.measured == 0 and kernel.share_s >= expected)

    def _local_batch(self, kernel: KernelDelivery, target: Target, tried: dict[str, Latency | None],
                     origins: dict[str, str], round_number: int) -> list[str]:
        """The cost model's best unmeasured mutants of the fastest measured schedules; empty when
        nothing was measured yet, or when no new mutant turned up even with twice and four times
        the tries and parents (the neighbourhood is spent)."""
        options = self.options
        fastest = [schedule for _, schedule in sorted((latency.mean, schedule) for schedule, latency
                                                      in tried.items() if latency is not None)]
        if not fastest or options.mutants == 0:
            return []
        for widening in (1, 2, 4):
            seed = None if options.seed is None else options.seed + 7 * round_number + widening
            found = self.predictor.dialect.candidates(
                kernel.workload, target, fastest[:options.parents * widening], None,
                CandidateOptions(samples=0, mutants=options.mutants * widening, seed=seed))
            new = [i for i, (schedule, origin) in enumerate(zip(found.schedules, found.origins, strict=True))
                   if origin == "mutant" and schedule not in tried]
            if new:
                scores = self.predictor.scorer.for_workload(kernel.workload)(found.features[new])
                order = np.argsort(-scores, kind="stable")
                if options.spread_mutants:
                    order = order[spread_order(found.features[new][order], options.batch)]
                picked = [found.schedules[new[i]] for i in order[:options.batch]]
                origins.update((schedule, "mutant") for schedule in picked)
                return picked
        return []


#: The source of a ranked candidate of each origin that :func:`ranked_batch` weighs (schedules
#: tuned on other CPUs are measured first and are no source).
_SOURCES = {"neighbour": "neighbour", "space": "model", "evolved": "model", "mutant": "model"}


def ranked_batch(ranked: Ranked, tried: Mapping[str, Latency | None], size: int) -> list[str]:
    """The next ``size`` unmeasured candidates of ``ranked`` to measure, shared between its two
    sources as they prove themselves: adapted neighbours, and the cost model's picks among the
    rest (design-space samples, evolved schedules).

    Candidates a caller put first (:meth:`Ranked.led_by`: the instant answer, schedules tuned on
    other CPUs) come first. Then, while a source has nothing measured, the sources alternate; once
    both have, the one with the faster best measurement gets every place but one, which goes to
    the other, so neither is given up on one round's evidence. Which source wins depends on the
    network: on held-out ResNet-18 an adapted neighbour was the fastest candidate for 7 of the 8
    heaviest kernels, on held-out MobileNetV2 for 1 of 6 (its depthwise and narrow 1x1
    convolutions have no close neighbour), where measuring the neighbours first made every
    budget's model 1.5x MetaSchedule-64's latency (``benchmarks/candidate_sources.py``).
    """
    pending = [i for i, schedule in enumerate(ranked.schedules) if schedule not in tried]
    batch = [ranked.schedules[i] for i in pending if np.isinf(ranked.scores[i])][:size]
    queues: dict[str, list[str]] = {"neighbour": [], "model": []}
    for i in pending:
        if not np.isinf(ranked.scores[i]):
            queues[_SOURCES.get(ranked.origins[i], "model")].append(ranked.schedules[i])
    origins = dict(zip(ranked.schedules, ranked.origins, strict=True))
    best: dict[str, float] = {}
    for schedule, latency in tried.items():
        source = _SOURCES.get(origins.get(schedule, ""))
        if latency is not None and source is not None:
            best[source] = min(best.get(source, np.inf), latency.mean)
    if len(best) == 2:
        leader = min(best, key=lambda source: best[source])
        other = "model" if leader == "neighbour" else "neighbour"
        order = [leader] * max(1, size - len(batch) - 1) + [other]
    else:  # alternate, starting with a source not measured yet
        first = "model" if "neighbour" in best else "neighbour"
        order = [first, "model" if first == "neighbour" else "neighbour"]
    while len(batch) < size and any(queues.values()):
        for source in order:
            if len(batch) < size and queues[source]:
                batch.append(queues[source].pop(0))
        order = [source for source in order if queues[source]] or order
    return batch


def _merged(uses: Sequence[WorkloadUse]) -> list[tuple[Workload, int]]:
    """Distinct workloads in first-seen order, each with its weights summed."""
    weights: dict[str, int] = {}
    workloads: dict[str, Workload] = {}
    for use in uses:
        workloads.setdefault(use.workload.key, use.workload)
        weights[use.workload.key] = weights.get(use.workload.key, 0) + use.weight
    return [(workloads[key], weights[key]) for key in workloads]
