"""A tuning job as a data set needs it: the search, random design-space samples and adapted
neighbours' schedules beside it, and robust labels (suspect measurements taken again).

Used by the tuning child of a worker (:mod:`lorien.tuner.process`) and by
:func:`lorien.tuner.local.tune_workloads`, so a job queued with samples and re-measurements gives
the same logs wherever it runs. Not thread safe (a dialect measures one call at a time).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence

from lorien.dialects.base import CandidateOptions, Candidates, TuneOptions, TuneOutcome
from lorien.dialects.roles import Measurer, OutputChecker, Proposer, Tuner, require
from lorien.machine import host_machine
from lorien.records import Latency, Target, Workload, content_hash
from lorien.tuning_log import Measurement, TuningLog, label_latency

#: Lends a tuning job's neighbour samples their seeds: the best schedules of the kernel's nearest
#: tuned workloads, given the kernel, the target and how many neighbours are wanted
#: (:meth:`lorien.predictor.NeighbourIndex.lend`). May raise a StoreError.
NeighbourLender = Callable[[Workload, Target, int], Sequence[str]]

#: A measurement whose slowest timed run is more than this times its fastest was disturbed
#: (another process took the cores for part of it): it is measured again.
OUTLIER_SPREAD = 1.25


def sample_seed(workload: Workload) -> int:
    """The seed a workload's random samples are drawn with: its key's, so a re-run draws the
    same schedules."""
    return int(content_hash(workload.key, "random-samples")[:8], 16)


def measure_random_samples(proposer: Proposer, measurer: Measurer, workload: Workload, target: Target,
                           count: int, options: TuneOptions) -> TuningLog:
    """A log of ``count`` schedules drawn at random from the workload's design space and measured
    (``options.repeat`` runs each, on this machine or ``options.rpc``'s devices), every
    measurement marked ``random``: what a search would never keep, so that a cost model also
    sees bad schedules (as TenSet's data set does). Seeded by the workload key, so a re-run
    draws the same schedules. Its budget (``trials``) is ``count``, even when the design space
    holds fewer distinct schedules. ``proposer`` draws them, ``measurer`` measures them (one
    dialect in both roles).

    Raises:
        TuningError: the dialect cannot sample the kernel's design space.
    """
    sampling = CandidateOptions(samples=count, seed=sample_seed(workload))
    schedules = _of_origin(proposer.candidates(workload, target, [], None, sampling), "space")[:count]
    return _measured_log(measurer, workload, target, schedules, count, "random", options)


def measure_neighbour_samples(proposer: Proposer, measurer: Measurer, workload: Workload, target: Target,
                              seeds: Sequence[str], count: int, options: TuneOptions) -> TuningLog:
    """A log of the schedules ``seeds`` (the best schedules of the kernel's nearest tuned
    workloads, nearest first) adapted to ``workload``, the ``count`` that fit it best kept as an
    instant answer keeps them (:attr:`~lorien.dialects.CandidateOptions.seeds_kept`), measured,
    every measurement marked ``neighbour``. Its budget (``trials``) is ``count``, even when fewer
    seeds adapt; when none does (or no seed is given) the log is empty, and says so: the kernel
    has been tried (:func:`lorien.datasets.campaign.log_kind` reads it as neighbour samples).

    Raises:
        TuningError: the dialect cannot adapt schedules to the kernel.
    """
    adapting = CandidateOptions(samples=0, seeds_kept=count, seed=sample_seed(workload))
    schedules = _of_origin(proposer.candidates(workload, target, list(seeds), None, adapting),
                           "neighbour")[:count] if seeds else []
    return _measured_log(measurer, workload, target, schedules, count, "neighbour", options)


def _of_origin(candidates: Candidates, origin: str) -> list[str]:
    return [s for s, o in zip(candidates.schedules, candidates.origins, strict=True) if o == origin]


def _measured_log(measurer: Measurer, workload: Workload, target: Target, schedules: list[str], budget: int,
                  origin: str, options: TuneOptions) -> TuningLog:
    """A log of ``schedules`` measured, each marked ``origin``, with a budget of ``budget``."""
    started = time.time()
    latencies = measurer.measure(workload, target, schedules, options) if schedules else []
    measurements = tuple(
        Measurement(schedule, measured, None, origin=origin) if isinstance(measured, Latency)
        else Measurement(schedule, None, measured.reason, origin=origin)
        for schedule, measured in zip(schedules, latencies, strict=True))
    return TuningLog(workload, target, measurer.build_id(), budget, started, time.time(), measurements)


def suspects(log: TuningLog, best: int) -> list[int]:
    """Indices of the measurements of ``log`` to take again: its ``best`` fastest (a data set's
    top-1 is decided among them) and every one whose runs spread more than
    :data:`OUTLIER_SPREAD`."""
    ok = [(i, m.latency) for i, m in enumerate(log.measurements) if m.latency is not None]
    fastest = [i for i, _ in sorted(ok, key=lambda pair: label_latency(pair[1]))[:best]]
    spread = [i for i, latency in ok if max(latency.runs) > OUTLIER_SPREAD * latency.min]
    return sorted(set(fastest) | set(spread))


def remeasure(measurer: Measurer, log: TuningLog, indices: list[int], options: TuneOptions) -> TuningLog:
    """``log`` with the measurements at ``indices`` measured again: the new runs join the old
    ones (a failed second measurement leaves the first as it was)."""
    if not indices:
        return log
    schedules = [log.measurements[i].schedule for i in indices]
    again = measurer.measure(log.workload, log.target, schedules, options)
    measurements = list(log.measurements)
    for i, latency in zip(indices, again, strict=True):
        old = measurements[i].latency
        if isinstance(latency, Latency) and old is not None:
            measurements[i] = dataclasses.replace(measurements[i], latency=Latency(old.runs + latency.runs))
    return dataclasses.replace(log, measurements=tuple(measurements))


def _relabelled(outcome: TuneOutcome, log: TuningLog) -> TuneOutcome:
    """``outcome`` with its records' latencies taken from the re-measured ``log``."""
    latency = {m.schedule: m.latency for m in log.measurements if m.latency is not None}
    records = tuple(dataclasses.replace(r, latency=latency.get(r.schedule, r.latency))
                    for r in outcome.records)
    return dataclasses.replace(outcome, records=records, log=log)


#: The largest kernel (floating point operations of one run) whose records a tuning job checks:
#: the kernel unscheduled is the reference, and its naive loops run at 1.5 to 1.9 GFLOP a second
#: here, build included (VGG-16's 3.7-GFLOP convolutions: 2.0 to 2.5 s; an LM head of 40 to 160
#: GFLOP would take minutes).
MAX_CHECKED_FLOPS = 1e10


def without_wrong_records(checker: OutputChecker, outcome: TuneOutcome) -> TuneOutcome:
    """``outcome`` with every record whose schedule computes other values than its kernel
    unscheduled taken out (each record built and run here: about a second each), and its
    measurements in the log marked failed, ``wrong output: ...`` their error, so that neither
    the store nor a model trained on the log takes it. Records this machine cannot check (another
    kind of target) stay, and so do those of a kernel over :data:`MAX_CHECKED_FLOPS`."""
    if outcome.log.workload.flops > MAX_CHECKED_FLOPS:
        return outcome
    checks = checker.check_outputs(outcome.log.workload, outcome.records, every=True)
    wrong = {record.schedule: check.detail
             for record, check in zip(outcome.records, checks, strict=True) if check.verdict == "wrong"}
    if not wrong:
        return outcome
    measurements = tuple(
        dataclasses.replace(m, latency=None, error=f"wrong output: {wrong[m.schedule]}")
        if m.schedule in wrong else m for m in outcome.log.measurements)
    return dataclasses.replace(outcome, records=tuple(r for r in outcome.records if r.schedule not in wrong),
                               log=dataclasses.replace(outcome.log, measurements=measurements))


def run_tuning(dialect: Tuner, workload: Workload, target: Target, options: TuneOptions,
               on_trial: Callable[[int, int], None] | None = None,
               neighbours: Sequence[str] = ()) -> TuneOutcome:
    """Tune ``workload`` as ``options`` ask: the search (unless ``trials`` is 0), the
    re-measurements of its suspects, then the random samples and the neighbour samples (adapted
    from ``neighbours``, the best schedules of the kernel's nearest tuned workloads; none measured
    when it is empty), their suspects measured again too. The search's records are checked
    against the kernel unscheduled when the dialect can (:func:`without_wrong_records`). Logs
    measured on this machine record it (:func:`lorien.machine.host_machine`).

    Raises:
        InvalidInput: ``options`` ask for re-measurements or samples and the dialect is not a
            :class:`~lorien.dialects.roles.Measurer` (and, for samples, a
            :class:`~lorien.dialects.roles.Proposer`); asked before anything is measured.
        TuningError: the search or the sampling failed.
    """
    sampling = options.random_samples or options.neighbour_samples
    measurer = require(dialect, Measurer) if options.remeasure or sampling else None
    proposer = require(dialect, Proposer) if sampling else None
    started = time.time()
    machine = host_machine() if options.rpc is None else None
    total = options.trials + options.random_samples + options.neighbour_samples
    outcome = None
    if options.trials > 0:
        outcome = dialect.tune(workload, target, options, on_trial)
        log = dataclasses.replace(outcome.log, machine=machine)
        again = suspects(log, options.remeasure) if options.remeasure else []
        if again:
            assert measurer is not None  # required above when options.remeasure
            outcome = _relabelled(outcome, remeasure(measurer, log, again, options))
        else:
            outcome = dataclasses.replace(outcome, log=log)
        if outcome.records and isinstance(dialect, OutputChecker):
            outcome = without_wrong_records(dialect, outcome)
    if proposer is None or measurer is None:  # no samples
        assert outcome is not None  # check_budget: no samples means trials > 0
        return outcome

    def robust(log: TuningLog) -> TuningLog:
        assert measurer is not None
        log = dataclasses.replace(log, machine=machine)
        return remeasure(measurer, log, suspects(log, 0) if options.remeasure else [], options)

    samples = robust(measure_random_samples(proposer, measurer, workload, target, options.random_samples,
                                            options)) if options.random_samples else None
    adapted = robust(measure_neighbour_samples(proposer, measurer, workload, target, neighbours,
                                               options.neighbour_samples, options)) \
        if options.neighbour_samples else None
    if on_trial is not None:
        on_trial(total, total)
    if outcome is None:
        first, rest = (samples, adapted) if samples is not None else (adapted, None)
        assert first is not None  # check_budget: no search means samples of one kind or both
        return TuneOutcome(records=(), log=first, seconds=time.time() - started, neighbours=rest)
    return dataclasses.replace(outcome, samples=samples, neighbours=adapted, seconds=time.time() - started)
