"""Measuring jobs: the queue's short tier, run by workers with a cost model.

A measuring job asks for a ``measured`` answer for one kernel on one target: the cost model's best
candidates (and schedules tuned for the kernel on other targets of its kind), then a local search
around the fastest, ``spec.trials`` candidates measured in all. It is a
:class:`~lorien.predictor.budget.BudgetedPredictor` delivery of one kernel capped by a count of
candidates instead of a model's time budget; the fastest is committed as soon as it is found. A
kernel already tuned or measured on the target costs nothing.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from lorien.dialects import RPCEndpoint
from lorien.jobs import JobResult, JobSpec
from lorien.predictor.budget import BudgetedPredictor, BudgetOptions
from lorien.predictor.predictor import ZeroShotPredictor
from lorien.records import Workload, WorkloadUse

#: The longest a measuring job runs, whatever its count of candidates.
MEASURING_JOB_LIMIT_S = 600.0


class JobMeasurer:
    """Runs measuring jobs (``spec.tier == "measure"``) for a worker.

    Args:
        predictors: the predictor of a dialect, by name (called once per dialect, on its first
            job: loading a cost model takes seconds).
        rpc: measure on the devices of this RPC tracker instead of this machine.
        options: how candidates are chosen and measured (``max_measured`` comes from each job).
        time_limit_s: the longest one job runs.

    Thread safety: one job at a time (a worker runs one job at a time).
    """

    def __init__(self, predictors: Callable[[str], ZeroShotPredictor], *, rpc: RPCEndpoint | None = None,
                 options: BudgetOptions | None = None, time_limit_s: float = MEASURING_JOB_LIMIT_S) -> None:
        self._predictors = predictors
        self._loaded: dict[str, ZeroShotPredictor] = {}
        self.options = dataclasses.replace(options or BudgetOptions(), rpc=rpc)
        self.time_limit_s = time_limit_s

    def __call__(self, workload: Workload, spec: JobSpec, should_stop: Callable[[], bool]) -> JobResult:
        """Measure up to ``spec.trials`` candidates of ``workload`` on ``spec.target`` and commit
        the fastest as a ``measured`` record (beside the instant answer, committed first).

        Raises:
            LorienError: the store failed, or the dialect proposed no usable candidate.
        """
        started = time.monotonic()
        if spec.dialect not in self._loaded:
            self._loaded[spec.dialect] = self._predictors(spec.dialect)
        options = dataclasses.replace(self.options, max_measured=spec.trials, seed=spec.seed)
        report = BudgetedPredictor(self._loaded[spec.dialect], options).deliver(
            [WorkloadUse(workload, 1)], spec.target, self.time_limit_s, should_stop=should_stop)
        kernel = report.kernels[0]
        measured = kernel.record.source in ("measured", "tuned")
        return JobResult(records=1 if kernel.record.source == "measured" and kernel.measured else 0,
                         measured=kernel.measured,
                         failed_measurements=kernel.measured - kernel.timed,
                         best_seconds=kernel.record.latency.mean if measured else None, log_ref=None,
                         seconds=time.monotonic() - started)
