"""More search where a model's time goes: a network built with the data set's schedules (the
campaign's 64 trials per kernel), then its heaviest kernels searched again with more trials, and
the network rebuilt and timed, beside PyTorch eager timed alone. As ratios in one run.

    python benchmarks/heavy_kernels.py --model resnet18 --search warm --share 0.8 --trials 192

A kernel's weight in the model is its best measured latency times how often the model runs it;
the heaviest kernels that together hold ``--share`` of the model's kernel time are searched again
(warm, ``--trials`` trials each, so they end with 64 + TRIALS), and the store keeps the best of
both searches. The extra searches go to ``--extra-logs`` (never into the data set, whose kernels
all have the same budget), and a kernel already searched there is not searched again: a run
stopped half way resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from lorien.config import open_logs, open_store
from lorien.datasets.campaign import search_logs
from lorien.datasets.eager import time_torch_eager_alone
from lorien.datasets.seed import seed_from_logs, tuning_logs_dir
from lorien.datasets.zoo import load_model
from lorien.dialects import Lowering, TuneOptions, get_dialect
from lorien.logstore import LocalLogStore, read_logs
from lorien.lookup import find_schedule
from lorien.tuner import tune_workloads


def kernel_times(dialect: Any, store: Any, target: Any, uses: list[Any]) -> list[tuple[Any, float, float]]:
    """``(use, best latency in s, share of the model's kernel time)``, heaviest first, for the
    kernels the store has a schedule for, looked up as the build looks them up (a prepacked
    kernel's plain twin competes)."""
    timed = [(use, found.record.latency.median) for use in uses
             if (found := find_schedule(store, use.workload.key, target, dialect.build_id(),
                                        dialect.equivalent_keys(use.workload))) is not None]
    total = sum(latency * use.weight for use, latency in timed)
    rows = [(use, latency, latency * use.weight / total) for use, latency in timed]
    return sorted(rows, key=lambda row: -row[2])


def heaviest(rows: list[tuple[Any, float, float]], share: float, most: int) -> list[Any]:
    """The fewest heaviest kernels holding at least ``share`` of the time (at most ``most``)."""
    chosen, held = [], 0.0
    for use, _latency, part in rows:
        if held >= share or len(chosen) >= most:
            break
        chosen.append(use)
        held += part
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--lowering", choices=("plain", "prepack"), default="prepack")
    parser.add_argument("--search", choices=("any", "cold", "warm"), default="warm",
                        help="the data set's searches the first build takes its schedules from")
    parser.add_argument("--share", type=float, default=0.8,
                        help="search again the heaviest kernels holding this share of the time")
    parser.add_argument("--max-kernels", type=int, default=8)
    parser.add_argument("--trials", type=int, default=192, help="trials of each extra search")
    parser.add_argument("--logs", type=Path, default=tuning_logs_dir(), help="the data set's logs")
    parser.add_argument("--extra-logs", type=Path, default=tuning_logs_dir().parent / "heavy_kernel_logs",
                        help="where the extra searches go (resumable)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each build")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    dialect = get_dialect("tvm")
    target = dialect.parse_target("host")
    lowering = Lowering(prepack=args.lowering == "prepack")
    model = dialect.load_model(load_model(args.model))
    uses = [u for u in dialect.extract(model, target, lowering) if u.workload.flops > 0]
    args.extra_logs.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/lorien.db") as store:
        seed_from_logs(store, search_logs(read_logs(LocalLogStore(args.logs))[0], args.search))
        before = kernel_times(dialect, store, target, uses)
        chosen = heaviest(before, args.share, args.max_kernels)
        first = dialect.compile(model, target, store, lowering)
        first_ms = dialect.time(first, args.repeat).median * 1e3

        extra = read_logs(LocalLogStore(args.extra_logs))[0]
        searched = {log.workload.key for log in extra}
        todo = [use.workload for use in chosen if use.workload.key not in searched]
        print(f"{len(chosen)} heaviest kernels hold {sum(r[2] for r in before[:len(chosen)]):.0%} of "
              f"the kernel time; searching {len(todo)} of them again at {args.trials} trials", flush=True)
        tune_workloads(dialect, todo, target, store, open_logs(f"file://{args.extra_logs.resolve()}"),
                       TuneOptions(trials=args.trials, warm_start=True), force=True)
        extra = [log for log in read_logs(LocalLogStore(args.extra_logs))[0]
                 if log.workload.key in {use.workload.key for use in chosen}]
        seed_from_logs(store, extra)  # the store keeps the best of both searches
        after = {use.workload.key: latency for use, latency, _ in kernel_times(dialect, store, target, uses)}
        second = dialect.compile(model, target, store, lowering)
        second_ms = dialect.time(second, args.repeat).median * 1e3
    eager_ms = time_torch_eager_alone(args.model, repeat=args.repeat).median * 1e3
    extra_s = sum(log.finished_at - log.started_at for log in extra)
    kernels_ms = sum(latency * use.weight for use, latency, _ in before) * 1e3

    print(f"\n{args.model}, {args.lowering}; first build from {args.search} searches; target "
          f"{target.canonical}; medians of {args.repeat} runs\n")
    print("kernel | weight | share | best at 64 trials | after the extra search | faster")
    for use, latency, part in before[:len(chosen)]:
        now = after[use.workload.key]
        print(f"{use.workload.name[:60]} | {use.weight} | {part:.0%} | {latency * 1e3:.2f} ms | "
              f"{now * 1e3:.2f} ms | {latency / now:.2f}x")
    print(f"\nthe kernels' best times, as measured alone while tuning, add up to {kernels_ms:.1f} ms "
          f"({len(before)} of {len(uses)} kernels scheduled)")
    print("\nbuild | latency | vs PyTorch eager (alone)")
    print(f"64 trials per kernel | {first_ms:.1f} ms | {first_ms / eager_ms:.2f}x")
    print(f"+{args.trials} on the {len(chosen)} heaviest | {second_ms:.1f} ms ({first_ms / second_ms:.2f}x "
          f"faster) | {second_ms / eager_ms:.2f}x")
    print(f"PyTorch eager | {eager_ms:.1f} ms | 1.00x")
    print(f"extra tuning: {extra_s / 60:.0f} min")
    if args.json:
        args.json.write_text(json.dumps({
            "model": args.model, "lowering": args.lowering, "search": args.search,
            "kernels": [{"name": use.workload.name, "weight": use.weight, "share": part,
                         "before_ms": latency * 1e3, "after_ms": after[use.workload.key] * 1e3}
                        for use, latency, part in before[:len(chosen)]],
            "kernels_sum_ms": kernels_ms, "first_ms": first_ms, "second_ms": second_ms, "eager_ms": eager_ms,
            "extra_tuning_s": extra_s}, indent=2))


if __name__ == "__main__":
    main()
