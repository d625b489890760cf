"""Zero-shot delivery: a schedule for a workload nobody has tuned, chosen by a cost model.

For a workload with no record for the target, :class:`ZeroShotPredictor` asks the dialect for
candidates (design-space samples and the best schedules of the most similar tuned workloads adapted
to the new shapes; optionally an evolutionary search guided by the cost model), ranks them (the
adapted neighbours first when enough of them adapted, each group by the cost model) and returns
the best as a ``predicted`` record. With ``measure_top_k`` the best few are measured and the
fastest wins. Predicted records live in their own store groups: they never shadow a ``tuned``
record, and a tuned record for the same workload takes over as soon as tuning commits it.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from lorien.dialects import (
    CandidateOptions,
    Candidates,
    Dialect,
    Measurer,
    Proposer,
    RPCEndpoint,
    TuneOptions,
    require,
)
from lorien.errors import InvalidInput, TuningError
from lorien.predictor.neighbours import POOL_PER_NEIGHBOUR, Neighbour, NeighbourIndex, estimated_latency
from lorien.predictor.scoring import CostModelScorer
from lorien.records import Latency, Measured, ScheduleRecord, Target, Workload
from lorien.spread import spread_order
from lorien.store.base import ScheduleStore

#: How long compiling one candidate to measure may take by default, in seconds (see
#: :attr:`PredictOptions.build_timeout_s`).
CANDIDATE_BUILD_TIMEOUT_S = 10.0
#: Seconds an unmeasured answer may take to compile (:attr:`PredictOptions.build_check`): longer
#: than a measured candidate may, since the next candidate is a guess rather than a measurement.
CHECK_BUILD_TIMEOUT_S = 20.0


@dataclass(frozen=True)
class PredictOptions:
    """How hard to look for a schedule without tuning.

    Attributes:
        candidates: how many candidates the dialect proposes, and how.
        neighbours: how many similar tuned workloads lend their best schedules.
        neighbour_pool: how many similar tuned workloads (by descriptors) are offered to the
            dialect, which adapts the ``neighbours`` whose schedules fit best
            (:attr:`CandidateOptions.seeds_kept`); see
            :data:`lorien.predictor.neighbours.POOL_PER_NEIGHBOUR` for why so many.
        neighbours_first: rank adapted neighbours' schedules before every other candidate (each
            group best first by the cost model) when at least half the ``neighbours`` adapted;
            False, or fewer adapted, ranks all by the cost model alone. On
            held-out ResNet-18's 8 heaviest kernels, the cost model's first of the adapted
            neighbours ran 1.37x MetaSchedule-64's latency (geometric mean), its first of every
            candidate 1.88x; an adapted neighbour was the fastest candidate of 7 of the 8
            (``benchmarks/candidate_sources.py``): the model, trained on search picks, overrates
            random samples.
        samples_beside_neighbours: design-space samples drawn when neighbours were offered; the
            rest of ``candidates.samples`` only when fewer than half the ``neighbours`` adapted.
            With adapted neighbours ranked first, samples are rarely the answer or measured,
            and drawing and featurising them was most of an instant answer's time.
        measure_top_k: measure the best this many on the target's device and return the fastest
            (the first kept, the others spread over unlike schedules: :meth:`ZeroShotPredictor.rank`);
            0 returns the cost model's first choice unmeasured.
        build_timeout_s: how long compiling one measured candidate may take (always on this
            machine). Short, since a candidate that compiles for long is rarely worth the wait:
            one adapted neighbour of ResNet-18's stem convolution (fully unrolled) compiled for
            393 s, where the others took 0.4-8 s.
        run_timeout_s: how long running one measured candidate may take (on the target's device,
            which may be a slow board behind an RPC tracker).
        build_check: how many of the ranked candidates an unmeasured answer (``measure_top_k``
            0) may try to compile on this machine before it is given: the first that compiles
            within ``build_check_timeout_s`` is the answer (each kernel's first compiles on a
            builder process while the next kernel is ranked; the next tries after the
            ranking). A schedule that compiles for minutes makes every model built with it
            compile for minutes: held-out Xception's 1x1 convolution over 64x147x147 ranked
            first a schedule that compiled for 245 s, where the next compiled in 1-3 s
            (``benchmarks/build_check.py``). 0 gives the first unchecked, as does a dialect
            that cannot compile schedules (not a :class:`~lorien.dialects.Measurer`).
        build_check_timeout_s: how long compiling one checked candidate may take.
    """

    candidates: CandidateOptions = field(default_factory=CandidateOptions)
    neighbours: int = 8
    neighbour_pool: int = POOL_PER_NEIGHBOUR * 8
    neighbours_first: bool = True
    samples_beside_neighbours: int = 16
    measure_top_k: int = 0
    build_timeout_s: float = CANDIDATE_BUILD_TIMEOUT_S
    run_timeout_s: float = 30.0
    build_check: int = 3
    build_check_timeout_s: float = CHECK_BUILD_TIMEOUT_S


@dataclass(frozen=True)
class Prediction:
    """A predicted schedule and how it was found.

    Attributes:
        record: the chosen schedule: ``source="measured"`` with its measured latency when
            ``measured``, else ``source="predicted"`` with a latency estimated from the neighbours'
            throughput (the two are kept in separate store groups, never ranked together).
        score: the cost model's score of the chosen schedule.
        measured: whether the latency was measured.
        origin: where the chosen candidate came from (``neighbour``, ``evolved``, ``space``).
        candidates: how many candidates were ranked, by origin.
        neighbours: keys of the similar workloads whose schedules were offered.
        seconds: time spent.
        compiles: whether the schedule was seen to compile on this machine (built to be
            measured, or by :attr:`PredictOptions.build_check`); False when it was not tried.
        passed_over: higher-ranked candidates passed over because they did not compile within
            :attr:`PredictOptions.build_check_timeout_s`.
    """

    record: ScheduleRecord
    score: float
    measured: bool
    origin: str
    candidates: dict[str, int]
    neighbours: list[str]
    seconds: float
    compiles: bool = False
    passed_over: int = 0


@dataclass(frozen=True)
class Ranked:
    """A workload's candidates ranked, best first (see
    :meth:`ZeroShotPredictor.rank`).

    Attributes:
        schedules: the candidates, best first: adapted neighbours before the rest (see
            :attr:`PredictOptions.neighbours_first`), each group by score (the first few places
            spread over unlike schedules when asked, :meth:`ZeroShotPredictor.rank`).
        scores: their scores (higher means faster).
        origins: where each came from (``neighbour``, ``mutant``, ``evolved``, ``space``, or what a
            caller put first, see :meth:`led_by`).
        neighbours: the similar tuned workloads whose schedules were offered, nearest first.
        estimate_s: the workload's latency estimated from the neighbours' throughput.
    """

    schedules: list[str]
    scores: np.ndarray
    origins: list[str]
    neighbours: list[Neighbour]
    estimate_s: float

    def led_by(self, schedules: Sequence[str], origin: str) -> Ranked:
        """These ranked candidates with ``schedules`` (of ``origin``) moved to the front."""
        first = list(dict.fromkeys(schedules))
        rest = [i for i, schedule in enumerate(self.schedules) if schedule not in set(first)]
        return Ranked(schedules=first + [self.schedules[i] for i in rest],
                      scores=np.concatenate([np.full(len(first), np.inf), self.scores[rest]]),
                      origins=[origin] * len(first) + [self.origins[i] for i in rest],
                      neighbours=self.neighbours, estimate_s=self.estimate_s)

    def after(self, place: int) -> Ranked:
        """These ranked candidates without the first ``place``."""
        return dataclasses.replace(self, schedules=self.schedules[place:], scores=self.scores[place:],
                                   origins=self.origins[place:])

    def record(self, workload: Workload, target: Target, dialect: Dialect, index: int,
               latency: Latency | None = None) -> ScheduleRecord:
        """The ``index``-th candidate as a record: ``measured`` with ``latency`` when given, else
        ``predicted`` with the estimate."""
        return ScheduleRecord(
            dialect=dialect.name, workload_key=workload.key, target=target, build=dialect.build_id(),
            schedule=self.schedules[index], latency=latency or Latency((self.estimate_s,)),
            source="measured" if latency is not None else "predicted",
        )


class ZeroShotPredictor:
    """Predicts schedules from a store's tuned neighbours and a cost model.

    Thread safety: :meth:`predict` may run in several threads at once (each call builds its own
    compiler objects); the store is borrowed and must itself be thread-safe, as every
    :class:`ScheduleStore` is.

    Raises:
        InvalidInput: the scorer's dialect does not propose schedules
            (:class:`~lorien.dialects.Proposer`).
    """

    def __init__(self, store: ScheduleStore, scorer: CostModelScorer,
                 options: PredictOptions | None = None) -> None:
        self._dialect = require(scorer.dialect, Proposer)
        self.store = store
        self.scorer = scorer
        self.options = options or PredictOptions()
        self.index = NeighbourIndex(store)

    @property
    def dialect(self) -> Proposer:
        """The dialect whose candidates are ranked (the cost model's)."""
        return self._dialect

    def measurer(self) -> Measurer:
        """The dialect as a :class:`~lorien.dialects.Measurer`, to measure its candidates.

        Raises:
            InvalidInput: the dialect cannot measure given schedules.
        """
        return require(self._dialect, Measurer)

    def rank(self, workload: Workload, target: Target, options: PredictOptions | None = None, *,
             spread: int = 0) -> Ranked:
        """Candidates of ``workload`` for ``target``, unmeasured: adapted neighbours first (with
        ``neighbours_first``, when at least half the ``neighbours`` adapted), each group best
        first by the cost model; with ``spread`` above 1, the first ``spread`` places taken over
        unlike schedules (:func:`lorien.spread.spread_order`), the first candidate kept first.

        :meth:`predict_many` spreads the ``measure_top_k`` it measures: on held-out networks
        (``benchmarks/spread_picks.py``, 5 measured a kernel) the spread five made MobileNetV2's
        kernels 1.36x faster than the first five (samples beat its neighbours on depthwise
        convolutions), ResNet-18's 1.01x and Xception's 0.97-0.99x (one 1x1 convolution lost
        its one fast adapted neighbour).

        Raises:
            InvalidInput: a workload of another dialect than the cost model's.
            TuningError: the dialect proposed no usable candidate.
        """
        options = options or self.options
        dialect = self.dialect
        if workload.dialect != dialect.name:
            raise InvalidInput(f"workload {workload.key} is of dialect {workload.dialect!r}; the cost "
                               f"model scores {self.dialect.name!r}")
        neighbours = self.index.nearest(workload, target, max(options.neighbours, options.neighbour_pool))
        scorer = self.scorer.for_workload(workload)
        found = self._candidates(dialect, workload, target, [n.record.schedule for n in neighbours], scorer,
                                 options)
        if not len(found):
            raise TuningError(f"no candidate schedule for {workload.name} ({workload.key})")
        scores = scorer(found.features)
        first = options.neighbours_first and _enough_adapted(found, options)
        adapted = np.array([first and origin == "neighbour" for origin in found.origins])
        order = np.lexsort((-scores, ~adapted))
        order = order[spread_order(found.features[order], spread)]
        return Ranked(schedules=[found.schedules[i] for i in order], scores=scores[order],
                      origins=[found.origins[i] for i in order], neighbours=neighbours,
                      estimate_s=estimated_latency(workload, neighbours))

    def _candidates(self, dialect: Proposer, workload: Workload, target: Target, seeds: list[str],
                    scorer: Callable[[np.ndarray], np.ndarray], options: PredictOptions) -> Candidates:
        """The dialect's candidates: the adapted neighbours beside ``samples_beside_neighbours``
        samples; the rest of ``candidates.samples`` drawn only when fewer than half the
        neighbours adapted (the samples then carry the answer)."""
        wanted = options.candidates
        if wanted.seeds_kept is None:
            wanted = dataclasses.replace(wanted, seeds_kept=options.neighbours)
        drawn = min(wanted.samples, options.samples_beside_neighbours) if seeds else wanted.samples
        found = dialect.candidates(workload, target, seeds, scorer,
                                   dataclasses.replace(wanted, samples=drawn))
        if drawn >= wanted.samples or _enough_adapted(found, options):
            return found
        more = dialect.candidates(workload, target, [], None, dataclasses.replace(
            wanted, samples=wanted.samples - drawn, evolve=False, mutants=0))
        known = set(found.schedules)
        extra = [i for i, schedule in enumerate(more.schedules) if schedule not in known]
        return Candidates(found.schedules + [more.schedules[i] for i in extra],
                          np.vstack([found.features, more.features[extra]]),
                          found.origins + [more.origins[i] for i in extra])

    def predict(self, workload: Workload, target: Target, *,
                options: PredictOptions | None = None) -> Prediction:
        """The best schedule the cost model can find for ``workload`` on ``target``. Stores
        nothing: the caller decides (:func:`store_predictions`).

        Raises:
            InvalidInput: a workload of another dialect than the cost model's.
            TuningError: the dialect proposed no usable candidate.
        """
        return self.predict_many([workload], target, options=options)[0]

    def predict_many(self, workloads: Sequence[Workload], target: Target, *,
                     options: PredictOptions | None = None) -> list[Prediction]:
        """:meth:`predict` for several workloads (a model's kernels), in order. With
        ``measure_top_k`` every workload's top candidates are measured in one call
        (:meth:`~lorien.dialects.Measurer.measure_many`: built together on every core, run one at a
        time); without it, each workload's first candidate is compiled on a builder process
        while the next workload is ranked, to check it compiles in time
        (:attr:`PredictOptions.build_check`). Each prediction's ``seconds`` is its ranking plus
        its share of those calls (of the checks, what is left of them after the ranking).

        Raises:
            InvalidInput: a workload of another dialect than the cost model's, or
                ``measure_top_k`` with a dialect that cannot measure.
            TuningError: the dialect proposed no usable candidate for one of them, or none of its
                first ``build_check`` candidates compiled in time.
        """
        options = options or self.options
        measurer = self.measurer() if options.measure_top_k > 0 and workloads else None
        checker = (self._dialect if measurer is None and options.build_check > 0
                   and isinstance(self._dialect, Measurer) else None)
        ranked, seconds = [], []
        first = [0] * len(workloads)
        with CompileCheck(checker, target, options) if checker is not None else nullcontext() as check:
            for workload in workloads:
                started = time.perf_counter()
                ranked.append(self.rank(workload, target, options, spread=options.measure_top_k))
                seconds.append(time.perf_counter() - started)
                if check is not None:
                    check.add(workload, ranked[-1])
            if check is not None and workloads:
                started = time.perf_counter()
                first = check.places()
                share = (time.perf_counter() - started) / len(workloads)
                seconds = [s + share for s in seconds]
        measured: list[list[Measured]] = [[] for _ in workloads]
        if measurer is not None:
            started = time.perf_counter()
            top_k = options.measure_top_k
            batches = [(w, r.schedules[:top_k]) for w, r in zip(workloads, ranked, strict=True)]
            how = measure_options(options.build_timeout_s, options.run_timeout_s)
            measured = measurer.measure_many(target, batches, how)
            total = sum(len(top) for _, top in batches)
            per_candidate = (time.perf_counter() - started) / max(1, total)
            seconds = [s + per_candidate * len(top) for s, (_, top) in zip(seconds, batches, strict=True)]
        predictions = []
        for workload, one, latencies, spent, place in zip(workloads, ranked, measured, seconds, first,
                                                          strict=True):
            timed = [(lat.mean, i, lat) for i, lat in enumerate(latencies) if isinstance(lat, Latency)]
            chosen, latency = (min(timed, key=lambda t: t[0])[1:] if timed else (place, None))
            record = one.record(workload, target, self.dialect, chosen, latency)
            predictions.append(Prediction(
                record=record, score=float(one.scores[chosen]), measured=latency is not None,
                origin=one.origins[chosen], candidates=dict(Counter(one.origins)),
                neighbours=[n.workload.key for n in one.neighbours], seconds=spent,
                compiles=latency is not None or checker is not None, passed_over=place))
        return predictions


class CompileCheck:
    """The build check of :attr:`PredictOptions.build_check` over kernels as they are ranked:
    :meth:`add` starts compiling a kernel's first candidate on a builder process, from a thread
    of its own, so the caller goes on ranking the next kernel; :meth:`places` waits for those
    and checks the next candidates of the kernels whose first did not compile
    (:func:`first_that_compiles`). A context manager (leaving it waits for checks under way);
    use it from one thread.

    Kernels are checked side by side, as many as the machine has cores: a candidate that
    compiles until the time limit holds one builder process, not the checks of every kernel
    ranked after it.
    """

    def __init__(self, checker: Measurer, target: Target, options: PredictOptions) -> None:
        self.checker, self.target, self.options = checker, target, options
        self._pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 1,
                                        thread_name_prefix="lorien-build-check")
        self._added: list[tuple[Workload, Ranked, Future[list[list[str | None]]]]] = []

    def __enter__(self) -> CompileCheck:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown(wait=True)

    def add(self, workload: Workload, ranked: Ranked) -> None:
        """Start compiling ``workload``'s first ranked candidate."""
        self._added.append((workload, ranked, self._pool.submit(
            self.checker.check_builds, self.target, [(workload, ranked.schedules[:1])],
            self.options.build_check_timeout_s)))

    def places(self) -> list[int]:
        """Each added workload's place of its first candidate that compiles in time, in the
        order added.

        Raises:
            TuningError: none of a workload's first ``build_check`` candidates compiled.
        """
        workloads, ranked = [w for w, _, _ in self._added], [r for _, r, _ in self._added]
        return first_that_compiles(self.checker, workloads, ranked, self.target, self.options,
                                   checked_first=[check.result()[0][0] for _, _, check in self._added])


