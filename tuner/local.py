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
from lorien.errors import LorienError
from lorien.logstore import LogStore, log_key
from lorien.records import ScheduleRecord, Target, Workload
from lorien.store.base import ScheduleStore
from lorien.tuner.sampling import run_tuning


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
    """Store a tuning outcome: the full logs first (the random samples', then the search's), then
    the records that refer to the search's, so no record ever points at a missing log. Returns
    the committed records."""
    if outcome.samples is not None:
        samples = outcome.samples
        logs.put(log_key(samples.workload.dialect, samples.workload.key, data := samples.to_bytes()), data)
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
) -> TuneReport:
    """Tune every workload not yet tuned for ``target`` with this dialect's build.

    A workload whose tuning fails is reported in :attr:`TuneReport.failed` and the run goes on.
    """
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
            outcome = run_tuning(dialect, workload, target, options, on_trial)
            commit_outcome(store, logs, outcome)
        except LorienError as exc:
            report.failed.append((workload, str(exc)))
            continue
        finally:
            trials.close()
        report.tuned.append((workload, outcome))
    return report
