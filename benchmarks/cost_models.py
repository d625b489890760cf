"""Cost models side by side on held-out networks: ranking quality, training time, scoring speed.

For each model type, every network of the campaign manifest is held out in turn (its whole model
family left out of training) and the model's ranking of that network's schedules is scored; the
table shows the means over held-out networks, weighted by workload. Also printed: the time to fit
on every row, and to score 1,000 candidate schedules (features already extracted).

    python benchmarks/cost_models.py --logs file://$PWD/datasets/tuning_logs
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from lorien.config import open_logs
from lorien.datasets.campaign import read_networks
from lorien.datasets.tabular import build_table, read_logs
from lorien.dialects import get_dialect
from lorien.training.evaluation import leave_network_out
from lorien.training.pipeline import MODEL_TYPES

METRICS = ("top1", "top5", "ndcg@5", "pairwise_accuracy")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logs", required=True)
    parser.add_argument("--model-types", nargs="+", default=list(MODEL_TYPES))
    parser.add_argument("--time-limit", type=float, default=60.0, help="AutoGluon's per fit")
    args = parser.parse_args()

    logs = open_logs(args.logs)
    tuning_logs, skipped_logs, skipped_lines = read_logs(logs, progress=True)
    dialect = get_dialect(tuning_logs[0].workload.dialect)
    started = time.perf_counter()
    table = build_table(dialect, tuning_logs, skipped_logs=skipped_logs, skipped_lines=skipped_lines,
                        progress=True)
    feature_s = time.perf_counter() - started
    networks_of = read_networks(logs)
    logged = set(table.workload_keys)
    networks = sorted({n.split("@")[0] for key, names in networks_of.items() if key in logged
                       for n in names})
    print(f"{len(table)} schedules ({int(table.failed.sum())} failed) of {len(table.workloads)} "
          f"workloads; {len(networks)} models held out in turn (all batches); features in {feature_s:.1f} s")
    header = f"{'model':<12}" + "".join(f"{m:>19}" for m in METRICS) + f"{'fit s':>9}{'score 1k ms':>13}"
    print(header)
    candidates = table.features[np.resize(np.arange(len(table)), 1000)]
    for model_type in args.model_types:
        def make(model_type: str = model_type) -> object:
            return MODEL_TYPES[model_type](args.time_limit)

        results = leave_network_out(table, networks_of, make, networks)
        weights = np.array([r.test_workloads for r in results], dtype=float)
        means = {m: float(np.average([r.metrics[m] for r in results], weights=weights)) for m in METRICS}
        started = time.perf_counter()
        model = make().fit(table.features, table.score, group=table.workload_keys)  # type: ignore[attr-defined]
        fit_s = time.perf_counter() - started
        model.predict(candidates[:10])
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            model.predict(candidates)
            timings.append(time.perf_counter() - started)
        print(f"{model_type:<12}" + "".join(f"{means[m]:>19.3f}" for m in METRICS)
              + f"{fit_s:>9.1f}{np.median(timings) * 1e3:>13.1f}")
    print("targets to beat (TenSet's pre-trained XGBoost on its CPU data): top1 0.83, top5 0.91")


if __name__ == "__main__":
    main()