def first_that_compiles(checker: Measurer, workloads: Sequence[Workload], ranked: Sequence[Ranked],
                        target: Target, options: PredictOptions,
                        checked_first: Sequence[str | None] | None = None) -> list[int]:
    """Each workload's place in ``ranked`` (its candidates, best first) of its first candidate
    that compiles within ``options.build_check_timeout_s`` (:meth:`Measurer.check_builds`): the
    first candidates of every workload compiled in one call, then the next of those that did
    not, up to ``options.build_check`` rounds. The check behind
    :attr:`PredictOptions.build_check`. ``checked_first``: the first candidates' checks when
    already made (the reason each did not compile, or None), in place of the first round.

    Raises:
        TuningError: none of a workload's first ``build_check`` candidates compiled.
    """
    places: list[int | None] = [None] * len(workloads)
    why: list[str] = [""] * len(workloads)
    for place in range(options.build_check):
        waiting = [i for i, found in enumerate(places)
                   if found is None and place < len(ranked[i].schedules)]
        if not waiting:
            break
        if place == 0 and checked_first is not None:
            problems = [[checked_first[i]] for i in waiting]
        else:
            batches = [(workloads[i], [ranked[i].schedules[place]]) for i in waiting]
            problems = checker.check_builds(target, batches, options.build_check_timeout_s)
        for i, [problem] in zip(waiting, problems, strict=True):
            if problem is None:
                places[i] = place
            else:
                why[i] = problem
    for workload, found, problem in zip(workloads, places, why, strict=True):
        if found is None:
            raise TuningError(f"none of the first {options.build_check} candidates for {workload.name} "
                              f"({workload.key}) compiled within {options.build_check_timeout_s:g} s: "
                              f"{problem}")
    return [found for found in places if found is not None]


