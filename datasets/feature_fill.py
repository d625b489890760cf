"""Filling a feature cache on every core before a table is built from it.

Extracting a logged schedule's features takes about 12 ms on one core (TVM applies its trace and
walks the kernel), so featurising a data set of 95,000 measurements takes about 20 minutes on one
core; :func:`lorien.datasets.tabular.build_table` featurises one log at a time. Here the logs the
cache lacks are featurised first by worker processes, each log's rows kept in the cache as
:class:`~lorien.datasets.feature_cache.FeatureCache` keeps them, so the table is then built from
the cache alone. Workers start fresh (``spawn``: a forked copy of a process that runs TVM's
threads is not safe), each importing the dialect's compiler once (seconds), and die with the
process that started them.

A log whose features cannot be computed in a worker is left out of the cache; building the table
computes it again, in process, and reports what is wrong there.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from tqdm import tqdm

from lorien.children import die_with_parent
from lorien.datasets.feature_cache import FeatureCache
from lorien.dialects import Featurizer, get_dialect
from lorien.records import Target, Workload
from lorien.tuning_log import TuningLog

#: Fewer logs missing than this are featurised in process: starting workers costs seconds.
MIN_LOGS_FOR_WORKERS = 64

_Task = tuple[str, str, str, Workload, Target, list[str]]


def fill_feature_cache(dialect: Featurizer, tuning_logs: Sequence[TuningLog], cache: FeatureCache,
                       workers: int, progress: bool = False, min_logs: int = MIN_LOGS_FOR_WORKERS) -> int:
    """Featurise, on ``workers`` processes, each log of ``tuning_logs`` whose rows ``cache``
    lacks (the dialect's schedule features), and keep them there. Nothing happens with fewer than
    two workers or fewer than ``min_logs`` logs missing. Returns how many logs were featurised
    here.
    """
    missing = [log for log in tuning_logs
               if log.measurements and not cache.has(log.workload, log.target, _schedules(log))]
    if workers < 2 or len(missing) < max(1, min_logs):
        return 0
    tasks: list[_Task] = [(dialect.name, str(cache.folder), cache.recipe, log.workload, log.target,
                           _schedules(log)) for log in missing]
    done = 0
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=die_with_parent) as pool:
        for featurised in tqdm(pool.map(_featurise, tasks, chunksize=4), total=len(tasks),
                               desc="features", unit="log", disable=not progress, leave=False):
            done += featurised
    return done


def _schedules(log: TuningLog) -> list[str]:
    return [m.schedule for m in log.measurements]


def _featurise(task: _Task) -> bool:
    """In a worker: one log's rows computed and kept; False when they could not be computed."""
    dialect_name, folder, recipe, workload, target, schedules = task
    dialect = get_dialect(dialect_name, Featurizer)
    try:
        FeatureCache(Path(folder), recipe).rows(
            workload, target, schedules, lambda: dialect.schedule_features(workload, target, schedules))
    except Exception:  # computed again when the table is built, which reports it
        return False
    return True
