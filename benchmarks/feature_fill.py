"""Featurising tuning logs on every core against one log at a time: what ``lorien train`` waits
for on a fresh machine (an empty feature cache).

The first ``--logs`` logs of the shipped data set (in key order) are featurised into two empty
caches: by :func:`lorien.datasets.tabular.build_table` alone (one log at a time, in process, as
before), and by :func:`lorien.datasets.feature_fill.fill_feature_cache` on ``--workers``
processes followed by ``build_table`` reading the cache back (what ``load_training_data`` does).
Both tables are checked to be equal; the times are printed side by side, with their ratio.

    python benchmarks/feature_fill.py --logs 600
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lorien.datasets.feature_cache import FeatureCache
from lorien.datasets.feature_fill import fill_feature_cache
from lorien.datasets.seed import tuning_logs_dir
from lorien.datasets.tabular import build_table
from lorien.dialects import Featurizer, get_dialect
from lorien.logstore import LocalLogStore, read_logs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", type=int, default=600, help="logs of the shipped data set to featurise")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    logs = [log for log in read_logs(LocalLogStore(tuning_logs_dir()), prefix="tvm/")[0] if log.measurements]
    logs = sorted(logs, key=lambda log: (log.workload.key, log.started_at))[:args.logs]
    dialect = get_dialect("tvm", Featurizer)
    rows = sum(len(log.measurements) for log in logs)
    with tempfile.TemporaryDirectory(prefix="lorien-feature-fill-") as scratch:
        started = time.perf_counter()
        alone = build_table(dialect, logs, cache=FeatureCache(Path(scratch) / "alone", "features"))
        alone_s = time.perf_counter() - started
        started = time.perf_counter()
        cache = FeatureCache(Path(scratch) / "filled", "features")
        filled_logs = fill_feature_cache(dialect, logs, cache, args.workers)
        filled = build_table(dialect, logs, cache=cache)
        filled_s = time.perf_counter() - started
    assert np.array_equal(alone.features, filled.features), "the two tables differ"
    print(f"{len(logs)} logs, {rows} measurements, {os.cpu_count()} cores")
    print(f"{'featurised':<34} {'seconds':>8} {'ms a row':>9} {'vs':>6}")
    print(f"{'one log at a time, in process':<34} {alone_s:8.1f} {1e3 * alone_s / rows:9.2f} {1.0:5.2f}x")
    print(f"{f'{args.workers} workers first ({filled_logs} logs)':<34} {filled_s:8.1f} "
          f"{1e3 * filled_s / rows:9.2f} {alone_s / filled_s:5.2f}x faster")


if __name__ == "__main__":
    main()