def store_predictions(store: ScheduleStore, workloads: Sequence[Workload],
                      predictions: Sequence[Prediction]) -> None:
    """Store the workloads and their predictions' records (``predicted``, or ``measured`` when a
    latency was measured), in their own groups of the store: a tuned record is never evicted."""
    store.put_workloads(workloads)
    store.commit([prediction.record for prediction in predictions])


def _enough_adapted(found: Candidates, options: PredictOptions) -> bool:
    """Whether at least half the ``neighbours`` wanted adapted: the neighbours are then close
    enough to rank first, and few samples are needed. When most do not adapt, those that do are
    far (BERT's 64-row matmuls were lent 1-row ones: 3 of 8 adapted, 4.5-7.6x MetaSchedule-64's
    latency, where the cost model's first sample ran 0.8-3x)."""
    return found.origins.count("neighbour") >= max(1, options.neighbours // 2)


def measure_options(build_timeout_s: float, run_timeout_s: float,
                    rpc: RPCEndpoint | None = None) -> TuneOptions:
    """How a predictor measures a candidate: once, building within ``build_timeout_s`` on this
    machine and running within ``run_timeout_s`` here or on the devices of the ``rpc`` tracker."""
    return TuneOptions(trials=1, build_timeout_s=build_timeout_s, run_timeout_s=run_timeout_s, rpc=rpc)
