"""Candidate schedules of a TVM workload without measuring any: the predictor's raw material.

Three sources, all through MetaSchedule's own design space (``post-order-apply`` with the target's
rules and postprocessors, its layout rewrite kept from folding weights:
:mod:`lorien.dialects.tvm.layout_rewrite`):

* **samples**: random draws from the design space (MetaSchedule's ``replay-trace`` strategy);
* **adapted neighbours**: the best schedules of similar workloads replayed onto this one. A
  neighbour's sampling decisions are paired, in order, with those of a design space of this
  workload with the same sampling instructions; tile sizes are moved to the nearest factorisation
  of the new loop extents, categorical choices kept when they exist here, and the postprocessors
  are run again, so the result is a valid schedule of *this* workload. A neighbour of another
  structure (no design space samples as it did) has its own trace replayed up to its
  postprocessing, re-tiled the same way, and the postprocessors run afresh: never its layout
  rewrite, whose index map is the other kernel's;
* **mutants**: an adapted seed with one sampling decision changed by one of MetaSchedule's own
  mutators (tile size, unrolling, parallel extent, compute location, drawn with the target's
  probabilities); with the workload's own best measured schedules as seeds this is the local
  search of a budgeted delivery (:mod:`lorien.predictor.budget`);
* **evolved**: MetaSchedule's ``EvolutionarySearch`` seeded with the adapted neighbours and guided
  by the caller's scorer (a trained cost model) instead of measurements.

Every candidate comes back as Lorien's schedule string with its pooled features, so the caller
ranks them without applying any trace again. Candidates that compute more than
:data:`REDUNDANT_WORK_LIMIT` times the kernel's floating point operations are dropped: a compute
location inside a loop the producer does not depend on recomputes it at every iteration (a BERT
layer norm's statistics placed inside its 768-wide loop: 489x the kernel's work, 80 ms instead of
0.1), and the cost model's features do not always tell.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir import meta_schedule as ms
from tvm.s_tir.meta_schedule import _ffi_api as _mutator_ffi
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.schedule import Trace

from lorien.dialects.base import CandidateOptions, Candidates
from lorien.dialects.tvm.features import FEATURE_WIDTH, schedule_row
from lorien.dialects.tvm.intrinsics import load_intrinsics_for
from lorien.dialects.tvm.layout_rewrite import space_generator
from lorien.dialects.tvm.target import host_cores, to_tvm_target
from lorien.dialects.tvm.tuning import schedule_json
from lorien.dialects.tvm.workloads import from_workload, kernel_flops
from lorien.records import Target, Workload

Scorer = Callable[[np.ndarray], np.ndarray]

#: Candidates estimated to compute more than this many times the kernel's own floating point
#: operations are dropped (redundant recomputation). Some redundancy pays: of the shipped data
#: set's 1,310 tuned schedules the median does 1.0x, and the most, a softmax over 64-wide rows
#: recomputing each row's statistics, 34x; the BERT layer norm that ran 80 ms did 489x.
REDUNDANT_WORK_LIMIT = 64.0


def generate_candidates(workload: Workload, target: Target, seeds: Sequence[str],
                        scorer: Scorer | None, options: CandidateOptions) -> Candidates:
    """Candidates of ``workload`` for ``target`` from samples, ``seeds`` (schedules of other
    workloads) adapted to it, and, when ``scorer`` is given, an evolutionary search it guides.

    Duplicates are dropped; the order is adapted neighbours, mutants, evolved, then samples.
    """
    mod = from_workload(workload)
    tvm_target = to_tvm_target(target)
    load_intrinsics_for(tvm_target.kind.name)
    context = _context(mod, tvm_target, "replay-trace", options.seed)
    spaces = context.generate_design_space()
    found = _Collected(context, kernel_flops(mod))
    if options.seeds_kept is not None:
        seeds = nearest_seeds(spaces, seeds, options.seeds_kept)
    for seed in seeds:
        adapted = adapt_schedule(context, spaces, mod, seed)
        if adapted is not None:
            found.add(adapted, "neighbour")
    if options.mutants > 0:
        for sch in mutants(context, mod, found.schedules("neighbour"), options.mutants, options.seed):
            found.add(sch, "mutant")
    if scorer is not None and options.evolve and options.population > 0:
        for sch in _evolve(mod, tvm_target, spaces, found.schedules("neighbour"), scorer, options):
            found.add(sch, "evolved")
    if options.samples > 0:
        context.pre_tuning(max_trials=options.samples, num_trials_per_iter=options.samples,
                           design_spaces=spaces)
        for candidate in context.generate_measure_candidates() or []:
            found.add(candidate.sch, "space")
        context.post_tuning()
    return found.result()


class _Collected:
    """Distinct candidates in the order found, with their features computed in one pass."""

    def __init__(self, context: ms.TuneContext, flops: float) -> None:
        self.context = context
        self.flops = flops
        self.items: dict[str, tuple[tvm.s_tir.Schedule, str]] = {}
        self.redundant: dict[str, tuple[tvm.s_tir.Schedule, str]] = {}

    def add(self, sch: tvm.s_tir.Schedule, origin: str) -> None:
        """Keep ``sch`` unless it is a duplicate or does redundant work (more than
        :data:`REDUNDANT_WORK_LIMIT` times the kernel's operations, when those are known)."""
        text = schedule_json(sch.trace)
        if text in self.items or text in self.redundant:
            return
        if self.flops > 0 and kernel_flops(sch.mod) > REDUNDANT_WORK_LIMIT * self.flops:
            self.redundant[text] = (sch, origin)
            return
        self.items[text] = (sch, origin)

    def schedules(self, origin: str) -> list[tvm.s_tir.Schedule]:
        return [sch for sch, o in self.items.values() if o == origin]

    def result(self) -> Candidates:
        """The candidates kept, with their features; the redundant ones only when nothing else
        was found (a candidate of some kind is better than none)."""
        items = self.items or self.redundant
        features = features_of(self.context, [sch for sch, _ in items.values()])
        return Candidates(list(items), features, [o for _, o in items.values()])


def features_of(context: ms.TuneContext, schedules: Sequence[tvm.s_tir.Schedule]) -> np.ndarray:
    """The features of scheduled kernels (see :mod:`lorien.dialects.tvm.features`), as
    :meth:`TVMDialect.schedule_features` gives them for their traces."""
    if not schedules:
        return np.zeros((0, FEATURE_WIDTH), dtype=np.float32)
    args_info = ArgInfo.from_prim_func(context.mod["main"])
    candidates = [ms.MeasureCandidate(sch, args_info) for sch in schedules]
    extracted = ms.feature_extractor.PerStoreFeature().extract_from(context, candidates)
    config = json.loads(str(context.target))
    return np.stack([schedule_row(stores.numpy().astype(np.float32), schedule_json(sch.trace), config)
                     for sch, stores in zip(schedules, extracted, strict=True)])


def _context(mod: tvm.IRModule, target: tvm.target.Target, strategy: Any,
             seed: int | None) -> ms.TuneContext:
    """A context for sampling and features: on every core, unless a seed asks for the same
    samples every time (MetaSchedule hands samples to its threads as they come free, each thread
    drawing from its own random state, so with several threads a seed does not fix them)."""
    return ms.TuneContext(mod=mod, target=target, space_generator=space_generator(mod, target),
                          search_strategy=strategy, rand_state=-1 if seed is None else seed,
                          num_threads=1 if seed is not None else host_cores())


# -- adapting a neighbour's schedule -------------------------------------------------------------
def nearest_seeds(spaces: Sequence[tvm.s_tir.Schedule], seeds: Sequence[str], count: int) -> list[str]:
    """The ``count`` seeds whose loops are nearest this kernel's, in the order given among equals.

    A seed's distance is, over its tiled loops, the sum of |log2 of its extent - log2 of ours|,
    against the first design space with the same sampling instructions (seeds that match none
    come last, in order: only their own trace, re-tiled, may apply). Descriptors of whole workloads pick
    a 1x1 convolution for a 3x3 one when their epilogues match; their schedules tile a window of
    one, and adapted they ran 6-40x slower than MetaSchedule-64 where 3x3 neighbours ran 1.0-1.5x
    (``benchmarks/candidate_sources.py``, held-out ResNet-18).
    """
    def shape(decided: list[tuple[str, Any]]) -> tuple[list[str], list[int]]:
        """The kinds of the sampling instructions, and the extent each tiling splits."""
        return ([kind for kind, _ in decided],
                [math.prod(int(f) for f in d) for kind, d in decided if kind == "SamplePerfectTile"])

    ours = [shape([(inst.kind.name, decision) for inst, decision in _decisions(space.trace)])
            for space in spaces]

    def distance(seed: str) -> float:
        theirs = _their_decisions(seed)
        if theirs is None:
            return math.inf
        try:
            kinds, extents = shape(theirs)
        except (ValueError, TypeError):  # a tiling decision that is not a list of integers
            return math.inf
        for our_kinds, our_extents in ours:
            if our_kinds == kinds:
                return sum(abs(math.log2(max(1, a)) - math.log2(max(1, b)))
                           for a, b in zip(extents, our_extents, strict=True))
        return math.inf

    ranked = sorted(enumerate(seeds), key=lambda item: (distance(item[1]), item[0]))
    return [seed for _, seed in ranked[:count]]


def adapt_schedule(context: ms.TuneContext, spaces: Sequence[tvm.s_tir.Schedule],
                   mod: tvm.IRModule, schedule: str) -> tvm.s_tir.Schedule | None:
    """``schedule`` (of another workload) replayed onto ``mod``: onto a design space of ``mod``
    with the same sampling instructions, else its own trace re-tiled (:func:`_replay_foreign`);
    None when neither fits."""
    theirs = _their_decisions(schedule)
    if theirs is None:
        return None
    for space in spaces:
        sch = _replay_with(context, mod, space.trace, theirs)
        if sch is not None:
            return sch
    return _replay_foreign(context, mod, schedule)


def _replay_foreign(context: ms.TuneContext, mod: tvm.IRModule,
                    schedule: str) -> tvm.s_tir.Schedule | None:
    """``schedule``'s trace, up to its postprocessing, replayed onto ``mod`` as it is (kernels of
    another structure, e.g. a 1x1 convolution's schedule on a padded 3x3 one, whose design
    spaces sample differently) with its tile sizes moved to the nearest factorisation of this
    kernel's loops, then this design space's postprocessors run afresh; None when it does not fit.

    The trace's own postprocessing is never replayed: its layout rewrite's index map holds the
    other kernel's tiling as constants, and on this kernel it may map two weights to one place (a
    1x1 convolution's map dropped a 3x3 window: wrong outputs, though it built and ran)."""
    try:
        insts, decisions = json.loads(schedule)
        cut = next((i for i, inst in enumerate(insts) if inst[0] == "EnterPostproc"), len(insts))
        tiles = [decision for index, decision in decisions
                 if index < cut and insts[index][0] == "SamplePerfectTile"]
        kept = [[index, decision] for index, decision in decisions
                if index < cut and insts[index][0] != "SamplePerfectTile"]
        scratch = tvm.s_tir.Schedule(mod)  # the tile sizes sampled here: theirs may not fit
        Trace.apply_json_to_schedule([insts[:cut], kept], scratch)
        sch = tvm.s_tir.Schedule(mod)
        scratch.trace.apply_to_schedule(sch, remove_postproc=True,
                                        decision_provider=_TilesFitted(sch, tiles))
        return sch if _postprocessed(context, sch) else None
    except Exception:  # a trace that does not fit: no candidate
        return None


class _TilesFitted:
    """A trace replay's decision provider: the n-th tiling decision becomes the n-th of
    ``tiles`` moved to the nearest factorisation of the loop's extent in ``sch`` (the schedule
    replayed onto); its own when ``tiles`` has none that fits."""

    def __init__(self, sch: tvm.s_tir.Schedule, tiles: Sequence[Any]) -> None:
        self.sch = sch
        self.tiles = list(tiles)
        self.seen = 0

    def __call__(self, inst: Any, inputs: Sequence[Any], attrs: Sequence[Any], decision: Any) -> Any:
        if inst.kind.name != "SamplePerfectTile":
            return decision
        their = self.tiles[self.seen] if self.seen < len(self.tiles) else None
        self.seen += 1
        extent = self.sch.get(inputs[0]).extent
        if not isinstance(their, list) or len(their) != int(attrs[0]) \
                or not isinstance(extent, tvm.tirx.IntImm):
            return decision
        return nearest_tiling(int(extent), their, int(attrs[1]))


def sampling_kinds(schedule: str) -> tuple[str, ...]:
    """The kinds of ``schedule``'s sampling instructions (those with a decision), in order: the
    signature of the design space it was drawn from; empty when it cannot be read."""
    return tuple(kind for kind, _ in _their_decisions(schedule) or ())


def design_space_kinds(workload: Workload, target: Target) -> set[tuple[str, ...]]:
    """The :func:`sampling_kinds` of each of ``workload``'s design spaces for ``target``: a
    schedule of the kernel with none of them was replayed onto it from another structure
    (:func:`_replay_foreign`), not drawn from its own design space."""
    tvm_target = to_tvm_target(target)
    load_intrinsics_for(tvm_target.kind.name)
    spaces = _context(from_workload(workload), tvm_target, "replay-trace", 0).generate_design_space()
    return {tuple(inst.kind.name for inst, _ in _decisions(space.trace)) for space in spaces}


def _their_decisions(schedule: str) -> list[tuple[str, Any]] | None:
    """A schedule string's sampling decisions with their instructions' kinds, in order; None
    when it cannot be read."""
    try:
        insts, decisions = json.loads(schedule)
        return [(insts[index][0], decision) for index, decision in decisions]
    except (ValueError, TypeError, IndexError, KeyError):
        return None


def _decisions(trace: Trace) -> list[tuple[Any, Any]]:
    """A trace's sampling instructions with their decisions, in order."""
    decided = [(inst, trace.get_decision(inst)) for inst in trace.insts]
    return [(inst, decision) for inst, decision in decided if decision is not None]


def _replay_with(context: ms.TuneContext, mod: tvm.IRModule, trace: Trace,
                 theirs: list[tuple[str, Any]]) -> tvm.s_tir.Schedule | None:
    """``trace`` (a design space of ``mod``) with ``theirs`` decisions moved onto it: their
    compute locations too when the result is valid, else this space's own."""
    ours = _decisions(trace)
    if [inst.kind.name for inst, _ in ours] != [kind for kind, _ in theirs]:
        return None
    for their_locations in (True, False):
        adapted = trace
        for (inst, own), (_, their) in zip(ours, theirs, strict=True):
            new = _adapt_decision(inst, own, their, their_locations)
            if new is not None:
                adapted = adapted.with_decision(inst, new, remove_postproc=True)
        sch = tvm.s_tir.Schedule(mod)
        try:
            adapted.apply_to_schedule(sch, remove_postproc=True)
            if _postprocessed(context, sch):
                return sch
        except Exception:  # decisions that do not fit this kernel
            continue
    return None


def _adapt_decision(inst: Any, own: Any, their: Any, their_locations: bool) -> Any:
    """Their decision moved onto this instruction (plain integers, as traces hold them), or None
    to keep our own. Tile sizes move to the nearest factorisation of this kernel's extents;
    categorical choices (unrolling) are kept when they exist here; compute locations, which index
    the consumer's loops, only when ``their_locations``."""
    kind = inst.kind.name
    if kind == "SamplePerfectTile" and isinstance(their, list):
        extent = math.prod(int(f) for f in own)
        max_inner = int(inst.attrs[1]) if len(inst.attrs) > 1 else 0
        if len(their) != len(own):
            return None
        return nearest_tiling(extent, their, max_inner)
    if kind == "SampleCategorical" and isinstance(their, int):
        return their if 0 <= their < len(inst.attrs[0]) else None
    if kind == "SampleComputeLocation" and isinstance(their, int) and their_locations:
        return their
    return None  # other samples: this design space's own choice


def _postprocessed(context: ms.TuneContext, sch: tvm.s_tir.Schedule) -> bool:
    """Run the design space's postprocessors on ``sch`` after marking where they start in its
    trace, as MetaSchedule does: a trace replayed later with ``remove_postproc`` then drops them
    instead of applying them twice (which fails in the layout rewrite). False when one refuses."""
    sch.enter_postproc()
    return all(postproc.apply(sch) for postproc in context.space_generator.postprocs)


def nearest_tiling(extent: int, factors: Sequence[int], max_innermost: int = 0) -> list[int]:
    """A factorisation of ``extent`` into ``len(factors)`` tiles close to ``factors`` (in log
    scale), innermost first; the outermost tile takes what is left.

    >>> nearest_tiling(56, [8, 16, 2, 1])
    [2, 14, 2, 1]
    """
    tiles = [1] * len(factors)
    remaining = extent
    for position in range(len(factors) - 1, 0, -1):
        wanted = max(1, int(factors[position]))
        divisors = [d for d in _divisors(remaining)
                    if not (position == len(factors) - 1 and max_innermost > 0 and d > max_innermost)]
        best = min(divisors, key=lambda d: (abs(math.log(d) - math.log(wanted)), d))
        tiles[position] = best
        remaining //= best
    tiles[0] = remaining
    return tiles


def _divisors(n: int) -> list[int]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return sorted({*small, *(n // d for d in small)})


# -- mutants: one decision changed -------------------------------------------------------------
def mutants(context: ms.TuneContext, mod: tvm.IRModule, seeds: Sequence[tvm.s_tir.Schedule],
            tries: int, seed: int | None = None) -> list[tvm.s_tir.Schedule]:
    """Valid schedules of ``mod`` that differ from one of ``seeds`` (taken in turn) by one
    decision, from ``tries`` applications of the design space's mutators, each drawn by its
    probability for the target. Mutations that fail or break a postprocessor are dropped."""
    probabilities = dict(context.space_generator.mutator_probs or {})
    if not seeds or not probabilities:
        return []
    mutators = list(probabilities)
    weights = np.array([float(probabilities[m]) for m in mutators])
    draw = np.random.default_rng(seed)
    found = []
    for attempt in range(tries):
        mutator = mutators[int(draw.choice(len(mutators), p=weights / weights.sum()))]
        # MetaSchedule's Python ``apply`` always draws a fresh random state; its FFI takes one
        mutated = _mutator_ffi.MutatorApply(mutator, seeds[attempt % len(seeds)].trace,
                                            int(draw.integers(1, 2**31 - 1)))
        if mutated is None:
            continue
        sch = tvm.s_tir.Schedule(mod)
        try:
            mutated.apply_to_schedule(sch, remove_postproc=True)
            if _postprocessed(context, sch):
                found.append(sch)
        except Exception:  # a mutation this kernel cannot take
            continue
    return found


# -- evolutionary search guided by a scorer ------------------------------------------------------
@derived_object
class _ScorerCostModel(ms.cost_model.PyCostModel):
    """MetaSchedule cost model that asks a Python scorer (pooled features in, scores out)."""

    def __init__(self, scorer: Scorer) -> None:
        self.scorer = scorer

    def load(self, path: str) -> None:
        return None

    def save(self, path: str) -> None:
        return None

    def update(self, context: Any, candidates: Any, results: Any) -> None:
        return None

    def predict(self, context: ms.TuneContext, candidates: list[Any]) -> np.ndarray:
        features = features_of(context, [c.sch for c in candidates])
        return np.asarray(self.scorer(features), dtype="float64")


def _evolve(mod: tvm.IRModule, target: tvm.target.Target, spaces: Sequence[tvm.s_tir.Schedule],
            seeds: Sequence[tvm.s_tir.Schedule], scorer: Scorer,
            options: CandidateOptions) -> list[tvm.s_tir.Schedule]:
    """The ``options.population`` best schedules by ``scorer`` after ``options.generations`` rounds
    of MetaSchedule's mutations, starting from the seeds and random samples."""
    strategy = ms.search_strategy.EvolutionarySearch(
        population_size=options.population,
        init_measured_ratio=0.5 if seeds else 0.0,
        init_min_unmeasured=max(1, options.population // 2),
        genetic_num_iters=options.generations,
        eps_greedy=0.0,
    )
    context = _context(mod, target, strategy, options.seed)
    database = ms.database.MemoryDatabase()
    if seeds:  # the adapted neighbours enter the first population as if measured, best first
        entry = database.commit_workload(mod)
        args_info = ArgInfo.from_prim_func(mod["main"])
        for rank, sch in enumerate(seeds):
            database.commit_tuning_record(ms.database.TuningRecord(
                sch.trace, entry, [1e-3 * (rank + 1)], target, args_info))
    count = options.population
    context.pre_tuning(max_trials=count, num_trials_per_iter=count, design_spaces=list(spaces),
                       database=database, cost_model=_ScorerCostModel(scorer))
    picked = [c.sch for c in context.generate_measure_candidates() or []]
    context.post_tuning()
    return picked
