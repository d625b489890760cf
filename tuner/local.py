"""Tuning many workloads one after another on this machine, committing as it goes.

Each finished workload is committed (log first, then records pointing at it) before the next
starts, so an interrupted run loses at most the workload in progress, and running the same command
again skips what is already tuned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from tqdm import tqdm

from lorien.dialects.base import TuneOptions, TuneOutcome
from lorien.dialects.roles import Tuner
from lorien.errors import InvalidInput, LorienError
from lorien.logstore import LogStore, log_key
from lorien.records import ScheduleRecord, Target, Workload
from lorien.store.base import ScheduleStore
from lorien.tuner.sampling import NeighbourLender, run_tuning


@dataclass
class TuneReport:
    """What a tuning run did with each workload."""

    tuned: list[tuple[Workload, TuneOutcome]] = field(default_factory=list)
    skipped: list[Workload] = field(default_factory=list)
    failed: list[tuple[Workload, str]] = field(default_factory=list)


def is_tuned(store: ScheduleStore, workload: Workload, target: Target, build: str) -> bool:
    """Whether the store holds a tuned record of ``workload`` for this exact target and build."""
    return bool(store.top_k(workload.key, target, 1, build=build, source="tuned"))


def commit_outcome(
    store: ScheduleStore, logs: LogStore, outcome: TuneOutcome
) -> list[ScheduleRecord]:
    """Store a tuning outcome: the full logs first (the random and neighbour samples', then the
    search's), then the records that refer to the search's, so no record ever points at a missing
    log. Returns the committed records."""
    for side in outcome.side_logs:
        logs.put(log_key(side.workload.dialect, side.workload.key, data := side.to_bytes()), data)
    log = outcome.log
    ref = logs.put(log_key(log.workload.dialect, log.workload.key, data := log.to_bytes()), data)
    records = [dataclasses.replace(r, log_ref=ref) for r in outcome.records]
    store.commit(records)
    return records


def tune_workloads(
    dialect: Tuner,
    workloads: Sequence[Workload],
    target: Target,
    store: ScheduleStore,
    logs: LogStore,
    options: TuneOptions,
    *,
    force: bool = False,
    progress: bool = True,
    neighbours: NeighbourLender | None = None,
) -> TuneReport:
    """Tune every workload not yet tuned for ``target`` with this dialect's build; ``neighbours``
    lends the neighbour samples' seeds (:attr:`TuneOptions.neighbour_samples`).

    A workload whose tuning fails is reported in :attr:`TuneReport.failed` and the run goes on.

    Raises:
        InvalidInput: neighbour samples asked for without ``neighbours``.
    """
    if options.neighbour_samples and neighbours is None:
        raise InvalidInput("neighbour samples need a lender of neighbours' schedules")
    store.put_workloads(workloads)
    build = dialect.build_id()
    report = TuneReport()
    todo = []
    for workload in workloads:
        if not force and is_tuned(store, workload, target, build):
            report.skipped.append(workload)
        else:
            todo.append(workload)
    outer = tqdm(todo, desc="workloads", unit="wl", disable=not progress, dynamic_ncols=True)
    for workload in outer:
        outer.set_postfix_str(workload.name[:60])
        trials = tqdm(total=options.trials, desc="  trials", unit="trial", leave=False,
                      disable=not progress, dynamic_ncols=True)

        def on_trial(done: int, total: int, bar: tqdm = trials) -> None:
            bar.total = total
            bar.update(done - bar.n)

        try:
            seeds = neighbours(workload, target, options.neighbour_samples) \
                if neighbours is not None and options.neighbour_samples else ()
            outcome = run_tuning(dialect, workload, target, options, on_trial, seeds)
            commit_outcome(store, logs, outcome)
        except LorienError as exc:
            report.failed.append((workload, str(exc)))
            continue
        finally:
            trials.close()
        report.tuned.append((workload, outcome))
    return report
