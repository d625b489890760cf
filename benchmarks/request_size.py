"""What a compiler hook sends to the service for a whole model: request bytes and round trips of
``ServiceClient.schedules`` with every kernel sent whole (the protocol until keys came first)
against keys first, side by side in one run, with the client's wall time (median of ``--repeat``).

The service is ``lorien serve --workers 0 --no-refill`` on a fresh SQLite file seeded with the
data set (so the zoo's kernels are known to it), as ``benchmarks/service_latency.py`` starts it.
The bytes are counted by an httpx request hook: what went over the wire, not an estimate. The
service knows every kernel here (the common case: a model built again, or one of the data set's);
a kernel it does not know costs keys first one more request, with that kernel whole
(``tests/serving/test_serve_process.py`` checks both). Nothing is predicted (``predict: false``),
so the time is the protocol's and the look-ups'.

    python benchmarks/request_size.py --networks resnet18 bert_base_s128 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from service_latency import served

from lorien.datasets.zoo import load_model
from lorien.dialects import get_dialect
from lorien.records import Workload
from lorien.serving.client import ServiceClient


def fetch(url: str, target: Any, workloads: list[Workload], keys_first: bool) -> tuple[int, int, float, list]:
    """One ``schedules`` call: bytes sent, requests, seconds, the answers."""
    sent: list[int] = []
    with ServiceClient(url) as client:
        client._http.event_hooks["request"].append(lambda request: sent.append(len(request.content)))
        started = time.perf_counter()
        answers = client.schedules(target, workloads, predict=False, keys_first=keys_first)
        return sum(sent), len(sent), time.perf_counter() - started, answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", default=["resnet18"])
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per case (median)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    dialect = get_dialect("tvm")
    rows = []
    with tempfile.TemporaryDirectory(prefix="lorien-request-size-") as tmp:
        folder = Path(tmp)
        with served(folder, f"sqlite:///{folder / 's.db'}") as (url, _):
            for network in args.networks:
                target = dialect.parse_target("host")
                workloads = list({u.workload.key: u.workload
                                  for u in dialect.extract(load_model(network), target)}.values())
                for keys_first in (False, True):
                    figures = [fetch(url, target, workloads, keys_first) for _ in range(args.repeat)]
                    nbytes, requests, _, answers = figures[-1]
                    statuses = {s: sum(a["status"] == s for a in answers) for s in
                                ("tuned", "measured", "predicted", "missing", "unknown")}
                    rows.append({"network": network, "kernels": len(workloads),
                                 "protocol": "keys first" if keys_first else "whole workloads",
                                 "bytes": nbytes, "requests": requests,
                                 "median_ms": 1e3 * statistics.median(f[2] for f in figures),
                                 "answers": {k: v for k, v in statuses.items() if v}})
    print(json.dumps(rows, indent=1))
    print(f"\n{'network':16s} {'kernels':>7s} {'protocol':16s} {'bytes':>10s} {'ratio':>7s} {'requests':>8s} "
          f"{'median ms':>9s} {'ratio':>6s}  answers")
    for row in rows:
        base = next(r for r in rows if r["network"] == row["network"] and r["protocol"] == "whole workloads")
        print(f"{row['network']:16s} {row['kernels']:7d} {row['protocol']:16s} {row['bytes']:10,d} "
              f"{row['bytes'] / base['bytes']:7.4f} {row['requests']:8d} {row['median_ms']:9.1f} "
              f"{row['median_ms'] / base['median_ms']:6.2f}  {row['answers']}")


if __name__ == "__main__":
    main()
